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

Then the steps that pick elements by name, `.//*[self::div or self::section][...]`, become a
union, `(.//div|.//section)[...]`, where that selects the same (`union_name_tests`): libxml2
evaluates each `self::` test as a location step on every element, while `.//div` is a native
walk by name. This saved 15% of an HTML page's cleaning on the bench corpus (see README).

The expressions are trafilatura's own, read from `trafilatura.xpaths` when this module is
used, so a release that changes them is rewritten the same way; one whose rewrite does not
compile, or does not evaluate and select what the original does on a probe page (a namespace
prefix or extension function trafilatura passed when building it, which a rewrite built here
lacks), is left as it is. `tests/test_xpathprefilter.py` checks on every 8th benchmark page
(and a synthetic one) that each rewritten expression selects exactly what the original does.
"""
from __future__ import annotations

import contextlib
import re
import sys
import warnings
from types import ModuleType
from typing import Iterator

import lxml.html
from lxml.etree import XPath, XPathError

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
        with warnings.catch_warnings():  # FutureWarning on '[[', an error under -W error
            warnings.simplefilter("ignore")
            parsed = _sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - re.error, RecursionError...: no prefilter, never a failure
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
    only where the regular expression is false too (see the module docstring). Text inside
    the expression's own string literals is never rewritten."""
    literals = _literal_spans(source)

    def rewrite(match: re.Match) -> str:
        test = match.group(0)
        start = match.start()
        if (start > 0 and (source[start - 1].isalnum() or source[start - 1] in "_.-:")) \
                or any(first < start < end for first, end in literals):
            return test  # "myre:test(...)", or text inside a string literal
        arg, pattern, flags = match["arg"], match["pattern"], match["flags"] or ""
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


# `//*[self::a or self::div]`: a step that tests each element's name with `self::` steps.
_NAME_TESTS = re.compile(
    r"(?P<axis>\.?//)\*\[\s*(?P<names>self::[A-Za-z][\w.-]*(?:\s+or\s+self::[A-Za-z][\w.-]*)*)\s*\]")
# Functions whose result is a boolean, so a predicate that is one call to them is a filter.
_BOOLEAN_FUNCTIONS = ("contains", "starts-with", "re:test", "not", "boolean", "true", "false")


def union_name_tests(source: str) -> str:
    """`source` with each step `X//*[self::a or self::b][P]...` that starts a path written as
    `(X//a|X//b)[P]...`: libxml2 walks the tree once per name natively, instead of evaluating
    each `self::` test as a location step on every element (about half the cost of many of
    trafilatura's expressions, measured in the README).

    Only where both select the same nodes in the same order: the step starts the expression or
    a branch of a union (after `(` or `|`, not inside a predicate or after another step), and
    each of its predicates is a filter that does not depend on the node's position (a
    comparison, an `or`/`and`, a call to a boolean function, an attribute; never a number, a
    position() or a last()). A union is in document order, as `//*` is, and an element has one
    name, so no node is selected twice."""
    literals = _literal_spans(source)
    pieces: list[str] = []
    done = 0
    for match in _NAME_TESTS.finditer(source):
        start = match.start()
        if start < done or any(first <= start < end for first, end in literals):
            continue
        before = source[:start].rstrip()
        if before and before[-1] not in "(|":
            continue  # inside a predicate, or a step after another step: left alone
        end = match.end()
        predicates = []
        while True:
            following = len(source[end:]) - len(source[end:].lstrip())
            if source[end + following:end + following + 1] != "[":
                break
            close = _closing(source, end + following)
            if close is None:
                break
            predicates.append(source[end + following + 1:close])
            end = close + 1
        # whatever follows (a further step, a union, a comparison) reads the same node-set
        if not all(_is_filter(predicate) for predicate in predicates):
            continue
        names = re.findall(r"self::([A-Za-z][\w.-]*)", match["names"])
        pieces.append(source[done:start])
        pieces.append("(" + "|".join(match["axis"] + name for name in names) + ")")
        done = match.end()
    pieces.append(source[done:])
    return "".join(pieces)


def _is_filter(predicate: str) -> bool:
    """Whether an XPath predicate is a boolean test that does not read the node's position (a
    numeric predicate, or one using position() or last(), selects by position)."""
    if re.search(r"\b(?:position|last)\s*\(", predicate):
        return False
    body = predicate.strip()
    while body.startswith("(") and _closing(body, 0) == len(body) - 1:
        body = body[1:-1].strip()
    if re.fullmatch(r"@[A-Za-z_][\w.-]*", body):
        return True
    top = _top_level(body)
    # `or`/`and` as operators, not inside a name (`@data-or`, `ancestor-or-self::`)
    if re.search(r"(?<![\w.:-])(?:or|and)(?![\w.:-])|[=<>]", top):
        return True
    call = re.match(r"(?P<name>[\w:-]+)\s*\(", body)
    return bool(call and call["name"] in _BOOLEAN_FUNCTIONS
                and _closing(body, call.end() - 1) == len(body) - 1)


def _scan(source: str, start: int = 0) -> Iterator[tuple[int, str, int, bool]]:
    """(index, character, depth, quoted) from `start` on: depth counts the brackets and
    parentheses around the character (an opening one counts itself from the next character,
    a closing one no longer counts at itself), and quoted marks string literals, quotes
    included (XPath literals have no escapes)."""
    depth = 0
    quote = None
    for index in range(start, len(source)):
        char = source[index]
        if quote is not None:
            if char == quote:
                quote = None
            yield index, char, depth, True
            continue
        if char in "'\"":
            quote = char
            yield index, char, depth, True
            continue
        if char in ")]":
            depth -= 1
        yield index, char, depth, False
        if char in "([":
            depth += 1


