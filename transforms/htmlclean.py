"""HTML-mode cleaner: trafilatura's main-content extraction, then our line classifier on top.

trafilatura finds the article subtree from the DOM; what it keeps can still carry chrome that
sits inside the article container (share prompts, "Related" headings, newsletter boxes,
cookie notices). Those lines are passed through the same rules the text mode uses
(`transforms.textclean.post_clean_lines`), and what they drop is recorded with its reason.

Options and why:
- deduplicate=False: trafilatura's dedup keeps a process-global cache, which makes output
  depend on which pages a worker saw before (non-deterministic under Beam).
- fast=True: as good as the defaults on aeb-dev and ~1.5x faster (skips the fallbacks).
- favor_recall=True: on aeb-dev it was +0.002 F1 over plain fast=True, while
  favor_precision=True cost 0.006 (it drops real paragraphs; precision is better won back
  by the post-cleaning below).
- include_comments=False: reader comments are not the article (+0.006 F1 on aeb-dev).

Metadata: the records keep a page's title, author and date, so `page_metadata` asks trafilatura
for those three only, on the tree the extraction then copies, instead of `with_metadata=True`,
whose `extract_metadata` also searches the whole page for categories, tags and a licence
(9% of an HTML page's cleaning time on the throughput bench's pages, measured). The three
fields come out as trafilatura's own call gives them; tests/test_htmlclean.py compares the two
on the benchmark pages and on synthetic ones, so a trafilatura release that finds them
differently fails there; one without these helpers, or whose helpers raise, gets the whole
search for the pages concerned, slower but the same fields.

XPaths: trafilatura's regular-expression tests on `@id`/`@class` are rewritten on import to sit
behind native substring tests, and its and htmldate's name tests (`.//*[self::div or ...]`) to
unions (`transforms.xpathprefilter`): the same elements selected, each HTML page cleaned in
less time (README, "Throughput and memory"). htmldate's whole-page date patterns are searched
from their digits (`transforms.datepatterns`), two tree copies trafilatura never reads in our
use are not made (`_copy_where_needed`), and trafilatura's parser looks element classes up in C
(`html_class_lookup_in_c`): the same results, in less time.
"""
from __future__ import annotations

import copy
import datetime
import logging
import re
import sys
import threading
from typing import Any

import dateutil.parser
import htmldate
import htmldate.core
import htmldate.extractors
import trafilatura
import lxml.html
import trafilatura.core
import trafilatura.utils
from lxml import etree
from lxml.html import HtmlElement

try:  # public names of trafilatura's modules, but not its documented API
    from trafilatura.metadata import examine_meta, extract_author, extract_meta_json, extract_title, extract_url
    from trafilatura.settings import DEFAULT_CONFIG, Document
    from trafilatura.utils import load_html
except ImportError:  # a release without them: `_extract` falls back to trafilatura's whole search
    examine_meta = load_html = None

from transforms.datepatterns import speed_up_date_patterns
from transforms.records import CleanResult
from transforms.xpathprefilter import rewrite_module_xpaths

LOG = logging.getLogger(__name__)
EMPTY_RESULT = CleanResult(title=None, author=None, published=None, paragraphs=(), removed=())
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


# htmldate (1.11) parses some date candidates, such as "2016 12", with dateutil, which fills the
# parts a string lacks from today's date: such a page's date moved with the day of the run
# (2016-12-03 in one run, 2016-12-04 in one that crossed midnight). Filled from a fixed default
# instead, a missing day becomes the 1st, as htmldate's own year-month rule has it, and a missing
# year becomes year 1, which htmldate's plausibility check (1995 onwards) turns down.
_DATEUTIL_DEFAULT = datetime.datetime(1, 1, 1)


def _dateutil_parse_without_today(timestr: str, *args, **kwargs) -> datetime.datetime:
    kwargs.setdefault("default", _DATEUTIL_DEFAULT)
    return dateutil.parser.parse(timestr, *args, **kwargs)


