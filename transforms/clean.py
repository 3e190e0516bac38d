"""Clean stage: a decoded page -> the article (title, byline, date, body) and what was removed.

`clean_page` is the one function every caller uses (the pipeline's DoFn and the extraction
benchmark), so the benchmark measures exactly what the pipeline does.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.dedup import content_hash
from transforms.htmlclean import clean_html
from transforms.records import FORMAT_HTML, CleanResult, doc_id_for, make_reject
from transforms.routing import route
from transforms.textclean import clean_text
from transforms.timeguard import DocumentTimeout, deadline

LOG = logging.getLogger(__name__)
DOCUMENTS = "documents"
REJECTS = "rejects"
NAMESPACE = "clean"
DEFAULT_DOC_TIMEOUT_SECONDS = 5.0


def clean_page(content: str, fmt: str, url: str | None = None) -> CleanResult:
    """Clean one page with the cleaner for its format."""
    if fmt == FORMAT_HTML:
        return clean_html(content, url=url)
    return clean_text(content)


_WARM_UP_TEXT = ("Warm-up headline\n\nThe council met on Monday to discuss the budget for the coming year, "
                 "and members argued for hours about the state of the roads.")
# A heading with a year and no date: htmldate's extensive search hands it to dateparser, which
# then tries every locale and compiles each one's patterns on first use (1.2-1.4 s on this
# machine, then ~15 ms a call). Without it that happened on a worker's first such page, inside
# the page's time limit.
_WARM_UP_DATE_HEADING = "Top 10 tips for 2025"


def warm_up() -> None:
    """Load what cleaning loads lazily (the line model, its compiled trees, trafilatura's
    parsers, dateparser's locales) once, before any per-document time limit runs: an
    interrupted first load would be retried, and time out, on every page."""
    clean_page(_WARM_UP_TEXT, "text")
    clean_page(f"<html><body><article><h2>{_WARM_UP_DATE_HEADING}</h2><p>{_WARM_UP_TEXT}</p></article>"
               "</body></html>", FORMAT_HTML)


def document_from_clean(page: dict[str, Any], result: CleanResult) -> dict[str, Any]:
    """The document record (all columns but the language ones) for a cleaned page."""
    text = result.text
    return {
        "doc_id": doc_id_for(page["source"]),
        "source": page["source"],
        "format": page["format"],
        "encoding": page["encoding"],
        "title": result.title,
        "author": result.author,
        "published": result.published,
        "text": text,
        "content_hash": content_hash(text),
        "n_chars": len(text),
        "removed": [{"text": line.text, "reason": line.reason} for line in result.removed],
    }


class CleanDocuments(beam.DoFn):
    """RawPage dict -> (DOCUMENTS, document dict); pages with no article text, that take longer
    than the per-document limit, or that make the cleaner raise go to REJECTS (transforms.routing)."""

    def __init__(self, doc_timeout: float | None = DEFAULT_DOC_TIMEOUT_SECONDS) -> None:
        self._doc_timeout = doc_timeout

    def setup(self) -> None:
        self._removed_lines = Metrics.counter(NAMESPACE, "removed_lines")
        self._failures = Metrics.counter(NAMESPACE, "internal_errors")
        self._timeouts = Metrics.counter(NAMESPACE, "timeouts")
        warm_up()

    def process(self, page: dict[str, Any]) -> Iterator[Any]:
        source = page["source"]
        try:
            with deadline(self._doc_timeout):
                result = clean_page(page["content"], page["format"])
                document = document_from_clean(page, result) if result.paragraphs else None
        except DocumentTimeout:
            self._timeouts.inc()
            LOG.warning("cleaning %s took over %ss: rejected", source, self._doc_timeout)
            yield route(REJECTS, make_reject(source, "timeout", f"extraction and cleaning took longer than the "
                                                                f"per-document limit of {self._doc_timeout} s"))
            return
        except Exception as exc:  # one bad page must not fail the bundle; it is kept as a reject
            LOG.exception("cleaning %s failed", source)
            self._failures.inc()
            yield route(REJECTS, make_reject(source, "internal_error", f"cleaning raised {type(exc).__name__}: {exc}"))
            return
        self._removed_lines.inc(len(result.removed))
        if document is None:
            yield route(REJECTS, make_reject(source, "no_content",
                                             f"cleaning removed all {len(result.removed)} lines: no article text was found"))
            return
        yield route(DOCUMENTS, document)
