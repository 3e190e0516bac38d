"""The throughput bench's corpus: built from the AEB pages, never silently from the seeds alone."""
from __future__ import annotations

import gzip

import pytest
import trafilatura

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


def test_the_floor_loop_counts_every_file_and_extracts_only_html(tmp_path, monkeypatch):
    article = "<html><body><article><p>" + "The council met on Monday to discuss the budget. " * 8 + "</p></article></body></html>"
    (tmp_path / "a.html").write_text(article, encoding="utf-8")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress("Der Rat tagte am Montag über den Haushalt.".encode()))
    (tmp_path / "c.txt").write_text("<p>not html by name</p> and some words to detect", encoding="utf-8")
    extracted = []
    real_extract = trafilatura.extract
    monkeypatch.setattr(trafilatura, "extract", lambda text: extracted.append(text) or real_extract(text))
    result = throughput.floor_loop(tmp_path)
    assert result["docs"] == 3 and extracted == [article]
    assert set(result["parts"]) == {"read", "extract", "langdetect"}
    assert 0 < sum(result["parts"].values()) <= result["seconds"]