# A library global, patched on import so every worker process that cleans HTML has it; a
# version of htmldate without the name fails the test that pins this down
# (tests/test_htmlclean.py) rather than this import.
if hasattr(htmldate.extractors, "dateutil_parse"):
    htmldate.extractors.dateutil_parse = _dateutil_parse_without_today


def _rewrite_library_xpaths() -> None:
    """trafilatura's and htmldate's XPaths made cheaper (transforms.xpathprefilter): the same
    elements selected, an HTML page cleaned in less time. Like the patch above, done on import,
    so every worker process that cleans HTML has it."""
    try:
        import trafilatura.xpaths

        rewrite_module_xpaths(trafilatura.xpaths)
        rewrite_module_xpaths(htmldate.core)  # its free-text date search
    except Exception:  # noqa: BLE001 - a speed-up only: the libraries' own expressions still work
        LOG.warning("trafilatura's and htmldate's XPaths left as they are", exc_info=True)


_rewrite_library_xpaths()
# htmldate's whole-page date patterns searched from their digits (transforms.datepatterns): the
# same lists, ~1 ms less an HTML page that reaches that search
speed_up_date_patterns(htmldate.core)


def html_class_lookup_in_c() -> etree.ElementNamespaceClassLookup:
    """lxml.html's element classes (`HtmlElementClassLookup`), looked up in C.

    lxml asks a parser's class lookup which Python class to give each element it hands to
    Python; lxml.html's lookup is a Python method, called ~1,650 times an HTML page here
    (every XPath result and iterated element). This one gives the same classes from tables:
    FormElement, InputElement... by tag name (the Python lookup lower-cases the name, so every
    ASCII case of each is listed), HtmlElement for every other element, and lxml.html's
    comment, processing-instruction and entity classes."""
    lookup = etree.ElementNamespaceClassLookup(etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction, entity=lxml.html.HtmlEntity))
    by_name = lookup.get_namespace(None)
    for name, element_class in lxml.html.HtmlElementClassLookup._default_element_classes.items():
        for variant in _ascii_cases(name):
            by_name[variant] = element_class
    return lookup


def _ascii_cases(name: str) -> list[str]:
    variants = [""]
    for char in name:
        variants = [v + c for v in variants for c in dict.fromkeys((char.lower(), char.upper()))]
    return variants


# trafilatura parses every page with its one lxml.html parser, made with lxml.html's lookup
if type(getattr(trafilatura.utils, "HTML_PARSER", None)) is lxml.html.HTMLParser:
    trafilatura.utils.HTML_PARSER.set_element_class_lookup(html_class_lookup_in_c())


# Two tree copies trafilatura makes are never read in our use, and each cost ~0.5-1 ms an HTML
# page (the copy, then freeing it): trafilatura.core's `copy` skips them, recognised by the
# function asking and the object it asks for; every other copy is made.
# - bare_extraction copies a tree it is given, to leave the caller's tree as it was; `_extract`
#   has no use for the tree afterwards and hands it over (`_HANDED_OVER`): that copy, once.
# - _prepare_tree copies the cleaned tree as a backup, which only the external extractors
#   (not run with fast=True) and comment extraction (off) read.
# tests/test_htmlclean.py compares the results with trafilatura's own, copies made, on real
# pages: a release that reads these copies differently fails there.
_HANDED_OVER = threading.local()


def _copy_where_needed(obj: Any) -> Any:
    caller = sys._getframe(1)
    if caller.f_code is _BARE_EXTRACTION_CODE and getattr(_HANDED_OVER, "tree", None) is obj:
        _HANDED_OVER.tree = None
        return obj
    if caller.f_code is _PREPARE_TREE_CODE:
        variables = caller.f_locals
        options = variables.get("options")
        if variables.get("cleaned") is obj and getattr(options, "fast", False) is True \
                and getattr(options, "comments", True) is False:
            return obj
    return copy.copy(obj)


