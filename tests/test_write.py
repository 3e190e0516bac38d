import datetime

import pyarrow.parquet as pq
import pytest

from pipeline import ARROW_POOL_VARIABLE, MALLOC_ARENAS_VARIABLE, WORKER_ALLOCATOR_ENVIRONMENT
from transforms.records import DOCUMENT_SCHEMA, REJECT_SCHEMA, make_reject
import transforms.write
from transforms.write import build_summary, merge_stats, row_stats, shard_of, write_parquet


def doc(doc_id, language="en", removed=()):
    return {
        "doc_id": doc_id, "source": f"/in/{doc_id}.txt", "format": "text", "encoding": "utf-8",
        "title": "T", "author": None, "published": datetime.date(2023, 12, 27), "text": "Body.",
        "language": language, "language_score": 1.0, "content_hash": "h" + doc_id, "n_chars": 5,
        "removed": [{"text": t, "reason": r} for t, r in removed],
    }


def test_shards_are_stable_and_spread():
    shards = [shard_of({"doc_id": f"{i:016x}"}, 4) for i in range(200)]
    assert shards == [shard_of({"doc_id": f"{i:016x}"}, 4) for i in range(200)]
    assert set(shards) == {0, 1, 2, 3}


def test_parquet_round_trip_keeps_types_and_descriptions(tmp_path):
    path = str(tmp_path / "part.parquet")
    rows = [doc("a", removed=[("Share", "chrome_short")]), doc("b", language="de")]
    stats = write_parquet(path, DOCUMENT_SCHEMA, rows)
    table = pq.read_table(path)
    assert table.schema.field("published").type == DOCUMENT_SCHEMA.field("published").type
    assert table.schema.field("text").metadata[b"description"]
    assert table.to_pylist()[0]["removed"] == [{"text": "Share", "reason": "chrome_short"}]
    assert stats == {"rows": 2, "languages": {"de": 1, "en": 1}, "reasons": {},
                     "removed": {"chrome_short": 1}, "kinds": {}}


def test_row_groups_close_on_text_size_as_well_as_row_count(tmp_path, monkeypatch):
    # Long pages must not wait for ROW_GROUP_ROWS rows in memory.
    monkeypatch.setattr(transforms.write, "ROW_GROUP_TEXT_BYTES", 10_000)
    rows = []
    for i in range(6):
        row = doc(f"d{i}", removed=[("x" * 1000, "chrome_short")])
        row["text"] = "word " * 1000  # 5,000 characters: two pages and their removed lines fill a group
        rows.append(row)
    path = str(tmp_path / "part.parquet")
    assert write_parquet(path, DOCUMENT_SCHEMA, rows)["rows"] == 6
    parquet = pq.ParquetFile(path)
    assert [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)] == [2, 2, 2]
    assert [r["doc_id"] for r in parquet.read().to_pylist()] == [f"d{i}" for i in range(6)]


def test_rows_converted_in_small_batches_still_make_whole_row_groups(tmp_path, monkeypatch):
    # Rows go to Arrow a few at a time; the row groups and the counts must not show it.
    monkeypatch.setattr(transforms.write, "ROWS_PER_ARROW_BATCH", 3)
    rows = [doc(f"d{i:02d}", language="de" if i % 4 else "en", removed=[("Share", "chrome_short")])
            for i in range(20)]
    path = str(tmp_path / "part.parquet")
    writer = transforms.write.ParquetRowWriter(path, DOCUMENT_SCHEMA, group_rows=7)
    for row in rows:
        writer.add(row)
        assert len(writer._rows) < 3  # never more than a batch's worth held as Python rows
    stats = writer.close()
    parquet = pq.ParquetFile(path)
    assert [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)] == [7, 7, 6]
    assert parquet.read().to_pylist() == [transforms.write.project(row, DOCUMENT_SCHEMA) for row in rows]
    assert stats == {"rows": 20, "languages": {"de": 15, "en": 5}, "reasons": {},
                     "removed": {"chrome_short": 20}, "kinds": {}}


def test_empty_table_is_a_readable_file_with_the_schema(tmp_path):
    path = str(tmp_path / "empty.parquet")
    assert write_parquet(path, REJECT_SCHEMA, [])["rows"] == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.names == REJECT_SCHEMA.names


