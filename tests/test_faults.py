"""Faults inside a run: a page that raises, a page that hangs, and the time guard itself."""
from __future__ import annotations

import re
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import transforms.clean
from pipeline.cli import main as pipeline_main
from tests.conftest import read_table
from transforms.clean import CleanDocuments
from transforms.routing import SplitRoutes
from transforms.timeguard import DocumentTimeout, deadline

ARTICLE = ("The meeting at the National Palace was called to discuss the new upsurge in the flow "
           "of people from Central and South America seeking to reach the United States.")


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_deadline_interrupts_a_python_loop_and_leaves_fast_work_alone():
    started = time.monotonic()
    with pytest.raises(DocumentTimeout):
        with deadline(0.2):
            busy(5)
    assert time.monotonic() - started < 2
    with deadline(1.0):
        busy(0.05)
    busy(0.3)  # a fired-then-cleared guard must not strike after its block


def test_deadline_of_zero_or_none_is_off():
    for seconds in (0, None):
        with deadline(seconds):
            busy(0.1)


@pytest.fixture
def faulty_cleaner(monkeypatch):
    """clean_page that hangs on 'slow' pages and raises on 'broken' ones."""
    real = transforms.clean.clean_page

    def patched(content, fmt, url=None):
        if "HANG" in content:
            busy(30)
        if "BREAK" in content:
            raise ValueError("injected failure")
        return real(content, fmt, url)

    monkeypatch.setattr(transforms.clean, "clean_page", patched)


def page(source, content):
    return {"source": source, "content": content, "format": "text", "encoding": "utf-8"}


def test_slow_page_becomes_a_timeout_reject_without_stalling_the_bundle(faulty_cleaner):
    pages = [page("/slow.txt", "HANG " + ARTICLE), page("/ok.txt", ARTICLE), page("/ok2.txt", ARTICLE + " Again.")]
    started = time.monotonic()
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(pages) | beam.ParDo(CleanDocuments(doc_timeout=0.5)) | SplitRoutes(
            "documents", "rejects")
        assert_that(out["documents"] | "Sources" >> beam.Map(lambda d: d["source"]),
                    equal_to(["/ok.txt", "/ok2.txt"]), label="CheckDocuments")
        assert_that(out["rejects"] | "Reasons" >> beam.Map(lambda r: (r["source"], r["reason"])),
                    equal_to([("/slow.txt", "timeout")]), label="CheckRejects")
    assert time.monotonic() - started < 20  # the hang alone would take 30 s


