"""State of scheduled, incremental runs (`--state DIR`): what the next run needs of this one.

- `STATE/manifest/run=<id>/*.parquet`: every input a run ingested (source, size, SHA-256 of
  its bytes). The next run skips an input whose size and hash are unchanged, and ingests new
  and changed ones.
- `STATE/index/run=<id>/*.parquet`: the near-duplicate fingerprints of the documents a run
  kept. The next run's documents are deduplicated against them, so a copy of yesterday's
  article is a duplicate whose `duplicate_of` is yesterday's `doc_id`.
- `STATE/state.json`: the committed runs. It is written last, in one atomic rename: a run
  that stops before it leaves the state as it was, its staged files are discarded by the next
  run, and that run ingests the same inputs again; nothing is ingested twice, because files
  of uncommitted runs are never published nor read. A run that stops after it has its
  publishing finished by the next run (`recover`).

One run at a time may use a state folder (schedule with no overlap, e.g. Airflow
`max_active_runs=1`): two concurrent commits would each drop the other's entry.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import uuid
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems

from transforms.dedup import slim_from_index
from transforms.read import bounded_chunks
from transforms.records import STATE_SCHEMAS, doc_id_for
from transforms.routing import SplitRoutes, route
from transforms.spill import SpillWriter
from transforms.write import TMP_DIR, RunLayout, discard_staging, publish, read_parquet_rows

LOG = logging.getLogger(__name__)

STATE_FILE = "state.json"
STATE_FORMAT = 1
# Rejects for these reasons may go away on a later try (a busy worker, a bug fixed since):
# such inputs stay out of the manifest, so every run tries them again until they pass.
RETRIED_REASONS = frozenset({"timeout", "internal_error"})

NEW = "new"
SKIPPED = "skipped"


# ----------------------------------------------------------------------------- state file
def read_state(state_dir: str) -> dict[str, Any]:
    """The committed state: {"format": 1, "runs": [{"run_id", "output", "committed", ...}]}."""
    path = FileSystems.join(state_dir, STATE_FILE)
    if not FileSystems.exists(path):
        return {"format": STATE_FORMAT, "runs": []}
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        state = json.loads(handle.read().decode("utf-8"))
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} has state format {state.get('format')!r}; this version reads {STATE_FORMAT}")
    return state


def committed_run_ids(state: dict[str, Any]) -> list[str]:
    return [run["run_id"] for run in state["runs"]]


def kept_documents(state: dict[str, Any]) -> int:
    """Rows in the index of the committed runs: a run's index holds one row per document it
    kept (its `documents` count)."""
    return sum(run["documents"] for run in state["runs"])


def commit_state(layout: RunLayout, summary: dict[str, Any]) -> None:
    """Add this run to state.json in one atomic step: the commit point of an incremental run.

    The new file is written beside the old one and renamed over it (atomic on a local disk;
    an object store replaces the object whole), so a reader sees the old or the new state."""
    state = read_state(layout.state_dir)
    if layout.run_id in committed_run_ids(state):
        return  # committed already (the step was retried after its rename)
    counts = summary["counts"]
    state["runs"].append({
        "run_id": layout.run_id,
        "output": layout.output_dir,
        "committed": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": counts["inputs"], "skipped": counts["skipped"], "documents": counts["documents"],
        "duplicates": counts["duplicates"], "rejects": counts["rejects"],
    })
    final = FileSystems.join(layout.state_dir, STATE_FILE)
    pending = f"{final}.{layout.run_id}.tmp"
    with FileSystems.create(pending, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(json.dumps(state, indent=2, sort_keys=True).encode("utf-8"))
    FileSystems.rename([pending], [final])


def recover(state_dir: str, output_dir: str) -> list[str]:
    """Before a run: finish publishing committed runs that stopped while publishing, and
    discard the staged files of runs that never committed. Returns what was done, to log."""
    state = read_state(state_dir)
    committed = {run["run_id"]: run for run in state["runs"]}
    done = []
    staged_runs = set(_children(FileSystems.join(state_dir, TMP_DIR)))
    staged_runs |= set(_children(FileSystems.join(output_dir, TMP_DIR)))
    for run_id in sorted(staged_runs):
        if run_id in committed:
            layout = RunLayout(committed[run_id]["output"], run_id, state_dir)
            moved = publish(layout)
            discard_staging(layout)
            done.append(f"run {run_id} was committed but not fully published: moved {moved} files into place")
        else:
            layout = RunLayout(output_dir, run_id, state_dir)
            held = _held_summary(layout)
            discard_staging(layout)
            if held:
                done.append(f"run {run_id} was not committed, its near-duplicate check failed "
                            f"({'; '.join(held['dedup']['problems'])}): discarded its summary "
                            "(its inputs are ingested again now)")
            else:
                done.append(f"run {run_id} stopped before its commit: discarded its staged files "
                            "(its inputs are ingested again now)")
    for path in _matching(FileSystems.join(state_dir, f"{STATE_FILE}.*.tmp")):
        FileSystems.delete([path])
    return done


def _held_summary(layout: RunLayout) -> dict[str, Any] | None:
    """The staged summary of a run its commit step held back (transforms.write.CommitRun)."""
    if not FileSystems.exists(layout.staged_summary_path):
        return None
    with FileSystems.open(layout.staged_summary_path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        summary = json.loads(handle.read().decode("utf-8"))
    return summary if summary.get("published") is False else None


def state_files(state_dir: str, table: str, run_ids: Iterable[str]) -> list[str]:
    """The Parquet files of one state table written by the given (committed) runs."""
    if table not in STATE_SCHEMAS:
        raise ValueError(f"not a state table: {table}")
    # One listing per table, not per run: a daily schedule has hundreds of runs after a year.
    order = {run_id: place for place, run_id in enumerate(run_ids)}
    by_run = []
    for path in _matching(FileSystems.join(state_dir, table, "run=*", "*.parquet")):
        folder = path.rstrip("/").rsplit("/", 2)[-2]
        run_id = folder[len("run="):] if folder.startswith("run=") else None
        if run_id in order:  # a folder no committed run wrote is not state
            by_run.append((order[run_id], path))
    return [path for _, path in sorted(by_run)]


def _children(folder: str) -> list[str]:
    """Names directly under a folder (run ids under a `_tmp` folder)."""
    names = set()
    prefix = folder.rstrip("/") + "/"
    for path in _matching(FileSystems.join(folder, "**")):
        rest = path[len(prefix):] if path.startswith(prefix) else ""
        if rest:
            names.add(rest.split("/", 1)[0])
    return sorted(names)


def _matching(pattern: str) -> list[str]:
    try:
        return sorted(m.path for result in FileSystems.match([pattern]) for m in result.metadata_list)
    except Exception:  # noqa: BLE001 - a missing folder matches nothing
        return []


# ----------------------------------------------------------------------------- rows
def input_fingerprint(path: str, max_bytes: int) -> tuple[int, str]:
    """(size, SHA-256) of a file's bytes, reading at most max_bytes + 1 of them: a file over the
    read limit is a `too_large` reject whatever its tail holds, so its tail need not be read."""
    digest = hashlib.sha256()
    size = 0
    for chunk in bounded_chunks(path, max_bytes):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def unchanged(fingerprint: dict[str, Any] | None, ingested: Iterable[dict[str, Any]]) -> bool:
    """Whether an input's current fingerprint equals the one its latest ingestion recorded."""
    if fingerprint is None:
        return False
    latest = max(ingested, key=lambda row: row["run_id"], default=None)
    return latest is not None and (latest["size"], latest["sha256"]) == (fingerprint["size"], fingerprint["sha256"])


