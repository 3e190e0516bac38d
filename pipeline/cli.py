"""Entry point: `python -m pipeline --input GLOB --output DIR [Beam options]` (or `ingest`)."""
from __future__ import annotations

import argparse
import datetime
import difflib
import json
import logging
import os
import secrets
import sys
import time
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.assembly import PriorState, build_pipeline
from pipeline.options import IngestOptions, own_flags
from pipeline.timings import format_stage_seconds, run_stage_seconds
from transforms import state
from transforms.dedup import firsts_by_pair_partition, format_dedup_counts
from transforms.read import matched_directories
from transforms.write import RunLayout, return_large_blocks_promptly

LOG = logging.getLogger("pipeline")

DESCRIPTION = """Ingest raw web pages (plain text, HTML, .gz) into clean, language-tagged,
deduplicated Parquet: DIR/documents, DIR/duplicates, DIR/rejects and DIR/run.json.
Any other flag is passed to Apache Beam, e.g. --runner, --direct_running_mode=multi_processing,
--direct_num_workers=2, --temp_location, --project."""

# Beam flags whose close look-alikes are not typos of ours (difflib finds --output ~ --outputs).
SIMILARITY_FOR_TYPO = 0.8
# Beam 2.77's DaskRunner keeps the partitions of the Create a pipeline starts from all the way
# through (a GroupByKey does not repartition), and by default makes one per 128 elements: a
# GroupByKey of 200k elements took 274 s that way and 16.5 s with 4 partitions. A few
# partitions per worker process keeps every worker busy without a shuffle of thousands of tasks.
DEFAULT_DASK_PARTITIONS = 8


class UsageError(Exception):
    pass


def help_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=DESCRIPTION)
    IngestOptions._add_argparse_args(parser)
    return parser


