"""Render an HTML page to its whole visible text, as a person copying from a browser gets it.

This is how the text-mode benchmark builds its inputs from HTML, kept in the package so that
anyone can reproduce them. Site chrome (menus, footers, cookie banners) stays in: separating
it from the article is the text cleaner's job, not the renderer's.
"""
from __future__ import annotations

import re

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

# Inscriptis pads table cells and indents list items with runs of spaces; one space is what
# a browser copy gives, and it keeps line comparisons stable.
_SPACE_RUN = re.compile(r"[ \t\u00a0]{2,}")
_CONFIG = ParserConfig(display_images=False, display_links=False, display_anchors=False,
                       table_cell_separator="  ")


def render_visible_text(html: str) -> str:
    """The page's visible text: one block per line, blocks separated by one blank line.

    Never raises on malformed markup: returns "" when the page cannot be parsed at all.
    """
    if not html or not html.strip():
        return ""
    try:
        rendered = get_text(html, _CONFIG)
    except Exception:  # inscriptis/lxml reject some garbage (e.g. bare XML declarations)
        return ""
    lines = []
    for raw in rendered.splitlines():
        line = _SPACE_RUN.sub(" ", raw).strip()
        if line:
            lines.append(line)
    return "\n\n".join(lines)
