"""Write stage: the three tables as Parquet, committed at the end of the run, plus run.json.

One terminal branch writes everything: rows are keyed by (table, shard), grouped, and each
shard's file is written inside `process()` to a temporary folder; a single commit step then
replaces the previous run's files and writes the run summary from what the shards report.
That keeps the output atomic for readers (a killed run leaves only `_tmp/`, which readers skip),
needs no Beam sink or metrics (the Dask runner drops `finish_bundle` output and cannot query
metrics), and leaves one sink in the graph.
"""
from __future__ import annotations

import collections
import datetime
import json
import logging
import zlib
from typing import Any, Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.records import TABLE_SCHEMAS, project

LOG = logging.getLogger(__name__)

TMP_DIR = "_tmp"
RUN_SUMMARY = "run.json"
ROW_GROUP_ROWS = 2000  # bounded memory per shard writer; large enough for good compression
INPUTS_KEY = "inputs"


def shard_of(row: dict[str, Any], num_shards: int) -> int:
    """A row's shard: a stable hash of its doc_id (Python's hash() differs between processes)."""
    return zlib.crc32(row["doc_id"].encode("utf-8")) % num_shards


def part_name(shard: int) -> str:
    return f"part-{shard:05d}.parquet"


def empty_stats() -> dict[str, Any]:
    return {"rows": 0, "languages": {}, "reasons": {}, "removed": {}, "kinds": {}}