def test_summary_accounts_for_every_input():
    shards = [
        {"table": "documents", "stats": row_stats("documents", [doc("a"), doc("b")])},
        {"table": "rejects", "stats": row_stats("rejects", [make_reject("/x", "binary", "not text")])},
    ]
    summary = build_summary({"inputs": 3}, shards, {"run_id": "r"})
    assert summary["counts"]["accounted"] is True
    assert summary["counts"]["rejects_by_reason"] == {"binary": 1}
    assert build_summary({"inputs": 4}, shards, {"run_id": "r"})["counts"]["accounted"] is False
    # An incremental run accounts for the inputs an earlier run ingested unchanged as skipped.
    assert build_summary({"inputs": 4, "skipped": 1}, shards, {"run_id": "r"})["counts"]["accounted"] is True


def test_merge_stats_adds_counters():
    merged = merge_stats([row_stats("rejects", [make_reject("/x", "binary", "d")]),
                          row_stats("rejects", [make_reject("/y", "binary", "d"), make_reject("/z", "empty", "d")])])
    assert merged["rows"] == 3 and merged["reasons"] == {"binary": 2, "empty": 1}


def _child_malloc_arenas(env: dict[str, str]) -> str:
    """MALLOC_ARENA_MAX as a child sees it that a fresh interpreter starts after importing the
    pipeline package, as a local runner starts its SDK workers."""
    import os
    import subprocess
    import sys

    child = "import os; print(os.environ.get('MALLOC_ARENA_MAX', 'unset'))"
    script = ("import pipeline.cli, subprocess, sys\n"
              f"print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True,"
              " check=True).stdout.strip())\n")
    base = {k: v for k, v in os.environ.items() if k != MALLOC_ARENAS_VARIABLE}
    return subprocess.run([sys.executable, "-c", script], env={**base, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_worker_processes_start_with_few_malloc_arenas_unless_the_user_chose():
    assert _child_malloc_arenas({}) == "2"
    assert _child_malloc_arenas({MALLOC_ARENAS_VARIABLE: "8"}) == "8"


def test_the_worker_image_sets_the_allocator_variables_the_package_sets_for_local_workers():
    import pathlib

    dockerfile = pathlib.Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile"
    image_env = [pair for line in dockerfile.read_text().splitlines() if line.startswith("ENV ")
                 for pair in line.split()[1:]]
    assert sorted(image_env) == sorted(f"{name}={value}" for name, value in WORKER_ALLOCATOR_ENVIRONMENT.items())


def _arrow_pools(env: dict[str, str], first_import: str | None) -> list[str]:
    """[Arrow's default pool in a fresh interpreter that imports `first_import` and then the
    pipeline package, the default pool of a child it starts, as a runner starts SDK workers];
    with `first_import` None, only Arrow's own default in a fresh interpreter."""
    import os
    import subprocess
    import sys

    child = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    script = child if first_import is None else (
        f"import {first_import}\n"
        "import pipeline.cli, subprocess, sys\n"
        "import pyarrow as pa\n"
        f"child = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True, check=True)\n"
        "print(pa.default_memory_pool().backend_name, child.stdout.strip())\n"
    )
    base = {k: v for k, v in os.environ.items() if k != ARROW_POOL_VARIABLE}
    done = subprocess.run([sys.executable, "-c", script], env={**base, **env}, capture_output=True, text=True,
                          check=True)
    return done.stdout.split()


def test_the_pipeline_puts_arrow_itself_and_its_worker_processes_on_the_system_allocator():
    [arrows_own] = _arrow_pools({}, None)  # mimalloc in today's wheels
    if arrows_own == "system":
        pytest.skip("this pyarrow build defaults to the system allocator")
    # As the entry points import it: before pyarrow, so Arrow's own C++ default changes too.
    assert _arrow_pools({}, "pipeline") == ["system", "system"]
    # Imported after pyarrow (a notebook, a test): this process keeps Arrow's choice, the
    # worker processes it starts still get the system allocator.
    assert _arrow_pools({}, "pyarrow") == [arrows_own, "system"]
    # A pool the user chose is theirs.
    assert _arrow_pools({ARROW_POOL_VARIABLE: arrows_own}, "pipeline") == [arrows_own, arrows_own]
