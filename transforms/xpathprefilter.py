"""trafilatura's XPath expressions, made cheaper to evaluate without changing what they select.

trafilatura prunes and searches the parsed page with XPath expressions that test `@id` and
`@class` against regular expressions: `re:test(@class, 'author|byline|...')`. lxml runs each
such test as a call back into Python, for every element the expression reaches, and on the
benchmark pages these tests were ~38% of an HTML page's cleaning time (measured, see README).
Most elements' attributes cannot match, because each alternative of the pattern needs some
plain substring: `author-?name|AuthorName` cannot match a class without `author` or
`AuthorName` in it. So each test is rewritten as

    ((contains(@class, 'author') or contains(@class, 'AuthorName')) and re:test(@class, ...))

which libxml2 evaluates natively, calling into Python only for the few elements whose
attribute holds one of those substrings. The regular expression still decides: the prefilter
only skips calls whose answer is already known to be false, so the expression selects the
same elements in the same order. When a pattern needs too many substrings to be cheaper, the
test is only guarded by the attribute's presence (a call skipped when there is no attribute),
and only when the pattern cannot match an empty string.

Both `contains` and lxml's `re:test` read a node-set argument (`@id|@class`) as the string
value of its first node, so the rewrite keeps trafilatura's first-attribute-only semantics.

The expressions are trafilatura's own, read from `trafilatura.xpaths` when this module is
used, so a release that changes them is rewritten the same way; one this module cannot parse
or compile is left as it is. `tests/test_xpathprefilter.py` checks on every benchmark page
that each rewritten expression selects exactly what the original does.
"""
from __future__ import annotations

import contextlib
import re
from types import ModuleType
from typing import Iterator

from lxml.etree import XPath, XPathSyntaxError

try:  # the parser behind `re.compile`; named sre_parse before Python 3.11
    import re._constants as _sre
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

REGEXP_NS = "http://exslt.org/regular-expressions"
# Past this many substrings, their `contains` tests (each reads the attribute anew) cost about
# what the one call into Python does. Measured over trafilatura's 20 regex-testing expressions
# on the 912 aeb-dev and wcxb-dev pages: 47.1 ms a page as they are; 33.5, 33.0, 32.5, 32.6 ms
# with at most 2, 4, 6, 10 substrings prefiltered; 34.2 with 20, and 40.8 with no limit (its
# 60-token alternations then cost more than they save).
MAX_PREFILTER_SUBSTRINGS = 6

# re:test(@a, 'pattern') or re:test(@a|@b, 'pattern', 'flags'); XPath string literals have no
# escapes, so the quoted text is exactly the pattern lxml compiles.
_REGEX_TEST = re.compile(
    r"re:test\(\s*(?P<arg>@[\w-]+(?:\s*\|\s*@[\w-]+)*)\s*,\s*'(?P<pattern>[^']*)'"
    r"\s*(?:,\s*'(?P<flags>[^']*)'\s*)?\)")
_REPEATS = tuple(op for op in (getattr(_sre, "MAX_REPEAT", None), getattr(_sre, "MIN_REPEAT", None),
                               getattr(_sre, "POSSESSIVE_REPEAT", None)) if op is not None)


def required_substrings(pattern: str, flags: str = "") -> list[str] | None:
    """Plain strings of which every match of `pattern` contains at least one, sorted; None when
    no such set is found (case-insensitive flags, a pattern that does not parse, an alternative
    with no fixed text such as `\\d+`)."""
    if flags:  # 'i': Python folds case beyond ASCII ('ſ' matches 's'); not worth modelling
        return None
    try:
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, ValueError):
        return None
    if parsed.state.flags & (_sre.SRE_FLAG_IGNORECASE | _sre.SRE_FLAG_VERBOSE):
        return None
    found = _required(list(parsed))
    if not found:
        return None
    # a string holding another of the set adds nothing: containing it means containing that one
    return sorted(s for s in found if not any(t != s and t in s for t in found))


