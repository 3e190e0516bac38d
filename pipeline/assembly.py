"""Builds the pipeline graph: read -> clean -> language -> dedup -> write. No text logic here."""
from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata

from pipeline.options import IngestOptions
from transforms.clean import CleanDocuments
from transforms.dedup import DedupConfig, DeduplicateDocuments
from transforms.language import DetectLanguage
from transforms.read import ReadRawFiles, matched_directories
from transforms.write import WriteTables


def build_pipeline(p: beam.Pipeline, options: IngestOptions, run_id: str, run_info: dict[str, Any]) -> beam.PCollection:
    """Adds every stage to `p`; returns the commit step's output (the run summary)."""
    files = (p
             | "InputGlobs" >> beam.Create(sorted(options.input))
             | "MatchFiles" >> fileio.MatchAll(empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW))
    directories = p | "MatchedDirectories" >> beam.Create(
        [FileMetadata(path, 0) for path in matched_directories(options.input)])
    matched = ((files, directories)
               | "AllMatches" >> beam.Flatten()
               | "SpreadFiles" >> beam.Reshuffle())
    read = matched | "ReadRawFiles" >> beam.ParDo(ReadRawFiles(options.read_limits())).with_outputs(
        "rejects", main="pages")
    cleaned = read.pages | "CleanDocuments" >> beam.ParDo(CleanDocuments(options.doc_timeout)).with_outputs(
        "rejects", main="documents")
    tagged = cleaned.documents | "DetectLanguage" >> beam.ParDo(DetectLanguage()).with_outputs(
        "rejects", main="documents")
    kept, duplicates = tagged.documents | "Deduplicate" >> DeduplicateDocuments(DedupConfig())
    rejects = (read.rejects, cleaned.rejects, tagged.rejects) | "AllRejects" >> beam.Flatten()
    input_count = matched | "CountInputs" >> beam.combiners.Count.Globally()
    tables = {"documents": kept, "duplicates": duplicates, "rejects": rejects}
    return (tables, input_count) | "WriteTables" >> WriteTables(
        options.output, run_id, options.num_shards, run_info)
