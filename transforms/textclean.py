"""Plain-text cleaner (placeholder until the trained line classifier lands): keeps every
non-blank line as a paragraph."""
from __future__ import annotations

from transforms.records import CleanResult


def clean_text(text: str) -> CleanResult:
    paragraphs = tuple(line.strip() for line in text.split("\n") if line.strip())
    return CleanResult(title=None, author=None, published=None, paragraphs=paragraphs, removed=())
