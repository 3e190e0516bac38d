"""The XPath prefilter: its substrings are necessary, and the rewritten expressions select what
trafilatura's own do."""
from __future__ import annotations

import itertools
import re
import sys
from types import ModuleType

import lxml.etree
import lxml.html
import pytest
import htmldate.core
import trafilatura.core
import trafilatura.main_extractor
import trafilatura.metadata
import trafilatura.xpaths
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml.etree import XPath
from trafilatura.utils import load_html

from bench.extraction import load_pages
from tests.conftest import shared_data
from transforms.htmlclean import clean_html
from transforms.xpathprefilter import (
    REGEXP_NS, original_xpaths, rewrite_module_xpaths, prefilter_regex_tests, required_substrings,
    rewrite_source, rewritten_xpaths, union_name_tests, xpath_in_place)


@pytest.mark.parametrize("pattern, expected", [
    ("author", ["author"]),
    ("^shar|social|viral", ["shar", "social", "viral"]),
    ("author-?name|AuthorName", ["AuthorName", "author"]),  # "-?" ends the run
    ("[Aa]uthor", ["uthor"]),
    ("content(?:-|__)body", ["content"]),  # the longest fixed run wins over {"-", "__"}
    ("(?:post-|entry-|article-|post__)", ["article-", "entry-", "post-", "post__"]),
    ("(?:entry|article|art)-content|articleBody|article__content",
     ["-content", "articleBody", "article__content"]),
    ("author|co-author|authorName", ["author"]),  # holding "author" is enough for all three
    ("[Cc]omment(?!ary)|comol", ["comol", "omment"]),
    ("(?:ab)+cd|x{2,}", ["ab", "x"]),  # a repeat of at least one counts; ties go to the first
    ("(?i:author)x", ["x"]),  # only the part outside the case-folded group may be used
])
def test_required_substrings(pattern, expected):
    assert required_substrings(pattern) == expected


@pytest.mark.parametrize("pattern, flags", [
    ("\\d+", ""),            # no fixed text
    ("author|\\w+", ""),     # one alternative has none
    ("a?b?", ""),            # optional parts only
    ("(?i)author", ""),      # case folded: 'ſ' and 'K' match 's' and 'k'
    ("author", "i"),
    ("[", ""),               # not a pattern
])
def test_no_substrings_when_none_are_necessary(pattern, flags):
    assert required_substrings(pattern, flags) is None


# Attribute values like those on real pages, and ones built to sit next to the patterns.
ATTRIBUTE_VALUES = [
    "", "author", "Author", "author-name", "authorname", "AuthorName", "post-author", "by-author x",
    "comments", "Comments", "commentary", "comment-list", "commentlist", "comol", "xcomment",
    "share-buttons", "shar", "social-links", "nav navbar", "main-content", "content-body",
    "content__body", "contentBody", "article-body", "article__body", "articleBody", "entry-content",
    "art-content", "post_content", "post-content", "postContent", "byline", "Byline", "hidden",
    "is-hidden", "story-body", "primary", "xprimary", "sidebar", "tag-list", "tags", "ſhare",
]


def _regex_tests(source: str) -> list[tuple[str, str]]:
    # a looser reader than the module's own, so that a test its reader misses is still checked
    return re.findall(r"re:test\([^,]+,\s*'([^']*)'(?:\s*,\s*'([^']*)')?\)", source)


def _trafilatura_patterns() -> list[tuple[str, str]]:
    """(pattern, flags) of every regex test in trafilatura's expressions (a rewritten one keeps
    the original test verbatim)."""
    patterns = set()
    for value in vars(trafilatura.xpaths).values():
        if isinstance(value, list):
            for expression in value:
                if isinstance(expression, XPath):
                    patterns.update(_regex_tests(expression.path))
    return sorted(patterns)


def test_trafilaturas_patterns_never_match_without_their_substrings():
    patterns = _trafilatura_patterns()
    assert len(patterns) >= 10  # trafilatura's own; fewer would mean the expressions were not read
    with_substrings = 0
    for pattern, flags in patterns:
        substrings = required_substrings(pattern, flags)
        if substrings is None:
            continue
        with_substrings += 1
        for value in ATTRIBUTE_VALUES:
            if re.search(pattern, value):
                assert any(s in value for s in substrings), (pattern, value, substrings)
    assert with_substrings >= len(patterns) // 2


