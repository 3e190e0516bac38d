"""The pipeline's own command-line flags; every other flag passes through to Beam."""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.clean import DEFAULT_DOC_TIMEOUT_SECONDS
from transforms.progress import DEFAULT_PROGRESS_SECONDS
from transforms.read import ReadLimits

_DEFAULT_LIMITS = ReadLimits()
DEFAULT_NUM_SHARDS = 4


class IngestOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--input", action="append", default=None,
            help="Glob of raw files (plain text, HTML, or their .gz) on any Beam filesystem "
                 "(local, gs://, s3://...). Repeat for several globs.")
        parser.add_argument(
            "--output", default=None,
            help="Output folder: documents/, duplicates/, rejects/ (Parquet) and run.json. "
                 "A rerun replaces what a previous run wrote there.")
        parser.add_argument(
            "--state", default=None,
            help="State folder of scheduled, incremental runs (any Beam filesystem). With it, inputs "
                 "an earlier run ingested unchanged are skipped, documents are deduplicated against "
                 "earlier runs' documents, and each run writes its own folder OUTPUT/run=<run id>/ "
                 "instead of replacing OUTPUT. Without it, every run ingests everything.")
        parser.add_argument(
            "--num_shards", type=int, default=DEFAULT_NUM_SHARDS,
            help="Parquet files per table, at most (default %(default)s); rows are spread by doc_id.")
        parser.add_argument(
            "--max_raw_bytes", type=int, default=_DEFAULT_LIMITS.max_raw_bytes,
            help="Reject files larger than this on disk (default %(default)s).")
        parser.add_argument(
            "--max_decompressed_bytes", type=int, default=_DEFAULT_LIMITS.max_decompressed_bytes,
            help="Stop inflating a .gz past this many bytes and reject it (default %(default)s).")
        parser.add_argument(
            "--max_line_chars", type=int, default=_DEFAULT_LIMITS.max_line_chars,
            help="Reject pages with a line longer than this (default %(default)s).")
        parser.add_argument(
            "--max_lines", type=int, default=_DEFAULT_LIMITS.max_lines,
            help="Reject pages with more lines than this (default %(default)s).")
        parser.add_argument(
            "--doc_timeout", type=float, default=DEFAULT_DOC_TIMEOUT_SECONDS,
            help="Seconds extraction and cleaning of one page may take before it is rejected with "
                 "reason 'timeout' (default %(default)s; 0 disables the limit).")

        parser.add_argument(
            "--progress_seconds", type=float, default=DEFAULT_PROGRESS_SECONDS,
            help="Each worker logs how many inputs it has read, cleaned and tagged, and how fast, "
                 "at most this often (default %(default)s; 0 = never).")

    def read_limits(self) -> ReadLimits:
        return ReadLimits(
            max_raw_bytes=self.max_raw_bytes,
            max_decompressed_bytes=self.max_decompressed_bytes,
            max_line_chars=self.max_line_chars,
            max_lines=self.max_lines,
        )



def own_flags() -> list[str]:
    """The flags IngestOptions defines, read from its parser so the list cannot drift."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    IngestOptions._add_argparse_args(parser)
    return [opt for action in parser._actions for opt in action.option_strings]