def beam_unknown_flags(argv: Sequence[str]) -> list[str]:
    """Flags that no registered PipelineOptions class (ours included) knows."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    seen: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            continue  # two option classes defining one flag; Beam tolerates it the same way
    _, unknown = parser.parse_known_args(list(argv))
    return [arg.split("=", 1)[0] for arg in unknown if arg.startswith("--")]


def validate_flags(argv: Sequence[str]) -> None:
    """Reject typos of our own flags; leave other unknown flags to Beam (it warns)."""
    ours = own_flags()
    for flag in beam_unknown_flags(argv):
        close = difflib.get_close_matches(flag, ours, n=1, cutoff=SIMILARITY_FOR_TYPO)
        if close:
            raise UsageError(f"unknown flag {flag}: did you mean {close[0]}?")
        LOG.warning("flag %s is not one of ours nor a Beam flag known here; passing it to the runner", flag)


def match_inputs(globs: Sequence[str]) -> list[FileMetadata]:
    """The files the globs match now, in glob order (a file matched by two globs twice, as the
    pipeline's own matching does); an error if none matches anything."""
    listed: list[FileMetadata] = []
    for pattern in globs:
        try:
            matched = [m for r in FileSystems.match([pattern]) for m in r.metadata_list]
        except Exception as exc:  # a bad scheme or missing bucket: say which glob
            raise UsageError(f"cannot match --input {pattern}: {exc}") from exc
        if not matched:
            LOG.warning("--input %s matches no file", pattern)
        listed.extend(sorted(matched, key=lambda m: m.path))
    if not listed:
        raise UsageError("no file matches any --input glob: nothing to ingest")
    return listed


def absolute(path: str) -> str:
    """A local path made absolute: workers of the portable and cluster runners do not run in the
    folder the command was started from ('seeds/*' matched nothing there)."""
    return path if "://" in path else os.path.abspath(path)


def is_dask(runner: str | None) -> bool:
    return bool(runner) and runner.rsplit(".", 1)[-1] == "DaskRunner"


def load_runner_options(runner: str | None) -> None:
    """Import the chosen runner's module, so its flags are known to the typo check (the
    DaskRunner's options exist only once its module is imported)."""
    if is_dask(runner):
        try:
            import apache_beam.runners.dask.dask_runner  # noqa: F401 - registers DaskOptions
            import dask.distributed  # noqa: F401
        except ImportError as exc:
            raise UsageError(f"the DaskRunner needs dask.distributed: pip install 'newsingest[dask]' ({exc})") from exc


def with_runner_defaults(argv: list[str], runner: str | None) -> list[str]:
    """argv plus our defaults for the chosen runner (the user's own flags always win)."""
    if is_dask(runner) and not any(arg.startswith(("--dask_npartitions", "--dask_partition_size")) for arg in argv):
        return [*argv, f"--dask_npartitions={DEFAULT_DASK_PARTITIONS}"]
    return argv


def run_info(options: IngestOptions, run_id: str, started: str) -> dict[str, Any]:
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    own = {flag.lstrip("-"): getattr(options, flag.lstrip("-")) for flag in own_flags()}
    return {
        "run_id": run_id,
        "started": started,
        "runner": options.view_as(StandardOptions).runner or "DirectRunner",
        "options": own,
        "versions": {name: version(name) for name in
                     ("newsingest", "apache-beam", "trafilatura", "langdetect", "pyarrow")},
    }


def format_summary(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    incremental = bool(summary.get("options", {}).get("state"))
    parts = "documents + duplicates + rejects" + (" + skipped" if incremental else "")
    lines = [
        f"Run {summary['run_id']} ({summary['runner']}), {summary['started']} -> {summary['finished']}",
        f"  inputs      {counts['inputs']:>8}",
    ]
    if incremental:
        lines.append(f"  skipped     {counts['skipped']:>8}  (ingested unchanged by an earlier run)")
    lines += [
        f"  documents   {counts['documents']:>8}",
        f"  duplicates  {counts['duplicates']:>8}  {_inline(counts['duplicates_by_kind'])}",
        f"  rejects     {counts['rejects']:>8}  {_inline(counts['rejects_by_reason'])}",
        "  accounted   " + (f"yes: {parts} = inputs" if counts["accounted"] else f"NO: {parts} != inputs"),
        f"  languages   {_inline(counts['languages'])}",
        f"  removed lines by reason  {_inline(counts['removed_lines_by_reason'])}",
        f"  written by  {len(summary.get('workers', []))} worker process(es): {', '.join(summary.get('workers', []))}",
    ]
    if summary.get("dedup", {}).get("counts"):
        lines.append(format_dedup_counts(summary["dedup"]["counts"]))
    if summary.get("published") is False:
        lines.append("  NOT COMMITTED: the next run with this --state discards this run and ingests its inputs again")
    return "\n".join(lines)


def _inline(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def read_summary(path: str) -> dict[str, Any]:
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        help_parser().print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    LOG.setLevel(logging.INFO)
    try:
        runner = PipelineOptions(list(argv)).view_as(StandardOptions).runner
        load_runner_options(runner)
        validate_flags(argv)
        argv = with_runner_defaults(argv, runner)
        options = PipelineOptions(argv)
        ingest = options.view_as(IngestOptions)
        if not ingest.input or not ingest.output:
            raise UsageError("--input GLOB and --output DIR are required (see --help)")
        if ingest.num_shards < 1:
            raise UsageError("--num_shards must be at least 1")
        ingest.input = [absolute(pattern) for pattern in ingest.input]
        ingest.output = absolute(ingest.output)
        ingest.state = absolute(ingest.state) if ingest.state else None
        listed = match_inputs(ingest.input)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    layout = RunLayout(ingest.output, run_id, ingest.state)
    prior = None
    if layout.incremental:
        for done in state.recover(layout.state_dir, layout.output_dir):
            LOG.warning("state %s: %s", layout.state_dir, done)
        committed_state = state.read_state(layout.state_dir)
        committed = state.committed_run_ids(committed_state)
        prior = PriorState(manifest_paths=state.state_files(layout.state_dir, "manifest", committed),
                           index_paths=state.state_files(layout.state_dir, "index", committed),
                           index_rows=state.kept_documents(committed_state))
        LOG.info("state %s: %d earlier runs, %d manifest and %d index files (%d documents kept)",
                 layout.state_dir, len(committed), len(prior.manifest_paths), len(prior.index_paths),
                 prior.index_rows)
    LOG.info("run %s: %d paths matched; writing to %s", run_id, len(listed), layout.run_folder)
    return_large_blocks_promptly()  # a local runner holds its shuffles in this process
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, ingest, layout, run_info(ingest, run_id, started.isoformat(timespec="seconds")),
                   prior=prior, listed_inputs=listed if is_dask(runner) else None, expected_inputs=len(listed))
    run_started = time.monotonic()
    result = pipeline.run()
    result.wait_until_finish()
    wall_seconds = time.monotonic() - run_started
    stage_seconds = run_stage_seconds(result)
    client = getattr(result, "client", None)  # the DaskRunner's; closed before its cluster goes away
    if client is not None:
        client.close()
    # An incremental run held back from its commit (transforms.write.CommitRun) leaves its summary staged.
    held = layout.incremental and not FileSystems.exists(layout.summary_path)
    summary = read_summary(layout.staged_summary_path if held else layout.summary_path)
    print(format_summary(summary))
    print(format_stage_seconds(stage_seconds, wall_seconds))
    problems = summary["dedup"]["problems"]
    advice = ("this run is not committed: the next run with this --state ingests its inputs again" if held
              else "the same run again should give the full result")
    for problem in problems:
        LOG.error("%s: near duplicates may have been missed; %s", problem, advice)
    firsts = sorted(firsts_by_pair_partition(summary["dedup"]["counts"]).values())
    if firsts:
        LOG.info("pages first in a candidate pair, per pair partition: fewest %d, most %d, over %d partitions",
                 firsts[0], firsts[-1], len(firsts))
    # The pipeline counts directories a glob matches too (each becomes a not_a_file reject).
    matched_here = len(listed) + len(matched_directories(ingest.input))
    if summary["counts"]["inputs"] != matched_here:
        LOG.warning("the workers matched %d paths where this process matched %d: did the inputs change "
                    "during the run, or can the workers not see them?", summary["counts"]["inputs"], matched_here)
    return 0 if summary["counts"]["accounted"] and not problems else 1