def _required(items: list) -> frozenset[str] | None:
    """A set of strings one of which every match of the parsed sequence `items` contains."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, argument in items:
        if op is _sre.LITERAL:
            run.append(chr(argument))
            continue
        end_run()
        if op is _sre.SUBPATTERN:
            _group, add_flags, del_flags, sub_items = argument
            if not add_flags and not del_flags:
                candidates.append(_required(list(sub_items)))
        elif op is _sre.BRANCH:
            alternatives = [_required(list(branch)) for branch in argument[1]]
            if all(alternatives):
                candidates.append(frozenset().union(*alternatives))
        elif op in _REPEATS:
            minimum, _maximum, sub_items = argument
            if minimum >= 1:
                candidates.append(_required(list(sub_items)))
        # anything else (classes, anchors, lookarounds, back references) needs no fixed text
    end_run()
    usable = [candidate for candidate in candidates if candidate]
    if not usable:
        return None
    # the set whose shortest string is longest filters best; then the smaller set
    return max(usable, key=lambda candidate: (min(map(len, candidate)), -len(candidate)))


def prefilter_regex_tests(source: str, max_substrings: int = MAX_PREFILTER_SUBSTRINGS) -> str:
    """`source` with each `re:test` on attributes put behind a native test that is false
    only where the regular expression is false too (see the module docstring)."""

    def rewrite(match: re.Match) -> str:
        arg, pattern, flags = match["arg"], match["pattern"], match["flags"] or ""
        test = match.group(0)
        substrings = required_substrings(pattern, flags)
        if substrings and len(substrings) <= max_substrings and not any("'" in s for s in substrings):
            prefilter = " or ".join(f"contains({arg}, '{substring}')" for substring in substrings)
            return f"(({prefilter}) and {test})"
        try:
            matches_empty = re.search(pattern, "", re.IGNORECASE if "i" in flags else 0) is not None
        except re.error:
            return test
        # no attribute reads as '', which a pattern that cannot match '' never matches
        return test if matches_empty else f"(({arg}) and {test})"

    return _REGEX_TEST.sub(rewrite, source)


# (module, name of the list, index) -> the XPath trafilatura built, for tests and for undoing
_ORIGINALS: dict[tuple[str, str, int], XPath] = {}


def prefilter_module_xpaths(module: ModuleType) -> int:
    """Rewrite, in place, the regex-testing XPaths in the module's lists of XPaths (how
    trafilatura keeps them; its other modules hold the same list objects, so they see the
    change). Idempotent; returns how many expressions are rewritten."""
    rewritten = 0
    for name, value in vars(module).items():
        if not (isinstance(value, list) and value and all(isinstance(item, XPath) for item in value)):
            continue
        for index, expression in enumerate(value):
            key = (module.__name__, name, index)
            original = _ORIGINALS.get(key, expression)
            source = prefilter_regex_tests(original.path)
            if source == original.path or source == expression.path:
                continue
            try:
                # trafilatura builds these with the regex namespace only (lxml's defaults else)
                value[index] = XPath(source, namespaces={"re": REGEXP_NS})
            except XPathSyntaxError:
                continue
            _ORIGINALS[key] = original
            rewritten += 1
    return rewritten


@contextlib.contextmanager
def original_xpaths() -> Iterator[None]:
    """Run the block with trafilatura's own expressions (to compare against), then rewrite again."""
    import importlib

    module_names = {module_name for module_name, _, _ in _ORIGINALS}
    for (module_name, name, index), original in _ORIGINALS.items():
        getattr(importlib.import_module(module_name), name)[index] = original
    try:
        yield
    finally:
        for module_name in sorted(module_names):
            prefilter_module_xpaths(importlib.import_module(module_name))


def rewritten_xpaths() -> dict[tuple[str, str, int], tuple[XPath, XPath]]:
    """(module, list name, index) -> (trafilatura's expression, the one in use)."""
    import importlib

    return {key: (original, getattr(importlib.import_module(key[0]), key[1])[key[2]])
            for key, original in _ORIGINALS.items()}
