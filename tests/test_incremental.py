"""Scheduled, incremental runs with --state: skip what was ingested, deduplicate against earlier
runs, publish one folder per run, and commit the state last so a failed run leaves no trace."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline import assembly
from pipeline.assembly import dedup_config
from pipeline.cli import main as pipeline_main
from tests.conftest import REPO_ROOT, SEEDS, read_table
from transforms.state import state_files

TABLES = ("documents", "duplicates", "rejects")


def seed(prefix: str) -> Path:
    return next(SEEDS.glob(f"{prefix}_*"))


def ingest(inputs: Path, out: Path, state: Path) -> dict:
    """One incremental run in this process; returns its run.json."""
    before = set(out.glob("run=*")) if out.exists() else set()
    assert pipeline_main(["--input", str(inputs / "*"), "--output", str(out), "--state", str(state),
                          "--runner=FnApiRunner", "--num_shards=2"]) == 0
    new_run = max(set(out.glob("run=*")) - before)  # a recovered earlier run may appear too
    return json.loads((new_run / "run.json").read_text())


def all_runs(out: Path, table: str) -> list[dict]:
    """A table over every run, the way a downstream reader gets it: one hive-partitioned glob."""
    return duckdb.sql(f"select * from read_parquet('{out}/run=*/{table}/*.parquet', hive_partitioning=true)"
                      ).to_arrow_table().to_pylist()


@pytest.fixture
def first_run(tmp_path):
    """Seeds 000-003 ingested by a first run."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for prefix in ("000", "001", "002", "003"):
        shutil.copy(seed(prefix), inputs)
    out, state = tmp_path / "out", tmp_path / "state"
    summary = ingest(inputs, out, state)
    assert (summary["counts"]["documents"], summary["counts"]["skipped"]) == (4, 0)
    return inputs, out, state


def test_a_second_run_over_the_same_input_ingests_nothing(first_run):
    inputs, out, state = first_run
    summary = ingest(inputs, out, state)
    counts = summary["counts"]
    assert (counts["inputs"], counts["skipped"], counts["documents"], counts["duplicates"], counts["rejects"]) \
        == (4, 4, 0, 0, 0)
    assert counts["accounted"]
    assert len(all_runs(out, "documents")) == 4  # still one row per article over both runs
    assert [run["skipped"] for run in json.loads((state / "state.json").read_text())["runs"]] == [0, 4]


def test_a_new_copy_of_an_earlier_document_is_a_duplicate_of_it(first_run, monkeypatch):
    inputs, out, state = first_run
    earlier = {Path(row["source"]).name[:3]: row["doc_id"] for row in all_runs(out, "documents")}
    shutil.copy(seed("001"), inputs / "republished-001.txt")  # the same bytes under a new name
    shutil.copy(seed("004"), inputs)  # another rendering of 000's wire story
    sized_for = []
    monkeypatch.setattr(assembly, "dedup_config", lambda n: sized_for.append(n) or dedup_config(n))
    summary = ingest(inputs, out, state)
    # the earlier run's 4 kept documents are deduplicated against, as the 6 inputs matched now are
    assert sized_for == [6 + 4]
    assert (summary["counts"]["skipped"], summary["counts"]["documents"], summary["counts"]["duplicates"]) == (4, 0, 2)
    dups = {Path(row["source"]).name[:3]: row for row in all_runs(out, "duplicates")}
    assert (dups["rep"]["duplicate_of"], dups["rep"]["duplicate_kind"]) == (earlier["001"], "exact")
    assert (dups["004"]["duplicate_of"], dups["004"]["duplicate_kind"]) == (earlier["000"], "near")
    # Every duplicate points at a row of some run's documents table.
    assert {row["duplicate_of"] for row in dups.values()} <= set(earlier.values())


def test_a_changed_input_is_ingested_again_as_a_new_version(first_run):
    inputs, out, state = first_run
    path = next(inputs.glob("002_*"))
    first_id = next(r["doc_id"] for r in all_runs(out, "documents") if r["source"].endswith(path.name))
    unchanged_body = next(inputs.glob("003_*"))
    unchanged_body.write_text(unchanged_body.read_text(encoding="utf-8") + "\n\n\n", encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "\n\n", "\n\nThe ministry published the full figures for the year on its website on Friday.\n\n", 1),
        encoding="utf-8")
    summary = ingest(inputs, out, state)
    assert (summary["counts"]["skipped"], summary["counts"]["documents"], summary["counts"]["duplicates"]) == (2, 1, 1)
    latest = max(all_runs(out, "documents"), key=lambda row: row["run"])
    assert latest["doc_id"] == first_id and "full figures" in latest["text"]
    # New bytes, same clean text: an exact duplicate of its own earlier document.
    (dup,) = all_runs(out, "duplicates")
    assert dup["source"].endswith(unchanged_body.name) and dup["duplicate_of"] == dup["doc_id"]