def row_stats(table: str, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts the run summary needs from one batch of rows of a table."""
    languages: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    removed: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    n = 0
    for row in rows:
        n += 1
        if table == "rejects":
            reasons[row["reason"]] += 1
            continue
        languages[row["language"]] += 1
        removed.update(line["reason"] for line in row.get("removed") or ())
        if table == "duplicates":
            kinds[row["duplicate_kind"]] += 1
    return {"rows": n, "languages": dict(languages), "reasons": dict(reasons),
            "removed": dict(removed), "kinds": dict(kinds)}


def merge_stats(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total = empty_stats()
    for part in parts:
        total["rows"] += part["rows"]
        for key in ("languages", "reasons", "removed", "kinds"):
            counter = collections.Counter(total[key])
            counter.update(part[key])
            total[key] = dict(sorted(counter.items()))
    return total


def write_parquet(path: str, schema: pa.Schema, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Write rows to one Parquet file on any Beam filesystem, in bounded row groups."""
    table_name = schema.metadata[b"table"].decode()
    stats_parts = []
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        with pq.ParquetWriter(pa.PythonFile(handle, mode="w"), schema, compression="zstd") as writer:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(project(row, schema))
                if len(batch) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    stats_parts.append(row_stats(table_name, batch))
                    batch = []
            if batch or not stats_parts:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                stats_parts.append(row_stats(table_name, batch))
    return merge_stats(stats_parts)


class WriteShard(beam.DoFn):
    """((table, shard), rows) -> the shard written under the run's temporary folder."""

    def __init__(self, tmp_dir: str) -> None:
        self._tmp_dir = tmp_dir

    def process(self, keyed_rows: tuple[tuple[str, int], Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        (table, shard), rows = keyed_rows
        path = FileSystems.join(self._tmp_dir, table, part_name(shard))
        stats = write_parquet(path, TABLE_SCHEMAS[table], rows)
        yield {"table": table, "shard": shard, "path": path, "stats": stats}


class CommitRun(beam.DoFn):
    """Replaces the previous output with this run's shards and writes run.json."""

    def __init__(self, output_dir: str, tmp_dir: str, run_info: dict[str, Any]) -> None:
        self._output_dir = output_dir
        self._tmp_dir = tmp_dir
        self._run_info = run_info

    def process(self, keyed: tuple[Any, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        _, reports = keyed
        shards = [r for r in reports if r.get("table")]
        inputs = sum(r.get(INPUTS_KEY, 0) for r in reports)
        for table in TABLE_SCHEMAS:
            _delete_matching(FileSystems.join(self._output_dir, table, "*"))
        _delete_matching(FileSystems.join(self._output_dir, RUN_SUMMARY))
        sources = [s["path"] for s in shards]
        targets = [FileSystems.join(self._output_dir, s["table"], part_name(s["shard"])) for s in shards]
        for target in targets:
            _ensure_dir(target)
        if sources:
            FileSystems.rename(sources, targets)
        for table, schema in TABLE_SCHEMAS.items():
            if not any(s["table"] == table for s in shards):
                # Readers fail on a glob that matches nothing: an empty table is an empty file.
                write_parquet(FileSystems.join(self._output_dir, table, part_name(0)), schema, [])
        summary = build_summary(inputs, shards, self._run_info)
        with FileSystems.create(FileSystems.join(self._output_dir, RUN_SUMMARY),
                                compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(json.dumps(summary, indent=2, sort_keys=True, default=str).encode("utf-8"))
        _delete_matching(FileSystems.join(self._tmp_dir, "*", "*"))
        _delete_folder(self._tmp_dir)
        yield summary


def build_summary(inputs: int, shards: list[dict[str, Any]], run_info: dict[str, Any]) -> dict[str, Any]:
    """run.json: counts per table from the written shards, with the run's options and versions."""
    per_table = {table: merge_stats(s["stats"] for s in shards if s["table"] == table) for table in TABLE_SCHEMAS}
    documents = per_table["documents"]["rows"]
    duplicates = per_table["duplicates"]["rows"]
    rejects = per_table["rejects"]["rows"]
    languages = collections.Counter(per_table["documents"]["languages"])
    removed = collections.Counter(per_table["documents"]["removed"])
    removed.update(per_table["duplicates"]["removed"])
    return {
        **run_info,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "inputs": inputs,
            "documents": documents,
            "duplicates": duplicates,
            "rejects": rejects,
            "accounted": documents + duplicates + rejects == inputs,
            "duplicates_by_kind": per_table["duplicates"]["kinds"],
            "rejects_by_reason": per_table["rejects"]["reasons"],
            "removed_lines_by_reason": dict(sorted(removed.items())),
            "languages": dict(sorted(languages.items())),
        },
    }


def _delete_matching(pattern: str) -> None:
    paths = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list]
    if paths:
        FileSystems.delete(paths)


def _delete_folder(path: str) -> None:
    """Best effort: object stores have no folders, and a leftover empty folder is harmless."""
    try:
        FileSystems.delete([path])
    except Exception:  # noqa: BLE001 - nothing depends on the folder being gone
        LOG.debug("could not remove %s", path, exc_info=True)


def _ensure_dir(path: str) -> None:
    parent = path.rsplit("/", 1)[0]
    # Object stores have no folders; a local target needs its folder before a rename.
    if "://" not in parent and not FileSystems.exists(parent):
        FileSystems.mkdirs(parent)


def _tag(row: dict[str, Any], table: str, num_shards: int) -> tuple[tuple[str, int], dict[str, Any]]:
    return (table, shard_of(row, num_shards)), row


def _commit_key(report: dict[str, Any]) -> tuple[None, dict[str, Any]]:
    return None, report


def _inputs_report(count: int) -> dict[str, Any]:
    return {INPUTS_KEY: count}


class WriteTables(beam.PTransform):
    """{'documents': pc, 'duplicates': pc, 'rejects': pc} + input count -> committed output."""

    def __init__(self, output_dir: str, run_id: str, num_shards: int, run_info: dict[str, Any]) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._tmp_dir = FileSystems.join(output_dir, TMP_DIR, run_id)
        self._num_shards = num_shards
        self._run_info = run_info

    def expand(self, inputs: tuple[dict[str, beam.PCollection], beam.PCollection]) -> beam.PCollection:
        tables, input_count = inputs
        keyed = [pc | f"Key{name.title()}ByShard" >> beam.Map(_tag, name, self._num_shards)
                 for name, pc in tables.items()]
        shard_reports = (keyed
                         | "AllTables" >> beam.Flatten()
                         | "GroupRowsByShard" >> beam.GroupByKey()
                         | "WriteShardFiles" >> beam.ParDo(WriteShard(self._tmp_dir)))
        count_report = input_count | "ReportInputCount" >> beam.Map(_inputs_report)
        return ((shard_reports, count_report)
                | "AllReports" >> beam.Flatten()
                | "KeyForCommit" >> beam.Map(_commit_key)
                | "GatherReports" >> beam.GroupByKey()
                | "CommitRun" >> beam.ParDo(CommitRun(self._output_dir, self._tmp_dir, self._run_info)))
