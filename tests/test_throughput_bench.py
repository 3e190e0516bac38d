"""The throughput bench's corpus: built from the AEB pages, never silently from the seeds alone."""
from __future__ import annotations

import pytest

from bench import throughput


def test_base_pages_refuse_to_build_a_corpus_without_the_aeb_pages(tmp_path, monkeypatch):
    # The seeds alone would still give pages: five small plain-text ones, no HTML.
    monkeypatch.setattr(throughput, "AEB", tmp_path / "aeb-dev")
    with pytest.raises(SystemExit, match="no base pages"):
        throughput.base_pages()


def test_base_pages_are_the_aeb_pages_in_both_formats_plus_the_seeds():
    if not (throughput.AEB / "html").is_dir():
        pytest.skip("../shared/data/aeb-dev is absent")
    pages = throughput.base_pages()
    html = [content for fmt, content in pages if fmt == "html"]
    seeds = sorted((throughput.REPO / "seeds").glob("*.txt"))
    assert html and len(pages) == 2 * len(html) + len(seeds)