def test_retriable_rejects_stay_out_of_the_manifest(tmp_path):
    from transforms.state import RETRIED_REASONS, _manifest_rows

    fingerprint = {"source": "/in/a.txt", "size": 3, "sha256": "x"}
    kept = _manifest_rows(("/in/a.txt", {"fingerprints": [fingerprint], "rejects": []}), "r1")
    assert [row["source"] for row in kept] == ["/in/a.txt"]
    for reason in RETRIED_REASONS:
        assert _manifest_rows(("/in/a.txt", {"fingerprints": [fingerprint], "rejects": [{"reason": reason}]}), "r1") == []


def state_snapshot(state: Path) -> dict[str, bytes]:
    return {str(p.relative_to(state)): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()}


def test_a_run_killed_before_its_state_commit_leaves_the_state_as_it_was(first_run):
    inputs, out, state = first_run
    shutil.copy(seed("004"), inputs)
    before = state_snapshot(state)
    runs_before = sorted(p.name for p in out.glob("run=*"))
    # The process dies the moment it would commit: every shard is staged, nothing committed.
    killer = ("import os, sys, transforms.state as s; "
              "s.commit_state = lambda *a: os._exit(9); "
              "from pipeline.cli import main; sys.exit(main(sys.argv[1:]))")
    died = subprocess.run([sys.executable, "-c", killer, "--input", str(inputs / "*"), "--output", str(out),
                           "--state", str(state), "--runner=FnApiRunner"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert died.returncode == 9, died.stderr[-2000:]
    assert list((state / "_tmp").rglob("*.parquet")), "the run should have staged its state files"
    assert {k: v for k, v in state_snapshot(state).items() if not k.startswith("_tmp/")} == before
    assert sorted(p.name for p in out.glob("run=*")) == runs_before  # nothing published
    # The next run discards the dead run's files and does its work, once.
    summary = ingest(inputs, out, state)
    assert (summary["counts"]["skipped"], summary["counts"]["duplicates"]) == (4, 1)
    assert not list(state.glob("_tmp/*")) and not list(out.glob("_tmp/*"))
    assert len(json.loads((state / "state.json").read_text())["runs"]) == 2
    assert sorted(Path(r["source"]).name[:3] for r in all_runs(out, "documents") + all_runs(out, "duplicates")) \
        == ["000", "001", "002", "003", "004"]


def test_a_run_stopped_after_its_commit_is_published_by_the_next(first_run, monkeypatch):
    import transforms.write

    inputs, out, state = first_run
    shutil.copy(seed("004"), inputs)
    monkeypatch.setattr(transforms.write, "publish", lambda layout: (_ for _ in ()).throw(OSError("gone")))
    with pytest.raises(Exception, match="gone"):
        ingest(inputs, out, state)
    monkeypatch.undo()
    assert len(json.loads((state / "state.json").read_text())["runs"]) == 2  # committed
    summary = ingest(inputs, out, state)  # recovers first: publishes the committed run's files
    assert summary["counts"]["skipped"] == 5
    assert [Path(r["source"]).name[:3] for r in all_runs(out, "duplicates")] == ["004"]


def test_without_state_the_output_is_replaced_not_partitioned(tmp_path):
    out = tmp_path / "out"
    assert pipeline_main(["--input", str(SEEDS / "*"), "--output", str(out), "--runner=FnApiRunner"]) == 0
    assert not list(out.glob("run=*")) and len(read_table(out, "documents")) == 4
    assert {p.name for p in out.iterdir()} == {*TABLES, "run.json"}


def test_state_files_are_those_of_committed_runs_in_run_order(tmp_path):
    for run_id in ("a", "b", "c"):
        folder = tmp_path / "index" / f"run={run_id}"
        folder.mkdir(parents=True)
        for name in ("part-1.parquet", "part-0.parquet"):
            (folder / name).write_bytes(b"")
    found = state_files(str(tmp_path), "index", ["b", "a"])
    assert [os.path.relpath(p, tmp_path) for p in found] == [
        "index/run=b/part-0.parquet", "index/run=b/part-1.parquet",
        "index/run=a/part-0.parquet", "index/run=a/part-1.parquet"]