def manifest_row(fingerprint: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {"source": fingerprint["source"], "size": fingerprint["size"], "sha256": fingerprint["sha256"],
            "doc_id": doc_id_for(fingerprint["source"]), "run_id": run_id}


# ----------------------------------------------------------------------------- Beam steps
class ReadStateTable(beam.PTransform):
    """Rows of a state table from its files (listed when the pipeline is built). A Create of
    paths and a plain DoFn, rather than a Beam source: the DaskRunner runs no splittable reads."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self._paths = sorted(paths)

    def expand(self, pbegin):
        return (pbegin
                | "StateFiles" >> beam.Create(self._paths)
                | "StateRows" >> beam.FlatMap(read_parquet_rows))


class _FingerprintInput(beam.DoFn):
    """FileMetadata -> (source, (metadata, fingerprint or None when the file cannot be read:
    the read step then rejects it, and it stays out of the manifest))."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    def process(self, metadata: FileMetadata) -> Iterator[tuple[str, tuple[FileMetadata, dict | None]]]:
        try:
            size, sha256 = input_fingerprint(metadata.path, self._max_bytes)
            fingerprint = {"source": metadata.path, "size": size, "sha256": sha256}
        except Exception as exc:  # noqa: BLE001 - reading it again in the read step gives the reject
            LOG.info("cannot fingerprint %s (%s): ingesting it as new", metadata.path, exc)
            fingerprint = None
        yield metadata.path, (metadata, fingerprint)


def _split_ingested(item: tuple[str, dict[str, list]]) -> Iterator[Any]:
    _, grouped = item
    ingested = list(grouped["ingested"])
    for metadata, fingerprint in grouped["matched"]:
        if unchanged(fingerprint, ingested):
            yield route(SKIPPED, metadata.path)
        else:
            yield route(NEW, (metadata, fingerprint))


class SkipIngested(beam.PTransform):
    """Matched files -> {"new": (FileMetadata, fingerprint) of inputs to ingest, "skipped":
    sources already ingested unchanged}, by a keyed join of the files with the manifest."""

    def __init__(self, manifest_paths: list[str], max_bytes: int) -> None:
        super().__init__()
        self._manifest_paths = manifest_paths
        self._max_bytes = max_bytes

    def expand(self, files):
        matched = files | "FingerprintInputs" >> beam.ParDo(_FingerprintInput(self._max_bytes))
        ingested = (files.pipeline
                    | "ReadManifest" >> ReadStateTable(self._manifest_paths)
                    | "KeyManifestBySource" >> beam.Map(lambda row: (row["source"], row)))
        return ({"matched": matched, "ingested": ingested}
                | "JoinManifest" >> beam.CoGroupByKey()
                | "NewOrChanged" >> beam.FlatMap(_split_ingested)
                | "RouteIngested" >> SplitRoutes(NEW, SKIPPED))


def _manifest_rows(item: tuple[str, dict[str, list]], run_id: str) -> list[dict[str, Any]]:
    _, grouped = item
    if any(reject["reason"] in RETRIED_REASONS for reject in grouped["rejects"]):
        return []
    return [manifest_row(fingerprint, run_id) for fingerprint in grouped["fingerprints"]]


class ManifestRows(beam.PTransform):
    """(fingerprints of the inputs ingested now, this run's rejects) -> manifest rows, leaving
    out inputs whose reject may pass on a later try (RETRIED_REASONS)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self._run_id = run_id

    def expand(self, inputs):
        fingerprints, rejects = inputs
        keyed_fingerprints = (fingerprints
                              | "KnownFingerprints" >> beam.Filter(lambda new: new[1] is not None)
                              | "KeyFingerprintBySource" >> beam.Map(lambda new: (new[1]["source"], new[1])))
        retried = (rejects
                   | "RetriedRejects" >> beam.Filter(lambda row: row["reason"] in RETRIED_REASONS)
                   | "KeyRejectBySource" >> beam.Map(lambda row: (row["source"], row)))
        return ({"fingerprints": keyed_fingerprints, "rejects": retried}
                | "JoinOutcomes" >> beam.CoGroupByKey()
                | "ManifestRows" >> beam.FlatMap(_manifest_rows, self._run_id))


CURRENT = "current"
SUPERSEDED = "superseded"


def _latest_priors(item: tuple[str, dict[str, list]]) -> list[Any]:
    _, grouped = item
    rows = sorted(grouped["prior"], key=lambda slim: slim["run_id"])[-1:]
    # An input ingested again now has changed: its old version is only an exact match (same
    # clean text again), never a near one (an updated article is a new version, not a copy).
    name = SUPERSEDED if list(grouped["ingested_now"]) else CURRENT
    return [route(name, row) for row in rows]


class _PriorSlims(beam.DoFn):
    """An index file of an earlier run -> (doc_id, slim record) of each of its rows
    (`slim_from_index`), the fingerprints spilled to a file in `spill_folder` when given.

    An index row holds its sentences' word ids as Python lists: ~23 KB a page as objects, 3.1 KB
    pickled (1,000 rows of a 20k run). A slim record pickles to 2.3 KB with its fingerprint
    packed, 250 bytes with it spilled. Only slim records go through the shuffles that follow,
    whose inputs the in-memory runner holds whole."""

    def __init__(self, spill_folder: str | None) -> None:
        self._spill_folder = spill_folder

    def process(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        spill = (SpillWriter(FileSystems.join(self._spill_folder, f"prior-{uuid.uuid4().hex}"))
                 if self._spill_folder else None)
        try:
            for row in read_parquet_rows(path):
                yield row["doc_id"], slim_from_index(row, spill)
        finally:  # closed before any step after the shuffle reads it back
            if spill is not None:
                spill.close()


class PriorIndex(beam.PTransform):
    """Index files of earlier runs' kept documents -> {"current": slim records (the latest per
    doc_id) to match new documents against, "superseded": those of inputs ingested again now}.
    `spill_folder`: where their fingerprints wait, as new documents' do (transforms.spill)."""

    def __init__(self, index_paths: list[str], spill_folder: str | None = None) -> None:
        super().__init__()
        self._index_paths = sorted(index_paths)
        self._spill_folder = spill_folder

    def expand(self, new_inputs):
        prior = (new_inputs.pipeline
                 | "IndexFiles" >> beam.Create(self._index_paths)
                 | "ReadIndex" >> beam.ParDo(_PriorSlims(self._spill_folder)))
        ingested_now = new_inputs | "KeyNewByDoc" >> beam.Map(lambda new: (doc_id_for(new[0].path), True))
        return ({"prior": prior, "ingested_now": ingested_now}
                | "JoinIngestedNow" >> beam.CoGroupByKey()
                | "LatestPriors" >> beam.FlatMap(_latest_priors)
                | "RoutePriors" >> SplitRoutes(CURRENT, SUPERSEDED))
