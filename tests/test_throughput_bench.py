"""The throughput bench's corpus: built from the AEB pages, never silently from the seeds alone."""
from __future__ import annotations

import gzip
import subprocess
import sys
import time

import langdetect
import pytest
import trafilatura

from bench import throughput
from tests.conftest import REPO_ROOT


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

    def slow_extract(text: str) -> str:
        extracted.append(text)
        time.sleep(0.2)  # so that the split must charge it to "extract"
        return real_extract(text)

    monkeypatch.setattr(trafilatura, "extract", slow_extract)
    langdetect.detect("The council met on Monday.")  # its profiles load on first use: not in the split
    result = throughput.floor_loop(tmp_path)
    assert result["docs"] == 3 and extracted == [article]
    assert set(result["parts"]) == {"read", "extract", "langdetect"}
    assert result["parts"]["extract"] >= 0.2 > result["parts"]["read"] + result["parts"]["langdetect"]
    assert sum(result["parts"].values()) <= result["seconds"]


def test_the_floor_loop_does_not_import_beam(tmp_path):
    """The library floor runs as `python -m bench.throughput --floor`: a Beam import there would
    be counted as floor time and memory."""
    (tmp_path / "a.txt").write_text("The council met on Monday to discuss the budget for the year.", encoding="utf-8")
    code = ("import sys, bench.throughput as t; t.floor_loop(__import__('pathlib').Path(sys.argv[1])); "
            "print('apache_beam' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
