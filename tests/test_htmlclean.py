"""HTML-mode cleaner: extraction, metadata, post-cleaning, robustness."""
from __future__ import annotations

import copy
import datetime

import htmldate.extractors
import htmldate.meta
import pytest
import trafilatura.core
from trafilatura.settings import Extractor
from trafilatura.utils import load_html

from bench.extraction import load_pages
from tests.conftest import shared_data
from transforms.clean import warm_up
import transforms.htmlclean as htmlclean
from transforms.htmlclean import _extract, _whole_search, clean_html
from transforms.render import render_visible_text
from transforms.textclean import post_clean_lines

PARAGRAPH = ("The committee met on Tuesday to discuss the budget for the coming year, and members "
             "agreed that spending on schools and roads should rise by a modest amount. ")
PAGE = f"""<html><head><title>Budget talks end in agreement</title>
<meta name="author" content="Jane Roe">
<meta property="article:published_time" content="2023-12-27T10:00:00Z"></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav>
<article><h1>Budget talks end in agreement</h1>
<p>{PARAGRAPH * 2}</p><p>{PARAGRAPH}Officials said more talks would follow.</p>
<p>Related Articles</p>
<p>{PARAGRAPH}The vote is expected next week. (JO)</p></article>
<footer>Copyright 2023 Example News. All rights reserved.</footer></body></html>"""


def test_extracts_article_and_metadata():
    result = clean_html(PAGE, url="https://example.org/news/budget")
    assert "schools and roads" in result.text
    assert "Home" not in result.paragraphs
    assert result.title == "Budget talks end in agreement"
    assert result.published == datetime.date(2023, 12, 27)
    assert result.author == "Jane Roe"


def test_post_cleaning_removes_chrome_and_slug():
    result = clean_html(PAGE)
    assert "Related Articles" not in result.paragraphs
    assert any(r.text == "(JO)" and r.reason == "editor_slug" for r in result.removed)
    assert result.paragraphs[-1].endswith("next week.")


@pytest.mark.parametrize("garbage", ["", "   ", "\x00\x01\x02", "<html", "<?xml version='1.0'?>",
                                     "<" * 10_000, "<p>" * 5000, "\ud800", None, b"<p>bytes</p>"])
def test_never_raises_on_garbage(garbage):
    result = clean_html(garbage)  # type: ignore[arg-type]
    assert isinstance(result.paragraphs, tuple)


def test_deterministic():
    assert clean_html(PAGE) == clean_html(PAGE)


def test_post_clean_drops_repeated_title_only_at_start():
    kept, removed = post_clean_lines(["Budget talks", "Body text here. Budget talks", "Budget talks"],
                                     title="Budget talks")
    assert kept == ["Body text here. Budget talks", "Budget talks"]
    assert removed[0].reason == "title"


def test_render_keeps_chrome_one_block_per_line():
    text = render_visible_text(PAGE)
    lines = text.split("\n\n")
    assert "* Home" in lines and "* News" in lines  # list items keep a bullet, like a copy
    assert any("schools and roads" in line for line in lines)
    assert "\n\n\n" not in text
    assert render_visible_text("") == "" and render_visible_text("<<<") in ("", "<<<")


def test_warm_up_reaches_dateparser_so_its_first_use_is_outside_any_time_limit(monkeypatch):
    """dateparser compiles every locale on its first call (over a second): warm_up must make
    that call, or a worker's first page with a year in a heading pays it inside its deadline."""
    htmldate.meta.reset_caches()  # an earlier test's warm_up left the heading's verdict cached
    sent = []
    parse = htmldate.extractors._external_date
    monkeypatch.setattr(htmldate.extractors, "_external_date", lambda text: sent.append(text) or parse(text))
    warm_up()
    assert sent