# Pattern pieces over a two-letter alphabet, so that the strings below reach every case.
PIECES = ["a", "b", "ab", "ba", "[ab]", "[^a]", ".", "a?", "b*", "(?:a|b)", "(?:ab|b)", "(?:a|)",
          "(ab)+", "b{2}", "a{0,2}", "(?=a)", "(?!b)", "^", "$", "\\b", "(?i:a)", "(a)\\1"]
SHORT_STRINGS = ["".join(chars) for n in range(6) for chars in itertools.product("abAB-", repeat=n)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=4), min_size=1, max_size=3))
def test_substrings_are_necessary_for_any_pattern(alternatives):
    pattern = "|".join("".join(pieces) for pieces in alternatives)
    substrings = required_substrings(pattern)
    if substrings is None:
        return
    assert substrings and all(substrings)
    for value in SHORT_STRINGS:
        if re.search(pattern, value):
            assert any(s in value for s in substrings), (pattern, value, substrings)


def test_only_tests_outside_string_literals_are_rewritten():
    inside = '''.//*[@data-q="re:test(@class, 'ab')"]'''
    assert prefilter_regex_tests(inside) == inside
    assert prefilter_regex_tests(".//*[myre:test(@class, 'ab')]") == ".//*[myre:test(@class, 'ab')]"
    both = '''.//*[@title="it's" or re:test(@class, 'ab')]'''
    assert prefilter_regex_tests(both) == '''.//*[@title="it's" or ((contains(@class, 'ab')) and re:test(@class, 'ab'))]'''


def test_a_rewrite_that_would_not_evaluate_is_not_used(monkeypatch):
    # an expression trafilatura built with another namespace: the rewrite here would lack it
    module = ModuleType("namespaced_xpaths")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    original = XPath(".//x:item[re:test(@class, 'author')]", namespaces={"x": "urn:x", "re": REGEXP_NS})
    module.EXPRESSIONS = [original]
    assert rewrite_module_xpaths(module) == 0
    assert module.EXPRESSIONS[0] is original
    document = lxml.etree.fromstring('<r xmlns="urn:x"><item class="author"/></r>')
    assert len(module.EXPRESSIONS[0](document)) == 1


def test_rewrite_keeps_the_test_and_adds_a_prefilter():
    source = ".//*[re:test(@class, 'author|byline')]"
    rewritten = prefilter_regex_tests(source)
    assert rewritten == (".//*[((contains(@class, 'author') or contains(@class, 'byline')) and "
                         "re:test(@class, 'author|byline'))]")
    # too many substrings: only the presence guard; a pattern matching '' gets neither
    assert prefilter_regex_tests(source, max_substrings=1) == (
        ".//*[((@class) and re:test(@class, 'author|byline'))]")
    assert prefilter_regex_tests(".//*[re:test(@id, 'x?')]") == ".//*[re:test(@id, 'x?')]"
    assert prefilter_regex_tests(".//*[re:test(@id, 'x', 'i')]") == ".//*[((@id) and re:test(@id, 'x', 'i'))]"


SYNTHETIC_PAGE = "<html><body>" + "".join(
    f'<div class="{a}" id="{b}"><span id="{a}">{a}</span><p data-x="{b}" class="{b}">{a} {b}</p></div>'
    f'<section id="{b}" class="{a}"><a rel="author">x</a></section><div></div>'
    for a in ATTRIBUTE_VALUES for b in ("", "comments", "main", "nav", "author-name")) + "</body></html>"

SYNTHETIC_EXPRESSIONS = [
    ".//*[re:test(@class, 'author-?name|AuthorName')]",
    ".//*[re:test(@id|@class, '^comment[s-]')]",          # first attribute only, whichever it is
    ".//*[re:test(@id|@class, '(^|\\s)(?:nav|author)')]",
    ".//*[self::div or self::p][re:test(@class, '^[Cc]omments|commentlist|sidebar|is-hidden')]",
    ".//*[re:test(@id, 'x?')]",                            # matches elements with no id at all
    ".//*[re:test(@class, 'AUTHOR', 'i')]",
    ".//*[re:test(@class, 'content(?:-|__)body|post[-_]?content|' )]",
]


@pytest.mark.parametrize("source", SYNTHETIC_EXPRESSIONS)
def test_rewritten_expression_selects_the_same_elements(source):
    tree = lxml.html.fromstring(SYNTHETIC_PAGE)
    original = XPath(source, namespaces={"re": REGEXP_NS})
    rewritten = XPath(prefilter_regex_tests(source), namespaces={"re": REGEXP_NS})
    assert rewritten(tree) == original(tree)


