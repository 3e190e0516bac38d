"""The CLI on seeds/, read back the way a downstream user would (DuckDB); other runners in test_runners.py."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.timings import STAGES, parse_stage_seconds
from tests.conftest import SEEDS, read_table

CHROME = [
    "Politics\n", "csr/mcd", "Related Articles", "Back to top", "Sitelerimizde", "çerez",
    "Leave a Comment", "Your email address will not be published", "Scroll to Top",
    "Monday, October 7", "Avatar of", "Keep reading", "La Opinión Hoy: 10,000",
    "Mabel is a talented", "(JO)",
]
KEPT_HEADINGS = ["Exodus from poverty", "Immigration record"]


def run_cli(output: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline", "--input", str(SEEDS / "*.txt"), "--output", str(output), *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("default") / "out"
    return out, run_cli(out)  # no --runner: Beam's default DirectRunner


def test_seeds_give_four_documents_one_duplicate_no_rejects(default_run):
    out, result = default_run
    con = duckdb.connect()
    docs = con.sql(f"select doc_id, source, language, text, title from read_parquet('{out}/documents/*.parquet')").fetchall()
    dups = con.sql(f"select source, duplicate_of, similarity, duplicate_kind from read_parquet('{out}/duplicates/*.parquet')").fetchall()
    rejects = con.execute(f"select count(*) from read_parquet('{out}/rejects/*.parquet')").fetchone()[0]
    assert len(docs) == 4 and len(dups) == 1 and rejects == 0
    assert {row[2] for row in docs} == {"en"}
    by_id = {row[0]: Path(row[1]).name[:3] for row in docs}
    (dup_source, duplicate_of, similarity, kind) = dups[0]
    assert {Path(dup_source).name[:3], by_id[duplicate_of]} == {"000", "004"}
    assert kind == "near" and 0 < similarity <= 1
    assert "inputs             5" in result.stdout and "accounted   yes" in result.stdout


def test_the_summary_says_where_the_time_went_per_stage(default_run):
    _, result = default_run
    seconds = parse_stage_seconds(result.stdout)
    # five pages are too few for a meaningful split (the sampler looks every few ms), not for one
    assert set(seconds) == set(STAGES) and sum(seconds.values()) > 0, result.stdout


def test_the_summary_checks_that_the_near_duplicate_steps_passed_everything_on(default_run):
    _, result = default_run
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("near dups"))
    # the seeds' one near pair (000, 004) was judged and joined: its counts reached the commit step
    assert "1 near-duplicate edges" in line and line.endswith("steps agree"), line


def test_no_chrome_in_any_text_and_headings_stay(default_run):
    out, _ = default_run
    texts = [r["text"] + "\n" for r in read_table(out, "documents") + read_table(out, "duplicates")]
    for chrome in CHROME:
        assert not any(chrome in text for text in texts), chrome
    for heading in KEPT_HEADINGS:
        assert any(f"\n{heading}\n" in f"\n{text}" for text in texts), heading


def test_removed_lines_are_recorded_with_reasons(default_run):
    out, _ = default_run
    rows = read_table(out, "documents") + read_table(out, "duplicates")
    removed = {line["text"].strip(): line["reason"] for row in rows for line in row["removed"]}
    for chrome in ["Politics", "csr/mcd", "Related Articles", "Back to top button", "X", "Scroll to Top"]:
        assert removed.get(chrome), chrome


def test_run_summary_matches_the_tables(default_run):
    out, _ = default_run
    summary = json.loads((out / "run.json").read_text())
    counts = summary["counts"]
    assert (counts["inputs"], counts["documents"], counts["duplicates"], counts["rejects"]) == (5, 4, 1, 0)
    assert counts["accounted"] and counts["languages"] == {"en": 4}
    assert sum(counts["removed_lines_by_reason"].values()) == sum(
        len(r["removed"]) for r in read_table(out, "documents") + read_table(out, "duplicates"))
    assert summary["versions"]["apache-beam"] and summary["started"] <= summary["finished"]


def test_rerun_replaces_previous_output(tmp_path):
    out = tmp_path / "out"
    run_cli(out, "--runner=FnApiRunner", "--num_shards=1")
    stale = out / "documents" / "part-00009.parquet"
    stale.write_bytes((out / "documents" / "part-00000.parquet").read_bytes())
    run_cli(out, "--runner=FnApiRunner", "--num_shards=1")
    assert not stale.exists()
    assert len(read_table(out, "documents")) == 4
    assert not list((out / "_tmp").glob("*/*/*.parquet"))


def test_typo_in_our_flag_is_an_error_and_help_lists_our_flags(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(SEEDS / "*"), "--outptu", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "did you mean --output" in bad.stderr
    helped = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--input" in helped.stdout and "--max_decompressed_bytes" in helped.stdout


def test_glob_matching_nothing_is_an_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(tmp_path / "*.none"),
                             "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "nothing to ingest" in result.stderr