_BARE_EXTRACTION_CODE = getattr(getattr(trafilatura.core, "bare_extraction", None), "__code__", None)
_PREPARE_TREE_CODE = getattr(getattr(trafilatura.core, "_prepare_tree", None), "__code__", None)
if getattr(trafilatura.core, "copy", None) is copy.copy:
    trafilatura.core.copy = _copy_where_needed


def _parse_iso_date(value: str | None) -> datetime.date | None:
    if not value:
        return None
    match = _DATE_RE.match(value)
    if not match:
        return None
    try:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


# original_date: the publication date, not the last modification.
DATE_SEARCH = {"extensive_search": True, "original_date": True}
EXTRACTION_OPTIONS = {"fast": True, "favor_recall": True, "include_comments": False,
                      "include_tables": True, "deduplicate": False}
_MAX_FILE_SIZE = DEFAULT_CONFIG.getint("DEFAULT", "MAX_FILE_SIZE") if load_html is not None else None
_warned_of_failing_helpers = False  # one warning per process


def page_metadata(tree: HtmlElement, url: str | None) -> Document:
    """Title, author and date of a parsed page, searched for in trafilatura's order: meta tags,
    then JSON-LD over them, then the page's own elements; a one-word meta author is no author."""
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # trafilatura guards this call too: its JSON-LD parser has known bugs
        pass
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.author:
        metadata.author = extract_author(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    metadata.date = htmldate.find_date(tree, url=metadata.url, **DATE_SEARCH)
    metadata.clean_and_trim()
    return metadata


def _whole_search(html: str, url: str | None) -> Document | None:
    """trafilatura's one call with its whole metadata search: what `_extract` replaces."""
    return trafilatura.bare_extraction(html, url=url, with_metadata=True,
                                       date_extraction_params=DATE_SEARCH, **EXTRACTION_OPTIONS)


def _extract(html: str, url: str | None) -> Document | None:
    if examine_meta is None:
        return _whole_search(html, url)
    tree = load_html(html, _MAX_FILE_SIZE)
    if tree is None:
        return None
    try:
        metadata = page_metadata(tree, url)
    except Exception as error:
        # A helper whose signature changed in a trafilatura release would raise here on every
        # page and, caught by clean_html, empty every HTML page: the whole search instead
        # costs time, not data (and raises again, to the same empty result, on a page that
        # breaks trafilatura's own search).
        global _warned_of_failing_helpers
        if not _warned_of_failing_helpers:
            _warned_of_failing_helpers = True
            LOG.warning("trafilatura's metadata helpers failed (%r); using its whole metadata "
                        "search, slower, for such pages", error)
        return _whole_search(html, url)
    # The page is parsed once: the metadata helpers leave the tree as it is, and the
    # extraction, which prunes it, then has it (`_HANDED_OVER`)
    _HANDED_OVER.tree = tree
    try:
        document = trafilatura.bare_extraction(tree, url=url, with_metadata=False, **EXTRACTION_OPTIONS)
    finally:
        _HANDED_OVER.tree = None
    if document is None:
        return None
    document.title, document.author, document.date = metadata.title, metadata.author, metadata.date
    return document


def clean_html(html: str, url: str | None = None) -> CleanResult:
    """Clean an HTML page to its article; never raises (garbage in -> empty CleanResult)."""
    from transforms.textclean import post_clean_lines  # local: textclean is the heavier module

    if not isinstance(html, str) or not html.strip():
        return EMPTY_RESULT
    try:
        document = _extract(html, url)
    except Exception:  # trafilatura/lxml raise on some malformed input; the contract is no raise
        return EMPTY_RESULT
    if document is None:
        return EMPTY_RESULT
    body = getattr(document, "text", None) or ""
    title = (getattr(document, "title", None) or "").strip() or None
    author = (getattr(document, "author", None) or "").strip() or None
    published = _parse_iso_date(getattr(document, "date", None))
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    try:
        kept, removed = post_clean_lines(lines, title=title)
    except Exception:  # the post-cleaner is a bonus; never lose the extraction because of it
        kept, removed = lines, []
    return CleanResult(title=title, author=author, published=published,
                       paragraphs=tuple(kept), removed=tuple(removed))