@pytest.mark.parametrize("source, expected", [
    (".//*[self::a or self::div][@x='1']", "(.//a|.//div)[@x='1']"),
    ("//*[self::li or self::span][@class='x']//a[@href]", "(//li|//span)[@class='x']//a[@href]"),
    ("(.//*[self::a or self::b][@c])[1]|(.//main)[1]", "((.//a|.//b)[@c])[1]|(.//main)[1]"),
    (".//*[self::a][ ((contains(@c, 'x')) and re:test(@c, 'x')) ]",
     "(.//a)[ ((contains(@c, 'x')) and re:test(@c, 'x')) ]"),
    (".//*[self::a or self::p]", "(.//a|.//p)"),
    ("//*[self::h1][not(@id)]|//*[self::h2][@id]", "(//h1)[not(@id)]|(//h2)[@id]"),
])
def test_name_tests_become_a_union(source, expected):
    assert union_name_tests(source) == expected


@pytest.mark.parametrize("source", [
    ".//*[self::a or self::div][1]",                    # first per parent, not first of all
    ".//*[self::a][position() < 3]",
    ".//*[self::a][@x][last()]",
    "//*[self::a or self::b][count(p)]",               # a number: a position test
    "//div//*[self::a or self::b]",                    # a step after another step
    "//p[.//*[self::a or self::b]]",                   # inside a predicate
    "//*[@q=\"(.//*[self::a])\"]",                     # inside a string literal
    "//*[self::a or @id]",                             # not only names
    ".//*[self::p or self::div][@data-or - 1]",        # a number: "or" inside a name is no operator
    ".//*[self::p][ancestor-or-self::*/@n * 1]",
    ".//*[self::p][@band + @order]",
    ".//*[self::p][@n * ' or ']",                     # a number: "or" inside a string literal
    ".//*[self::p][@c = ']'][1]",                      # a bracket inside a literal ends nothing
])
def test_name_tests_that_a_union_would_change_are_left_alone(source):
    assert union_name_tests(source) == source


_TAGS = ("a", "div", "p", "span", "section", "li")


@st.composite
def _elements(draw, depth=0):
    """A small random page part: nested elements of a few tags, classes and ids."""
    tag = draw(st.sampled_from(_TAGS))
    cls, ident = draw(st.sampled_from(["", "x", "y z"])), draw(st.sampled_from(["", "i"]))
    children = draw(st.lists(_elements(depth + 1), max_size=3)) if depth < 3 else []
    return f'<{tag} class="{cls}" id="{ident}">t' + "".join(children) + f"</{tag}>"


_POSITIONAL = ["[1]", "[2]", "[position() > 1]", "[last()]", "[count(*)]"]
_PREDICATES = ["", "[@class='x']", "[contains(@class, 'y')]", "[@id]", "[@class='x' or @id='i']",
               "[not(@id='i')][@class]"] + _POSITIONAL


@settings(max_examples=300, deadline=None)
@given(st.lists(_elements(), min_size=1, max_size=4), st.sampled_from(["//", ".//"]),
       st.lists(st.sampled_from(_TAGS), min_size=1, max_size=3, unique=True),
       st.sampled_from(_PREDICATES), st.sampled_from(_PREDICATES),
       st.sampled_from(["{}", "({})[1]", "({})[last()]", "{}|//p", "{}//span", "{}/a", "count({}) > 1"]))
def test_a_union_selects_what_the_name_tests_select(parts, axis, names, first, second, wrapper):
    body = lxml.html.fromstring("<html><body>" + "".join(parts) + "</body></html>").find("body")
    step = f"{axis}*[" + " or ".join(f"self::{name}" for name in names) + "]" + first + second
    source = wrapper.format(step)
    rewritten = union_name_tests(source)
    assert XPath(rewritten)(body) == XPath(source)(body)
    if first not in _POSITIONAL and second not in _POSITIONAL and not wrapper.startswith("count"):
        assert "self::" not in rewritten  # a step that only filters is rewritten


