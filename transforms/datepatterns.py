"""htmldate's whole-page date patterns, searched in a fraction of the time, with the same results.

When a page's markup gives htmldate no date, its extensive search (`htmldate.core.search_page`)
runs `findall` over the whole serialised page with patterns shaped `\\D(<date>)\\D`: one
non-digit, then a date that starts with a digit. A pattern that starts with a class matching
almost every character gives `re` nothing to skip ahead with, so its engine starts at every
position of the page: 1.2-2.8 ms a pattern on the bench pages that reach that search (67 KB of
markup on average), ~1.1 ms an HTML page of the bench corpus in all.

Every match of these patterns has an ASCII digit as its second character. So
`DigitSecondPattern.findall` searches for a digit at which the pattern matches one character
earlier (`[0-9](?<=(?=PATTERN)[\\s\\S][0-9])`: a lookbehind holding the pattern as a
lookahead). `re` finds candidate digits with its fast first-character scan and runs the pattern
only there; the pattern's own `match` at the position found gives what `findall` would find
there, and the search goes on where `findall` would. No match can be missed: `findall` takes
the leftmost match from where it stands, and a match at position p means a candidate digit at
p + 1. 0.4 ms a pattern on the same pages, the same lists (README, "Throughput and memory").

Only patterns whose text is in VETTED are replaced (the second-character property was read off
each): a release that changes a pattern leaves it as it is. tests/test_datepatterns.py
compares the lists with the patterns' own on generated and real pages.
"""
from __future__ import annotations

import re
from types import ModuleType
from typing import Any

# htmldate 1.11's patterns of `search_page` that start with a non-digit and then a digit.
VETTED = frozenset({
    r"\D([0-3]?[0-9]/[0-1]?[0-9]/[0129][0-9]|[0-3][0-9]\.[01][0-9]\.[0129][0-9])\D",
    r"\D([0-3]?[0-9][/.-][0-1]?[0-9][/.-][0-9]{4})\D",
    r"\D([0-9]{4}[/.-][0-9]{2}[/.-][0-9]{2})\D",
    r"(\D19[0-9]{2}[01][0-9][0-3][0-9]\D|\D20[0-9]{2}[01][0-9][0-3][0-9]\D)",
    r"\D([12][0-9]{3}[/.-](?:1[0-2]|0[1-9]))\D",
    r"\D([0-1]?[0-9][/.-][12][0-9]{3})\D",
    r"(?<!w3.org)\D((?:199[0-9]|20[0-3][0-9]))\D",
})


class DigitSecondPattern:
    """A compiled pattern every match of which has an ASCII digit as its second character:
    `findall` gives the pattern's own list, faster; every other attribute is the pattern's."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.original = pattern
        # [\s\S]: the character before the digit may be a newline, which "." would not match
        self._candidate = re.compile(r"[0-9](?<=(?=" + pattern.pattern + r")[\s\S][0-9])", pattern.flags)

    def findall(self, string: str, *bounds: Any) -> list[Any]:
        if bounds or not isinstance(string, str):
            return self.original.findall(string, *bounds)
        found = []
        start = 0  # where findall would search from
        while True:
            candidate = self._candidate.search(string, start + 1)
            if candidate is None:
                return found
            match = self.original.match(string, candidate.start() - 1)
            if match is None or match.end() <= match.start():  # not this module's kind of pattern
                return self.original.findall(string)
            found.append(_findall_item(match, self.original.groups))
            start = match.end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def __repr__(self) -> str:
        return f"DigitSecondPattern({self.original!r})"


def _findall_item(match: re.Match[str], groups: int) -> Any:
    """What `findall` lists for a match: the match, its one group, or the tuple of its groups
    ("" for a group that took no part)."""
    if groups == 0:
        return match.group(0)
    if groups == 1:
        return match.group(1) or ""
    return match.groups("")


def speed_up_date_patterns(module: ModuleType) -> int:
    """Replace the module's VETTED patterns (attributes, and members of tuple or list
    attributes) with DigitSecondPatterns, once; returns how many attributes changed."""
    changed = 0
    for name, value in list(vars(module).items()):
        if isinstance(value, re.Pattern) and value.pattern in VETTED:
            setattr(module, name, DigitSecondPattern(value))
            changed += 1
        elif isinstance(value, (tuple, list)) and any(
                isinstance(item, re.Pattern) and item.pattern in VETTED for item in value):
            items = [DigitSecondPattern(item) if isinstance(item, re.Pattern) and item.pattern in VETTED else item
                     for item in value]
            setattr(module, name, type(value)(items))
            changed += 1
    return changed
