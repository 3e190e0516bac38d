"""Entry point: `python -m pipeline --input GLOB --output DIR [Beam options]` (or `ingest`)."""
from __future__ import annotations

import argparse
import datetime
import difflib
import json
import logging
import secrets
import sys
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.assembly import build_pipeline
from pipeline.options import IngestOptions, own_flags
from transforms.write import RUN_SUMMARY

LOG = logging.getLogger("pipeline")

DESCRIPTION = """Ingest raw web pages (plain text, HTML, .gz) into clean, language-tagged,
deduplicated Parquet: DIR/documents, DIR/duplicates, DIR/rejects and DIR/run.json.
Any other flag is passed to Apache Beam, e.g. --runner, --direct_running_mode=multi_processing,
--direct_num_workers=2, --temp_location, --project."""

# Beam flags whose close look-alikes are not typos of ours (difflib finds --output ~ --outputs).
SIMILARITY_FOR_TYPO = 0.8


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


def check_inputs(globs: Sequence[str]) -> int:
    """Number of paths the globs match now; an error if none matches anything."""
    total = 0
    for pattern in globs:
        try:
            matched = sum(len(r.metadata_list) for r in FileSystems.match([pattern]))
        except Exception as exc:  # a bad scheme or missing bucket: say which glob
            raise UsageError(f"cannot match --input {pattern}: {exc}") from exc
        if not matched:
            LOG.warning("--input %s matches no file", pattern)
        total += matched
    if not total:
        raise UsageError("no file matches any --input glob: nothing to ingest")
    return total


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
    lines = [
        f"Run {summary['run_id']} ({summary['runner']}), {summary['started']} -> {summary['finished']}",
        f"  inputs      {counts['inputs']:>8}",
        f"  documents   {counts['documents']:>8}",
        f"  duplicates  {counts['duplicates']:>8}  {_inline(counts['duplicates_by_kind'])}",
        f"  rejects     {counts['rejects']:>8}  {_inline(counts['rejects_by_reason'])}",
        "  accounted   " + ("yes: documents + duplicates + rejects = inputs" if counts["accounted"]
                            else "NO: documents + duplicates + rejects != inputs"),
        f"  languages   {_inline(counts['languages'])}",
        f"  removed lines by reason  {_inline(counts['removed_lines_by_reason'])}",
    ]
    return "\n".join(lines)


def _inline(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def read_summary(output_dir: str) -> dict[str, Any]:
    with FileSystems.open(FileSystems.join(output_dir, RUN_SUMMARY)) as handle:
        return json.loads(handle.read().decode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        help_parser().print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    LOG.setLevel(logging.INFO)
    options = PipelineOptions(argv)
    ingest = options.view_as(IngestOptions)
    try:
        validate_flags(argv)
        if not ingest.input or not ingest.output:
            raise UsageError("--input GLOB and --output DIR are required (see --help)")
        if ingest.num_shards < 1:
            raise UsageError("--num_shards must be at least 1")
        matched = check_inputs(ingest.input)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    LOG.info("run %s: %d paths matched; writing to %s", run_id, matched, ingest.output)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, ingest, run_id, run_info(ingest, run_id, started.isoformat(timespec="seconds")))
    pipeline.run().wait_until_finish()
    summary = read_summary(ingest.output)
    print(format_summary(summary))
    return 0 if summary["counts"]["accounted"] else 1