def test_the_libraries_expressions_are_rewritten_in_place_once():
    rewritten = rewritten_xpaths()
    assert len(rewritten) >= 10  # done on import of transforms.htmlclean
    tree = lxml.html.fromstring(SYNTHETIC_PAGE)
    for key, (original, in_use) in rewritten.items():
        module, name, index = key
        assert xpath_in_place(key) is in_use
        assert in_use.path == rewrite_source(original.path) != original.path
        assert in_use(tree) == original(tree), key
        # trafilatura's modules read the same list objects, so they run the rewrites
        for other in (trafilatura.core, trafilatura.main_extractor, trafilatura.metadata):
            if module == "trafilatura.xpaths" and hasattr(other, name):
                assert getattr(other, name) is getattr(trafilatura.xpaths, name), (other, name)
    # htmldate's date search reads its free-text expression from htmldate.core
    assert ("htmldate.core", "FREE_TEXT_EXPRESSIONS", None) in rewritten
    assert rewrite_module_xpaths(trafilatura.xpaths) == 0  # already rewritten: nothing to do
    assert rewrite_module_xpaths(htmldate.core) == 0


def test_original_xpaths_restores_and_nests():
    rewritten = rewritten_xpaths()

    def in_place():
        return [xpath_in_place(key) for key in rewritten]

    originals = [original for original, _ in rewritten.values()]
    rewrites = [in_use for _, in_use in rewritten.values()]
    with original_xpaths():
        assert in_place() == originals
        with original_xpaths():
            assert in_place() == originals
        assert in_place() == originals  # the inner block's end does not rewrite again
    assert in_place() == rewrites


def test_original_xpaths_leaves_an_expression_someone_else_put_in_place():
    (_, name, index), (_, in_use) = next(iter(rewritten_xpaths().items()))
    expressions = getattr(trafilatura.xpaths, name)
    foreign = XPath(".//p")
    expressions[index] = foreign
    try:
        with original_xpaths():
            assert expressions[index] is foreign
        assert expressions[index] is foreign
    finally:
        expressions[index] = in_use


def test_a_module_of_plain_expressions_is_left_alone(monkeypatch):
    module = ModuleType("plain_xpaths")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    module.EXPRESSIONS = [XPath(".//div[@class='a']"), XPath(".//p")]
    module.ONE = XPath(".//p/text()")
    before = list(module.EXPRESSIONS), module.ONE
    assert rewrite_module_xpaths(module) == 0
    assert (module.EXPRESSIONS, module.ONE) == before


def test_a_module_that_is_not_registered_is_left_alone():
    # original_xpaths puts expressions back by module name: an unregistered module could not be
    module = ModuleType("unregistered_xpaths")
    module.TEXTS = XPath(".//*[self::p or self::li]/text()")
    before = module.TEXTS
    assert rewrite_module_xpaths(module) == 0
    assert module.TEXTS is before


def test_a_module_attribute_is_rewritten_and_restored(monkeypatch):
    module = ModuleType("attribute_xpaths")
    original = XPath(".//*[self::p or self::li]/text()")
    module.TEXTS = original
    monkeypatch.setitem(sys.modules, "attribute_xpaths", module)
    assert rewrite_module_xpaths(module) == 1
    assert module.TEXTS.path == "(.//p|.//li)/text()"
    tree = lxml.html.fromstring("<div><p>a</p><ul><li>b</li></ul><p>c<span>d</span>e</p></div>")
    assert module.TEXTS(tree) == original(tree) == ["a", "b", "c", "e"]
    rewrite = module.TEXTS
    with original_xpaths():
        assert module.TEXTS is original
    assert module.TEXTS is rewrite


@pytest.mark.parametrize("corpus", ["aeb-dev", "wcxb-dev"])
def test_rewritten_expressions_select_the_same_on_real_pages(corpus):
    pages = load_pages(shared_data(corpus))[::8]  # all of them: 85 s
    trees = [tree for tree in (load_html(html) for _, html, _ in pages) if tree is not None]
    assert len(trees) > len(pages) // 2
    for (_, name, index), (original, in_use) in rewritten_xpaths().items():
        for tree in trees:
            assert in_use(tree) == original(tree), (name, index)


@pytest.mark.parametrize("corpus", ["aeb-dev", "wcxb-dev"])
def test_cleaning_is_unchanged_on_real_pages(corpus):
    pages = load_pages(shared_data(corpus))[::8]
    ours = [clean_html(html) for _, html, _ in pages]
    with original_xpaths():
        stock = [clean_html(html) for _, html, _ in pages]
    assert ours == stock
    assert sum(bool(result.paragraphs) for result in ours) > len(pages) // 2
