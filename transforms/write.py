"""Write stage: the three tables as Parquet, committed at the end of the run, plus run.json
(and, for incremental runs, the state tables the next run reads).

One terminal branch writes everything: rows are keyed by (table, shard), grouped, and each
shard's file is written inside `process()` to a staging folder; a single commit step then
publishes them and writes the run summary from what the shards report. That keeps the output
atomic for readers (a killed run leaves only `_tmp/`, which readers skip), needs no Beam sink
or metrics (the Dask runner drops `finish_bundle` output, runs only the last of several sinks,
and cannot query metrics), and leaves one sink in the graph.
"""
from __future__ import annotations

import collections
import ctypes
import dataclasses
import datetime
import json
import logging
import os
import socket
import uuid
import zlib
from typing import Any, Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.dedup import apply_decisions, decision_order, dedup_problems, index_row, slim_record
from transforms.records import ALL_SCHEMAS, DOCUMENT_SCHEMA, STATE_SCHEMAS, TABLE_SCHEMAS, project
from transforms.spill import SpillWriter, close_spills

LOG = logging.getLogger(__name__)

TMP_DIR = "_tmp"
STAGED_DOCUMENTS = "staged"
# Staged documents are written in small row groups: a bundle holds one group per shard in memory.
STAGED_GROUP_ROWS = 200
RUN_SUMMARY = "run.json"
ROW_GROUP_ROWS = 2000  # bounded memory per shard writer; large enough for good compression
# ...and a row group is also closed at about this many bytes of text: an open row group waits
# in memory (as Arrow batches, below), and 2,000 long pages with their removed lines are ~100 MB.
ROW_GROUP_TEXT_BYTES = 16 * 2**20
# Rows wait as Python objects only this many at a time; the rest of a row group waits as Arrow
# columns, several times smaller. Writing one 4,533-page shard: RSS growth 162-178 -> 90-104 MB.
ROWS_PER_ARROW_BATCH = 100
INPUTS_KEY = "inputs"  # counter: paths the input globs matched
SKIPPED_KEY = "skipped"  # counter: inputs an earlier run already ingested unchanged
DEDUP_KEY_PREFIX = "dedup:"  # counters: the near-duplicate steps' counts (transforms.dedup.DEDUP_COUNT)


def dedup_counter(item: tuple[str, int]) -> tuple[str, int]:
    """A near-duplicate step's (name, count) as one of the run's counters."""
    return DEDUP_KEY_PREFIX + item[0], item[1]


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
        if table in STATE_SCHEMAS:
            continue
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


def _text_bytes(row: dict[str, Any]) -> int:
    """A cheap estimate of a row's size: its strings and its removed lines' text."""
    size = sum(len(value) for value in row.values() if isinstance(value, str))
    return size + sum(len(line.get("text") or "") + 64 for line in row.get("removed") or ())


class ParquetRowWriter:
    """Rows to one Parquet file on any Beam filesystem, a bounded row group at a time, with
    the counts the run summary needs. Close it to finish the file (an empty one has the schema)."""

    def __init__(self, path: str, schema: pa.Schema, group_rows: int = ROW_GROUP_ROWS,
                 compression: str = "zstd") -> None:
        self.path = path
        self._schema = schema
        self._table = schema.metadata[b"table"].decode()
        self._group_rows = group_rows
        self._handle = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._writer = pq.ParquetWriter(pa.PythonFile(self._handle, mode="w"), schema, compression=compression)
        self._rows: list[dict[str, Any]] = []  # not yet converted to Arrow
        self._batches: list[pa.RecordBatch] = []  # the open row group's converted rows
        self._group_size = 0
        self._group_bytes = 0
        self._stats: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(project(row, self._schema))
        self._group_size += 1
        self._group_bytes += _text_bytes(row)
        if len(self._rows) >= ROWS_PER_ARROW_BATCH:
            self._convert()
        if self._group_size >= self._group_rows or self._group_bytes >= ROW_GROUP_TEXT_BYTES:
            self._flush()

    def _convert(self) -> None:
        if self._rows:
            self._batches.append(pa.RecordBatch.from_pylist(self._rows, schema=self._schema))
            self._stats.append(row_stats(self._table, self._rows))
            self._rows = []

    def _flush(self) -> None:
        """Write the open row group as one Parquet row group (empty only for an empty file)."""
        self._convert()
        group = pa.Table.from_batches(self._batches, schema=self._schema)
        self._writer.write_table(group, row_group_size=max(1, group.num_rows))
        self._batches = []
        self._group_size = 0
        self._group_bytes = 0

    def close(self) -> dict[str, Any]:
        """Finish the file; returns its row counts (`row_stats` of all rows)."""
        if self._group_size or not self._stats:
            self._flush()
        self._writer.close()
        self._handle.close()
        return merge_stats(self._stats)