@pytest.mark.parametrize("run_day", [datetime.date(2026, 12, 3), datetime.date(2027, 2, 28)])
def test_a_date_written_without_its_day_does_not_take_the_day_of_the_run(monkeypatch, run_day):
    """htmldate hands "2016 12" to dateutil, which fills a missing day from today's date: the
    page's `published` then changed with the day it was cleaned on."""
    import dateutil.parser._parser as dateutil_internals

    real_datetime = datetime.datetime

    class RunDay(real_datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime(run_day.year, run_day.month, run_day.day, 12, 0)

    pinned = type(datetime)("datetime_on_run_day")
    pinned.__dict__.update({name: getattr(datetime, name) for name in dir(datetime) if not name.startswith("__")})
    pinned.datetime = RunDay
    monkeypatch.setattr(dateutil_internals, "datetime", pinned)
    htmldate.meta.reset_caches()  # the same string's verdict from another run day is cached
    page = (f"<html><head><title>Budget</title></head><body><div>2016 12</div>"
            f"<article><p>{PARAGRAPH * 3}</p></article></body></html>")
    assert clean_html(page).published == datetime.date(2016, 12, 1)


def _stock_whole_search(html: str, url: str | None):
    """trafilatura's whole search with every copy it asks for made (`htmlclean` skips two)."""
    skipping = trafilatura.core.copy
    trafilatura.core.copy = copy.copy
    try:
        return _whole_search(html, url)
    finally:
        trafilatura.core.copy = skipping


def _same_extraction(html: str, url: str | None) -> None:
    ours, theirs = _extract(html, url), _stock_whole_search(html, url)
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert (ours.title, ours.author, ours.date, ours.text) == (theirs.title, theirs.author, theirs.date,
                                                                     theirs.text)


# Each finds a field somewhere else: meta tags; JSON-LD over a one-word meta author; the
# page's own <title>, byline and a date in its URL; a page with no metadata at all.
METADATA_PAGES = [
    PAGE,
    f"""<html><head><title>Storm hits the coast | Example News</title>
<meta name="author" content="staff">
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
"headline": "Storm hits the coast", "author": {{"@type": "Person", "name": "Ana Lopez"}},
"datePublished": "2024-03-05T08:00:00Z"}}</script></head>
<body><article><p>{PARAGRAPH * 3}</p></article></body></html>""",
    f"""<html><head><title>Port reopens after strike - Daily Herald</title></head><body>
<article><h1>Port reopens after strike</h1><p class="byline">By <span class="author">Tom Jones</span></p>
<p>{PARAGRAPH * 3}</p></article></body></html>""",
    f"<html><body><div><p>{PARAGRAPH * 3}</p></div></body></html>",
    # trafilatura trims and unescapes what it found (`Document.clean_and_trim`)
    f"""<html><head><meta property="og:title" content="  Harbour   works &amp;amp; delays ">
<meta name="author" content="Rui  Costa &amp;amp; Ana Lopez"></head>
<body><article><p>{PARAGRAPH * 3}</p></article></body></html>""",
]


@pytest.mark.parametrize("page", METADATA_PAGES)
@pytest.mark.parametrize("url", [None, "https://example.org/2021/06/14/port-reopens"])
def test_title_author_and_date_are_trafilaturas_own(page, url):
    _same_extraction(page, url)


def test_a_trafilatura_without_the_metadata_helpers_gets_its_whole_search(monkeypatch):
    import transforms.htmlclean as htmlclean

    monkeypatch.setattr(htmlclean, "examine_meta", None)
    monkeypatch.setattr(htmlclean, "load_html", None)  # the fallback must not parse the page itself
    for page in METADATA_PAGES:
        _same_extraction(page, "https://example.org/2021/06/14/port-reopens")


def test_a_metadata_helper_that_raises_costs_time_not_the_page(monkeypatch):
    """A trafilatura release that changes a helper's signature makes it raise on every page."""
    import transforms.htmlclean as htmlclean

    def changed_signature(tree):
        raise TypeError("extract_url() missing 1 required positional argument")

    monkeypatch.setattr(htmlclean, "extract_url", changed_signature)
    result = clean_html(PAGE, url="https://example.org/news/budget")
    assert result.title == "Budget talks end in agreement" and result.author == "Jane Roe"
    assert "schools and roads" in result.text


@pytest.mark.parametrize("corpus", ["aeb-dev", "wcxb-dev"])
def test_title_author_date_and_text_are_trafilaturas_own_on_real_pages(corpus):
    """Every 8th page of each benchmark, with and without its URL: trafilatura's metadata
    search (`extract_metadata`) may change in a release; ours must change with it."""
    pages = load_pages(shared_data(corpus))[::8]
    assert len(pages) >= 15
    for _, html, truth in pages:
        for url in (None, truth.get("url")):
            _same_extraction(html, url)


def test_the_backup_copy_is_skipped_only_where_trafilatura_never_reads_it():
    assert trafilatura.core.copy is htmlclean._copy_where_needed
    for fast, comments, skipped in ((True, False, True), (False, False, False), (True, True, False)):
        cleaned, backup = trafilatura.core._prepare_tree(load_html(PAGE), Extractor(fast=fast, comments=comments), None)
        assert (backup is cleaned) == skipped
    tree = load_html(PAGE)
    assert trafilatura.core.copy(tree) is not tree  # a copy asked for anywhere else is made


def test_the_handed_over_tree_is_not_copied_again_and_the_results_are_trafilaturas(monkeypatch):
    copied = []
    real_copy = copy.copy

    def counting_copy(obj):
        copied.append(type(obj).__name__)
        return real_copy(obj)

    monkeypatch.setattr(htmlclean.copy, "copy", counting_copy)
    ours = _extract(PAGE, None)
    skipping_copies = copied.count("HtmlElement")
    copied.clear()
    monkeypatch.setattr(trafilatura.core, "copy", counting_copy)
    stock = _extract(PAGE, None)
    assert copied.count("HtmlElement") - skipping_copies == 2  # the handed-over tree and the backup
    assert (ours.title, ours.author, ours.date, ours.text) == (stock.title, stock.author, stock.date, stock.text)
    assert htmlclean._HANDED_OVER.tree is None


def test_a_tree_is_not_left_handed_over_when_the_extraction_raises(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a trafilatura bug")

    monkeypatch.setattr(trafilatura, "bare_extraction", broken)
    assert clean_html(PAGE).paragraphs == ()
    assert htmlclean._HANDED_OVER.tree is None


LOOKUP_PAGE = ("<html><body><form><input name=a><select><option>x</option></select><textarea>t</textarea>"
               "<label>l</label></form><!-- a comment --><p>a &amp; b</p></body></html>")


def test_the_class_lookup_in_c_gives_lxml_htmls_classes():
    import lxml.html
    from lxml import etree

    from transforms.htmlclean import html_class_lookup_in_c

    stock = lxml.html.HTMLParser(remove_comments=False, remove_pis=False)
    in_c = lxml.html.HTMLParser(remove_comments=False, remove_pis=False)
    in_c.set_element_class_lookup(html_class_lookup_in_c())
    pages = [LOOKUP_PAGE] + [html for _, html, _ in load_pages(shared_data("aeb-dev"))[::10]]
    for html in pages:
        ours, theirs = lxml.html.fromstring(html, parser=in_c), lxml.html.fromstring(html, parser=stock)
        assert [type(e) for e in ours.iter()] == [type(e) for e in theirs.iter()]
    assert {type(e).__name__ for e in lxml.html.fromstring(LOOKUP_PAGE, parser=in_c).iter()} >= {
        "FormElement", "InputElement", "SelectElement", "TextareaElement", "LabelElement", "HtmlComment",
        "HtmlElement"}
    # elements made by code keep their case, which the Python lookup lower-cases
    for name in ("FORM", "Input", "sElEcT", "TEXTAREA", "LaBeL", "div", "FORMS", "inputs"):
        ours, theirs = lxml.html.fromstring("<div></div>", parser=in_c), lxml.html.fromstring("<div></div>", parser=stock)
        assert type(etree.SubElement(ours, name)) is type(etree.SubElement(theirs, name))


def test_trafilaturas_parser_looks_element_classes_up_in_c(monkeypatch):
    import lxml.html
    from trafilatura.utils import load_html

    asked = []
    python_lookup = lxml.html.HtmlElementClassLookup.lookup

    def counted(self, *args):
        asked.append(args)
        return python_lookup(self, *args)

    monkeypatch.setattr(lxml.html.HtmlElementClassLookup, "lookup", counted)
    tree = load_html(PAGE)
    assert len(list(tree.iter())) > 10 and asked == []
    assert type(load_html(LOOKUP_PAGE).find(".//form")).__name__ == "FormElement"
    list(lxml.html.fromstring(PAGE, parser=lxml.html.HTMLParser()).iter())
    assert asked  # the counting works: lxml.html's own parser asks