def _closing(source: str, opening: int) -> int | None:
    """Index of the `]` or `)` that closes the `[` or `(` at `opening` (brackets and parentheses
    nest in XPath; those in string literals are skipped)."""
    return next((index for index, char, depth, quoted in _scan(source, opening)
                 if not quoted and depth == 0 and char in ")]"), None)


def _top_level(source: str) -> str:
    """`source` with everything inside brackets, parentheses and string literals blanked."""
    return "".join(char if not quoted and depth == 0 and char not in "()[]" else " "
                   for _, char, depth, quoted in _scan(source))


def rewrite_source(source: str) -> str:
    """Both rewrites: regex tests prefiltered, then name tests as unions."""
    return union_name_tests(prefilter_regex_tests(source))


def _literal_spans(source: str) -> list[tuple[int, int]]:
    """[start, end) of each XPath string literal ('...' or "...", which have no escapes)."""
    spans = []
    start = quote = None
    for index, char in enumerate(source):
        if quote is None and char in "'\"":
            start, quote = index, char
        elif char == quote:
            spans.append((start, index + 1))
            quote = None
    return spans


# Attribute values that each kind of test in trafilatura's expressions meets: a rewrite must
# evaluate here, and select what its original selects, before it is used.
_PROBE_PAGE = lxml.html.fromstring(
    "<html><head><title>t</title></head><body>"
    + "".join(f'<div class="{value}" id="{value}"><p class="x {value}" role="{value}">{value}</p>'
              f'<span id="{value}" class="">{value}</span><a rel="author">{value}</a></div>'
              f'<section class="{value}"><article id="{value}"><h2 class="{value}">{value}</h2>'
              f'<ul><li class="{value}">{value}</li><li id="{value}">{value}</li></ul></article></section>'
              for value in ("", "author", "AuthorName", "byline", "comments", "comment-list", "share",
                            "social", "nav", "main-content", "content-body", "article-body", "post",
                            "entry-content", "hidden", "sidebar", "tags", "footer", "x"))
    + "</body></html>")


# (module, name of the list, index; None for a module attribute) -> (the XPath the library
# built, the rewrite in its place)
_REWRITES: dict[tuple[str, str, int | None], tuple[XPath, XPath]] = {}
_restore_depth = 0


def rewrite_module_xpaths(module: ModuleType) -> int:
    """Rewrite, in place, the XPaths that `rewrite_source` changes among the module's XPath
    attributes and lists of XPaths (trafilatura keeps its expressions in lists, which its other
    modules hold too, so they see the change; htmldate's date search reads a module attribute).
    Idempotent; returns how many expressions it put in place."""
    rewritten = 0
    if sys.modules.get(module.__name__) is not module:
        return 0  # rewrites are put back by module name (original_xpaths): only registered ones
    for name, value in list(vars(module).items()):
        if isinstance(value, XPath):
            slots: list[tuple[int | None, XPath]] = [(None, value)]
        elif isinstance(value, list) and value and all(isinstance(item, XPath) for item in value):
            slots = list(enumerate(value))
        else:
            continue
        for index, current in slots:
            key = (module.__name__, name, index)
            known = _REWRITES.get(key)
            if known is not None and current in known:
                continue  # rewritten already (or its original put back by original_xpaths)
            replacement = _checked_rewrite(current)
            if replacement is None:
                continue
            _REWRITES[key] = (current, replacement)
            _place(key, replacement)
            rewritten += 1
    return rewritten


def xpath_in_place(key: tuple[str, str, int | None]) -> XPath:
    """The expression now at a rewrite's place (`rewritten_xpaths`' keys)."""
    module, name, index = key
    value = vars(sys.modules[module])[name]
    return value if index is None else value[index]


def _place(key: tuple[str, str, int | None], expression: XPath) -> None:
    module, name, index = key
    if index is None:
        setattr(sys.modules[module], name, expression)
    else:
        vars(sys.modules[module])[name][index] = expression


def _checked_rewrite(original: XPath) -> XPath | None:
    """The rewritten expression, if it differs, compiles with the regex namespace, and
    selects on the probe page what the original does; else None."""
    source = rewrite_source(original.path)
    if source == original.path:
        return None
    try:
        # trafilatura builds these with the regex namespace only (lxml's defaults else)
        replacement = XPath(source, namespaces={"re": REGEXP_NS})
        if replacement(_PROBE_PAGE) != original(_PROBE_PAGE):
            return None
    except XPathError:  # a prefix or extension the original was given and this one lacks
        return None
    return replacement


@contextlib.contextmanager
def original_xpaths() -> Iterator[None]:
    """Run the block with trafilatura's own expressions (to compare against), then put the
    rewrites back. Nested blocks keep the originals until the outermost ends. Not for use
    while another thread cleans HTML: the lists are shared by the whole process."""
    global _restore_depth
    _restore_depth += 1
    _put_in_place(rewrites=False)
    try:
        yield
    finally:
        _restore_depth -= 1
        if _restore_depth == 0:
            _put_in_place(rewrites=True)


def _put_in_place(rewrites: bool) -> None:
    """Each rewrite (or each original) back in its list, where the other one still sits."""
    for key, (original, replacement) in _REWRITES.items():
        if key[0] not in sys.modules:
            continue  # a module made by hand and gone (tests)
        present, wanted = (original, replacement) if rewrites else (replacement, original)
        if xpath_in_place(key) is present:
            _place(key, wanted)


def rewritten_xpaths() -> dict[tuple[str, str, int | None], tuple[XPath, XPath]]:
    """(module, name, index in the list or None) -> (the library's expression, its rewrite)."""
    return dict(_REWRITES)
