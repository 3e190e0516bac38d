"""HTML cleaner: trafilatura extraction (placeholder until post-cleaning lands)."""
from __future__ import annotations

import datetime

import trafilatura

from transforms.records import CleanResult


def clean_html(html: str, url: str | None = None) -> CleanResult:
    doc = trafilatura.bare_extraction(html, url=url, deduplicate=False, with_metadata=True, fast=True)
    if doc is None or not doc.text:
        return CleanResult(None, None, None, (), ())
    published = None
    if doc.date:
        try:
            published = datetime.date.fromisoformat(doc.date[:10])
        except ValueError:
            published = None
    paragraphs = tuple(p.strip() for p in doc.text.split("\n") if p.strip())
    return CleanResult(doc.title or None, doc.author or None, published, paragraphs, ())
