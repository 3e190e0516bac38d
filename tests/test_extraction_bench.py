"""The benchmark's metric on hand-made cases, and a small real run when the data is present."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.extraction import (
    aggregate, author_matches, date_matches, main, page_counts, shingles, title_matches)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "aeb-dev"


def test_shingles_with_multiplicity_and_short_texts():
    assert sum(shingles("a b c d e").values()) == 2
    assert shingles("a b a b a b")[("a", "b", "a", "b")] == 2
    assert shingles("only three words") == {("only", "three", "words"): 1}
    assert shingles("") == {} and shingles("!!! ---") == {}


def test_page_counts():
    truth = "one two three four five six"
    assert page_counts(truth, truth) == (3, 0, 0)
    assert page_counts("", truth) == (0, 0, 3)
    assert page_counts("one two three four zzz", truth) == (1, 1, 2)
    # Punctuation and line breaks do not matter: tokens are \w+ runs.
    assert page_counts("one, two.\n\nthree four", "one two three four") == (1, 0, 0)


def test_aggregate_averages_per_page_and_skips_undefined():
    metrics = aggregate([(1, 0, 1), (0, 0, 4), (2, 2, 0)])
    # precision over pages 1 and 3: (1 + 0.5) / 2; recall over all three: (0.5 + 0 + 1) / 3
    assert metrics["precision"] == pytest.approx(0.75)
    assert metrics["recall"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert aggregate([])["f1"] == 0.0


def test_metadata_matching_is_lenient_but_not_loose():
    assert title_matches("Budget Talks End", "budget talks end")
    assert not title_matches("Budget", "Budget talks end in agreement today")
    assert author_matches("Jane Roe and John Doe", "John Doe, Jane Roe")
    assert not author_matches("Jane Roe", "John Doe")
    import datetime
    assert date_matches(datetime.date(2023, 12, 27), "2023-12-27T10:00:00")
    assert not date_matches(None, "2023-12-27")


@pytest.mark.skipif(not DATA.exists(), reason="aeb-dev data set not present")
@pytest.mark.parametrize("mode", ["html", "text"])
def test_bench_runs_on_five_pages(mode, tmp_path, capsys):
    predictions = tmp_path / "pred.json"
    assert main(["--data", str(DATA), "--mode", mode, "--limit", "5",
                 "--predictions", str(predictions)]) == 0
    out = capsys.readouterr().out
    assert "ours" in out and "trafilatura" in out
    import json
    written = json.loads(predictions.read_text())
    assert len(written) == 5 and all("articleBody" in v for v in written.values())