def write_parquet(path: str, schema: pa.Schema, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Write rows to one Parquet file on any Beam filesystem, in bounded row groups."""
    writer = ParquetRowWriter(path, schema)
    for row in rows:
        writer.add(row)
    return writer.close()


def read_parquet_rows(path: str) -> Iterator[dict[str, Any]]:
    """The rows of one Parquet file on any Beam filesystem, a row group at a time."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        reader = pq.ParquetFile(handle)
        for group in range(reader.num_row_groups):
            yield from reader.read_row_group(group).to_pylist()


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Where one run stages its files and where it publishes them.

    Without a state folder a run replaces the output: `DIR/<table>/part-*.parquet` and
    `DIR/run.json`. With one (`--state`, scheduled incremental runs) every run publishes its
    own folder `DIR/run=<run id>/<table>/...`, so all runs read as one hive-partitioned
    dataset, and adds its manifest and index files under `STATE/<table>/run=<run id>/`.
    Everything is first written under a `_tmp/<run id>/` folder that readers never glob.
    """

    output_dir: str
    run_id: str
    state_dir: str | None = None

    @property
    def incremental(self) -> bool:
        return self.state_dir is not None

    @property
    def tables(self) -> dict[str, pa.Schema]:
        return ALL_SCHEMAS if self.incremental else TABLE_SCHEMAS

    def staging_root(self, table: str | None = None) -> str:
        root = self.state_dir if table in STATE_SCHEMAS else self.output_dir
        return FileSystems.join(root, TMP_DIR, self.run_id)

    def staging_dir(self, table: str) -> str:
        return FileSystems.join(self.staging_root(table), table)

    def published_dir(self, table: str) -> str:
        if table in STATE_SCHEMAS:
            return FileSystems.join(self.state_dir, table, f"run={self.run_id}")
        return FileSystems.join(self.run_folder, table)

    @property
    def run_folder(self) -> str:
        """The folder holding this run's tables and run.json."""
        return FileSystems.join(self.output_dir, f"run={self.run_id}") if self.incremental else self.output_dir

    @property
    def summary_path(self) -> str:
        return FileSystems.join(self.run_folder, RUN_SUMMARY)

    @property
    def staged_summary_path(self) -> str:
        return FileSystems.join(self.staging_root(), RUN_SUMMARY)

    def staged_documents_dir(self, shard: int) -> str:
        """Where cleaned documents of one output shard wait for their dedup decision."""
        return FileSystems.join(self.staging_root(), STAGED_DOCUMENTS, f"shard-{shard:05d}")

    @property
    def dedup_spill_dir(self) -> str:
        """Where LSH keys and colliding pairs wait instead of the dedup shuffles (transforms.spill)."""
        return FileSystems.join(self.staging_root(), "dedup")


def publish(layout: RunLayout) -> int:
    """Move a run's staged files to their published places; returns how many moved.

    Idempotent (it moves what is still staged), so a run that stopped halfway through it is
    finished by the next run (`transforms.state.recover`)."""
    sources: list[str] = []
    targets: list[str] = []
    for table in layout.tables:
        for path in _matching(FileSystems.join(layout.staging_dir(table), "*.parquet")):
            sources.append(path)
            targets.append(FileSystems.join(layout.published_dir(table), path.rsplit("/", 1)[-1]))
    if FileSystems.exists(layout.staged_summary_path):
        sources.append(layout.staged_summary_path)
        targets.append(layout.summary_path)
    for target in targets:
        _ensure_dir(target)
    if sources:
        FileSystems.rename(sources, targets)
    return len(sources)


def discard_staging(layout: RunLayout) -> None:
    """Remove what is left of a run's staging folders (all of it, for a run that failed)."""
    roots = {layout.staging_root(table) for table in layout.tables} | {layout.staging_root()}
    for root in sorted(roots):
        _delete_matching(FileSystems.join(root, "**"))
        _delete_folder(root)
        _remove_if_empty(root.rstrip("/").rsplit("/", 1)[0])  # the _tmp folder, once no run uses it


def _remove_if_empty(folder: str) -> None:
    if "://" not in folder:  # object stores have no empty folders to leave behind
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty (another run's staging) or already gone


class WriteShard(beam.DoFn):
    """((table, shard), rows) -> the shard written under the run's staging folder."""

    def __init__(self, layout: RunLayout) -> None:
        self._layout = layout

    def process(self, keyed_rows: tuple[tuple[str, int], Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        (table, shard), rows = keyed_rows
        path = FileSystems.join(self._layout.staging_dir(table), part_name(shard))
        stats = write_parquet(path, ALL_SCHEMAS[table], rows)
        # Which process wrote it: the run summary lists them, so a run shows where its work ran.
        yield {"table": table, "shard": shard, "path": path, "stats": stats, "writer": worker_name()}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def use_system_arrow_allocator() -> None:
    """Arrow's default pool (mimalloc here) keeps the pages Arrow frees for Arrow alone; with
    the system allocator the same pages serve the Python objects of the shuffles that follow.
    Peak RSS of a 5,000-page in-memory run 767 -> 717 MB, same time. Called in the setup of the
    DoFns that write and read Parquet, so every worker process gets it (a process setting).
    Arrow's C++ code keeps the pool it chose at import: pipeline/__init__.py sets that too."""
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter (malloc.h)
MMAP_THRESHOLD = 256 * 1024


def return_large_blocks_promptly(threshold: int = MMAP_THRESHOLD) -> bool:
    """Have glibc serve every block of `threshold` bytes or more with its own mapping, so it
    goes back to the system when freed. By default glibc raises that threshold to the size of
    each large block freed (up to 32 MB), and then serves the in-memory runner's shuffle
    buffers and their many-KB element payloads from the heap, which it rarely returns:
    peak RSS of a 20,000-page in-memory run 812 -> 719 MB, the RSS between steps ~60 MB
    lower. A process setting: called where the runner starts and in worker setup. True when
    set; False off glibc, where nothing changes."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False


class StageDocuments(beam.DoFn):
    """Cleaned document -> its slim record for deduplication (transforms.dedup.slim_record),
    the full document written meanwhile to a staging file of its output shard.

    Full documents (text and removed lines: ~12 KB pickled, several times that as objects)
    never go through a shuffle: the in-memory runner holds a shuffle's whole input as Python
    objects (4.4 GB at 10,000 pages when documents went through three), and other runners
    pay to move them. Each bundle writes one file per shard it meets, in small row groups,
    and closes it in `finish_bundle`; a retried bundle's files are simply never referenced.
    With `spill_fingerprints` each such file gets a spill file of its documents' fingerprints
    (transforms.spill), and the slim records say where they are."""

    def __init__(self, layout: RunLayout, num_shards: int, config: Any, spill_fingerprints: bool = False) -> None:
        self._layout = layout
        self._num_shards = num_shards
        self._config = config
        self._spill_fingerprints = spill_fingerprints

    def setup(self) -> None:
        use_system_arrow_allocator()
        return_large_blocks_promptly()

    def start_bundle(self) -> None:
        self._writers: dict[int, ParquetRowWriter] = {}
        self._spills: dict[int, SpillWriter] = {}

    def process(self, doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        shard = shard_of(doc, self._num_shards)
        writer = self._writers.get(shard)
        if writer is None:
            path = FileSystems.join(self._layout.staged_documents_dir(shard), f"{uuid.uuid4().hex}.parquet")
            writer = self._writers[shard] = ParquetRowWriter(path, DOCUMENT_SCHEMA, STAGED_GROUP_ROWS, "lz4")
            if self._spill_fingerprints:
                self._spills[shard] = SpillWriter(path)
        writer.add(doc)
        yield slim_record(doc, self._config, shard, writer.path, self._spills.get(shard))

    def finish_bundle(self) -> None:
        try:
            for writer in self._writers.values():
                writer.close()
        finally:  # a failed bundle is retried under new names; its spill files just close
            for spill in self._spills.values():
                spill.close()
            self._writers = {}
            self._spills = {}


class _FinalizeShard(beam.DoFn):
    """(shard, [(staging file, doc_id, decision)]) -> the shard's documents and duplicates
    files, reading its staged documents one row group at a time."""

    def __init__(self, layout: RunLayout) -> None:
        self._layout = layout

    def setup(self) -> None:
        use_system_arrow_allocator()

    def process(self, item: tuple[int, Iterable[tuple[str, str, tuple]]]) -> Iterator[dict[str, Any]]:
        shard, entries = item
        by_file: dict[str, dict[str, list[tuple]]] = collections.defaultdict(lambda: collections.defaultdict(list))
        for staged, doc_id, decision in entries:
            by_file[staged][doc_id].append(decision)
        for decisions in by_file.values():
            for mine in decisions.values():
                mine.sort(key=decision_order)
        writers = {table: ParquetRowWriter(FileSystems.join(self._layout.staging_dir(table), part_name(shard)),
                                           TABLE_SCHEMAS[table])
                   for table in ("documents", "duplicates")}
        for staged in sorted(by_file):
            decisions = by_file[staged]
            seen: collections.Counter = collections.Counter()
            for doc in read_parquet_rows(staged):
                doc_id = doc["doc_id"]
                # The n-th copy of a doc_id in this file takes its n-th decision (keep first).
                decision = decisions.get(doc_id, [])[seen[doc_id]:seen[doc_id] + 1]
                seen[doc_id] += 1
                for table, row in apply_decisions([doc], decision):
                    writers[table].add(row)
        for table, writer in writers.items():
            yield {"table": table, "shard": shard, "path": writer.path, "stats": writer.close(),
                   "writer": worker_name()}


def _by_shard(decision: tuple) -> tuple[int, tuple[str, str, tuple]]:
    (doc_id, shard, staged), verdict = decision
    return shard, (staged, doc_id, verdict)


class FinalizeDocumentShards(beam.PTransform):
    """Dedup decisions ((doc_id, shard, staging file), decision) -> shard reports of the
    documents and duplicates tables, written under the run's staging folder."""

    def __init__(self, layout: RunLayout) -> None:
        super().__init__()
        self._layout = layout

    def expand(self, decisions):
        return (decisions
                | "KeyDecisionByShard" >> beam.Map(_by_shard)
                | "GroupDecisionsByShard" >> beam.GroupByKey()
                | "WriteDocumentShards" >> beam.ParDo(_FinalizeShard(self._layout)))


class _WriteIndexShard(WriteShard):
    """(shard, slim records of kept documents) -> the shard's file of the dedup index, each
    fingerprint read back from its spill file only as its row is written."""

    def setup(self) -> None:
        use_system_arrow_allocator()

    def process(self, item: tuple[int, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        shard, slims = item
        rows = (index_row(slim, self._layout.run_id)
                for slim in sorted(slims, key=lambda s: (s["doc_id"], s["content_hash"])))
        yield from super().process((("index", shard), rows))

    def finish_bundle(self) -> None:
        close_spills()


class WriteIndexShards(beam.PTransform):
    """Slim records of the documents a run kept (DecideDuplicates' "index") -> shard reports
    of the index table, written under the state's staging folder.

    Only slim records (a few hundred bytes with a spilled fingerprint) go through the shuffle.
    Index rows hold each sentence's word ids as Python lists (~23 KB a page as objects): made
    before the shuffle, they took an incremental 100,000-page run with two workers from ~1.6 GB
    to a 4.7 GB peak in its last 45 seconds, the in-memory runner and each worker holding them."""

    def __init__(self, layout: RunLayout, num_shards: int) -> None:
        super().__init__()
        self._layout = layout
        self._num_shards = num_shards

    def expand(self, kept):
        num_shards = self._num_shards
        return (kept
                | "KeyIndexByShard" >> beam.Map(lambda slim: (shard_of(slim, num_shards), slim))
                | "GroupIndexByShard" >> beam.GroupByKey()
                | "WriteIndexShardFiles" >> beam.ParDo(_WriteIndexShard(self._layout)))


class CommitRun(beam.DoFn):
    """The run's last step: write run.json, commit, publish.

    The commit point of an incremental run is the state file (transforms.state.commit_state):
    before it, the run never happened as far as the next run is concerned (its staged files are
    discarded and its inputs ingested again); after it, publishing is finished by whichever run
    comes next if this one stops. Without a state folder the previous output is replaced.

    An incremental run whose near-duplicate search shows a loss (`dedup_problems`) is not
    committed: once committed, its inputs would be skipped as ingested and its missed near
    duplicates never found. Its staged files are discarded but for its summary (`published`
    false), which the next run reads, logs and discards before it ingests those inputs again. A run without a state folder is published all
    the same (the next run starts from scratch anyway); the CLI exits 1 for both."""

    def __init__(self, layout: RunLayout, run_info: dict[str, Any]) -> None:
        self._layout = layout
        self._run_info = run_info

    def process(self, keyed: tuple[Any, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        from transforms import state  # state imports this module

        layout = self._layout
        _, reports = keyed
        reports = list(reports)
        shards = [r for r in reports if r.get("table")]
        counters = collections.Counter()
        for report in reports:
            if "counter" in report:
                counters[report["counter"]] += report["value"]
        for table, schema in TABLE_SCHEMAS.items():  # state tables need no file when empty
            if not any(s["table"] == table for s in shards):
                # Readers fail on a glob that matches nothing: an empty table is an empty file.
                path = FileSystems.join(layout.staging_dir(table), part_name(0))
                shards.append({"table": table, "shard": 0, "path": path, "stats": write_parquet(path, schema, [])})
        summary = build_summary(counters, shards, self._run_info)
        held = layout.incremental and bool(summary["dedup"]["problems"])
        summary["published"] = not held
        if held:
            LOG.error("run %s is not committed, its near-duplicate search shows a loss: %s", layout.run_id,
                      "; ".join(summary["dedup"]["problems"]))
            discard_staging(layout)  # its tables, staged documents and spill files: gigabytes on a large run
        _write_json(layout.staged_summary_path, summary)
        if held:
            yield summary
            return
        if layout.incremental:
            state.commit_state(layout, summary)
        else:
            for table in TABLE_SCHEMAS:
                _delete_matching(FileSystems.join(layout.output_dir, table, "*"))
            _delete_matching(layout.summary_path)
        publish(layout)
        discard_staging(layout)
        yield summary


def _write_json(path: str, value: dict[str, Any]) -> None:
    _ensure_dir(path)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(json.dumps(value, indent=2, sort_keys=True, default=str).encode("utf-8"))


def build_summary(counters: dict[str, int], shards: list[dict[str, Any]], run_info: dict[str, Any]) -> dict[str, Any]:
    """run.json: counts per table from the written shards, with the run's options and versions.

    `counters` holds `inputs` (paths matched), for incremental runs `skipped` (inputs an
    earlier run already ingested unchanged), and the near-duplicate steps' counts
    (DEDUP_KEY_PREFIX), which go to `dedup` with what they show (`dedup_problems`)."""
    per_table = {table: merge_stats(s["stats"] for s in shards if s["table"] == table) for table in ALL_SCHEMAS}
    inputs = counters.get(INPUTS_KEY, 0)
    skipped = counters.get(SKIPPED_KEY, 0)
    documents = per_table["documents"]["rows"]
    duplicates = per_table["duplicates"]["rows"]
    rejects = per_table["rejects"]["rows"]
    languages = collections.Counter(per_table["documents"]["languages"])
    removed = collections.Counter(per_table["documents"]["removed"])
    removed.update(per_table["duplicates"]["removed"])
    dedup_counts = {name[len(DEDUP_KEY_PREFIX):]: count for name, count in sorted(counters.items())
                    if name.startswith(DEDUP_KEY_PREFIX)}
    return {
        **run_info,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "workers": sorted({s["writer"] for s in shards if s.get("writer")}),
        "counts": {
            "inputs": inputs,
            "skipped": skipped,
            "documents": documents,
            "duplicates": duplicates,
            "rejects": rejects,
            "accounted": documents + duplicates + rejects + skipped == inputs,
            "duplicates_by_kind": per_table["duplicates"]["kinds"],
            "rejects_by_reason": per_table["rejects"]["reasons"],
            "removed_lines_by_reason": dict(sorted(removed.items())),
            "languages": dict(sorted(languages.items())),
            "state_rows": {table: per_table[table]["rows"] for table in STATE_SCHEMAS},
        },
        "dedup": {"counts": dedup_counts, "problems": dedup_problems(dedup_counts)},
    }


def _matching(pattern: str) -> list[str]:
    return sorted(m.path for result in FileSystems.match([pattern]) for m in result.metadata_list)


def _delete_matching(pattern: str) -> None:
    paths = _matching(pattern)
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


def _counter_report(item: tuple[str, int]) -> dict[str, Any]:
    name, value = item
    return {"counter": name, "value": value}


class WriteTables(beam.PTransform):
    """({table name: PCollection of rows}, PCollection of (counter name, count), PCollection
    of reports of shards written elsewhere (FinalizeDocumentShards, WriteIndexShards)) -> the
    committed run: its summary (run.json) as the one output element.

    One terminal branch writes everything: rows are keyed by (table, shard), grouped, and
    each shard's file is written inside `process()` (never in `finish_bundle`, whose output the
    DaskRunner drops); a single commit step then publishes. No Beam sink and no metrics are
    involved, so every runner writes the same files."""

    def __init__(self, layout: RunLayout, num_shards: int, run_info: dict[str, Any]) -> None:
        super().__init__()
        self._layout = layout
        self._num_shards = num_shards
        self._run_info = run_info

    def expand(self, inputs: tuple[dict[str, beam.PCollection], beam.PCollection, beam.PCollection]
               ) -> beam.PCollection:
        tables, counters, written = inputs
        keyed = [pc | f"Key{name.title()}ByShard" >> beam.Map(_tag, name, self._num_shards)
                 for name, pc in tables.items()]
        shard_reports = (keyed
                         | "AllTables" >> beam.Flatten()
                         | "GroupRowsByShard" >> beam.GroupByKey()
                         | "WriteShardFiles" >> beam.ParDo(WriteShard(self._layout)))
        counter_reports = (counters
                           | "SumCounters" >> beam.CombinePerKey(sum)
                           | "CounterReports" >> beam.Map(_counter_report))
        return ((shard_reports, counter_reports, written)
                | "AllReports" >> beam.Flatten()
                | "KeyForCommit" >> beam.Map(_commit_key)
                | "GatherReports" >> beam.GroupByKey()
                | "CommitRun" >> beam.ParDo(CommitRun(self._layout, self._run_info)))