def test_an_exception_in_one_page_is_a_reject_and_the_rest_is_written(faulty_cleaner, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for number in range(4):
        (pages / f"ok{number}.txt").write_text(f"{ARTICLE} Story number {number} of the day.\n", encoding="utf-8")
    (pages / "broken.txt").write_text("BREAK " + ARTICLE, encoding="utf-8")
    out = tmp_path / "out"
    assert pipeline_main(["--input", str(pages / "*.txt"), "--output", str(out), "--runner=FnApiRunner"]) == 0
    rejects = read_table(out, "rejects")
    assert [(r["source"].rsplit("/", 1)[1], r["reason"]) for r in rejects] == [("broken.txt", "internal_error")]
    assert "ValueError: injected failure" in rejects[0]["detail"]
    written = read_table(out, "documents") + read_table(out, "duplicates")
    assert sorted(r["source"].rsplit("/", 1)[1] for r in written) == [f"ok{n}.txt" for n in range(4)]


@pytest.mark.slow
def test_a_run_killed_midway_leaves_no_partial_table_file_and_a_rerun_completes(tmp_path):
    import subprocess
    import sys

    import pyarrow.parquet as pq

    from tests.conftest import REPO_ROOT, SEEDS

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline", "--input", str(SEEDS / "*.txt"), "--output", str(out),
           "--runner=FnApiRunner", "--num_shards=2"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    give_up = time.monotonic() + 120
    # Kill the moment the first Parquet file appears anywhere (a shard being written).
    while proc.poll() is None and time.monotonic() < give_up and not list(out.rglob("*.parquet")):
        time.sleep(0.005)
    proc.kill()
    proc.wait(timeout=30)
    for table in ("documents", "duplicates", "rejects"):
        for path in (out / table).glob("*.parquet"):  # what a reader globbing the table picks up
            pq.read_table(path)  # must be a complete file, never a partial one
    if proc.returncode < 0:  # killed before the end: no summary unless the tables were complete
        assert not (out / "run.json").exists() or len(read_table(out, "documents")) == 4
    rerun = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len(read_table(out, "documents")) == 4 and len(read_table(out, "duplicates")) == 1


def test_a_timeout_inside_the_html_extractor_is_not_swallowed(monkeypatch):
    import transforms.htmlclean
    from transforms.clean import clean_page

    monkeypatch.setattr(transforms.htmlclean, "_extract", lambda html, url: busy(30))
    started = time.monotonic()
    with pytest.raises(DocumentTimeout):
        with deadline(0.3):
            clean_page("<html><body><p>x</p></body></html>", "html")
    assert time.monotonic() - started < 5


def test_a_run_whose_dedup_steps_disagree_exits_1_and_says_which_hop(tmp_path, monkeypatch, capsys, caplog):
    import pipeline.cli as cli
    from transforms import dedup, spill
    real = dedup.read_blobs

    def pair_files_come_back_empty(paths):
        return real([path for path in paths if not path.endswith(spill.PAIRS_SUFFIX)])

    monkeypatch.setattr(dedup, "read_blobs", pair_files_come_back_empty)
    seeds = Path(__file__).resolve().parents[1] / "seeds"
    code = cli.main(["--input", str(seeds / "*"), "--output", str(tmp_path / "out"), "--runner=FnApiRunner"])
    assert code == 1
    assert "STEPS DISAGREE: bytes of colliding pairs, BucketPairs -> EnoughCollisions" in capsys.readouterr().out
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert any(error.startswith("dedup steps disagree on bytes of colliding pairs") for error in errors), errors
    # without a state folder the output is published all the same: the next run starts afresh
    assert len(read_table(tmp_path / "out", "documents")) == 5


def _one_worker_kept_a_third(partitions: int) -> list[tuple[str, int]]:
    """In place of the zero seeds: counts as if the odd pair partitions' worker had kept a third
    of its pages first in a candidate pair, in a run large enough to judge (16 partitions)."""
    from transforms.dedup import FIRSTS_PREFIX
    return [(f"{FIRSTS_PREFIX}{p}", 300 if p % 2 else 900) for p in range(max(partitions, 16))]


@pytest.mark.parametrize("incremental", [False, True])
def test_a_run_whose_pair_partitions_come_out_uneven_exits_1_and_an_incremental_one_is_not_committed(
        tmp_path, monkeypatch, capsys, caplog, incremental):
    import json

    import pipeline.cli as cli
    from transforms import dedup

    monkeypatch.setattr(dedup, "pair_partition_seeds", _one_worker_kept_a_third)
    seeds = Path(__file__).resolve().parents[1] / "seeds"
    out, state = tmp_path / "out", tmp_path / "state"
    args = ["--input", str(seeds / "*"), "--output", str(out), "--runner=FnApiRunner",
            *(["--state", str(state)] if incremental else [])]
    assert cli.main(args) == 1
    printed = capsys.readouterr().out
    # the seeds' own pages add to a partition or two (which ones depends on the checkout's path)
    assert re.search(r"PAIR PARTITIONS UNEVEN: pair partition 1: 30\d pages", printed), printed
    errors = [record.getMessage() for record in caplog.records if "near duplicates may have been missed" in record.getMessage()]
    assert len(errors) == 8 and all(error.startswith("dedup pair partition ") for error in errors)
    if not incremental:
        assert len(read_table(out, "documents")) == 4
        assert json.loads((out / "run.json").read_text())["published"] is True
        return
    # Not committed: committed, its inputs would be skipped as ingested, their near duplicates never found.
    assert "NOT COMMITTED" in printed and all("ingests its inputs again" in error for error in errors)
    assert not (state / "state.json").exists() and not list(out.glob("run=*"))
    # of its staged files only the summary is left, for the next run to report
    assert [path.name for path in out.glob("_tmp/**/*") if path.is_file()] == ["run.json"]
    assert not list(state.glob("_tmp/*"))
    held = [json.loads(path.read_text()) for path in out.glob("_tmp/*/run.json")]
    assert [summary["published"] for summary in held] == [False]

    monkeypatch.undo()
    caplog.clear()
    assert cli.main(args) == 0  # the next run ingests them again
    assert any("was not committed, its near-duplicate check failed (dedup pair partition 1: 30" in record.getMessage()
               for record in caplog.records)
    runs = json.loads((state / "state.json").read_text())["runs"]
    assert [(run["inputs"], run["skipped"], run["documents"]) for run in runs] == [(5, 0, 4)]
    assert not list(out.glob("_tmp/*"))
