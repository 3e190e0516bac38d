"""Builds the pipeline graph: read -> clean -> language -> dedup -> write. No text logic here."""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata

from pipeline.options import IngestOptions
from transforms.clean import DOCUMENTS, CleanDocuments
from transforms.dedup import DecideDuplicates, DedupConfig
from transforms.language import DetectLanguage
from transforms.neardup import partitions_for
from transforms.read import PAGES, REJECTS, ReadRawFiles, matched_directories
from transforms.routing import SplitRoutes
from transforms.state import NEW, SKIPPED, ManifestRows, PriorIndex, SkipIngested
from transforms.write import (INPUTS_KEY, SKIPPED_KEY, FinalizeDocumentShards, RunLayout, StageDocuments,
                              WriteIndexShards, WriteTables, dedup_counter)


def dedup_config(expected_inputs: int) -> DedupConfig:
    """The near-duplicate settings of a run of about this many inputs: its LSH and pair partitions
    grow with the corpus (`partitions_for`)."""
    return dataclasses.replace(DedupConfig(), lsh_partitions=partitions_for(expected_inputs))


@dataclasses.dataclass(frozen=True)
class PriorState:
    """The state files of the runs committed before this one (listed when the graph is built),
    and how many documents their index holds (`transforms.state.kept_documents`): each is
    deduplicated against, so it sizes the dedup partitions as a new input does."""

    manifest_paths: list[str]
    index_paths: list[str]
    index_rows: int = 0


def build_pipeline(p: beam.Pipeline, options: IngestOptions, layout: RunLayout, run_info: dict[str, Any],
                   prior: PriorState | None = None,
                   listed_inputs: Sequence[FileMetadata] | None = None,
                   expected_inputs: int = 0) -> beam.PCollection:
    """Adds every stage to `p`; returns the commit step's output (the run summary).

    `prior` is given for incremental runs (`layout.state_dir`). `listed_inputs`, the files the
    globs matched when the job was submitted, replaces matching inside the pipeline: the
    DaskRunner splits work only where a Create splits its elements into partitions.
    `expected_inputs` (the files matched at submission), with the documents of the prior index,
    sizes the dedup partitions; it is also the total the progress log counts towards."""
    if listed_inputs is not None:
        files = p | "ListedFiles" >> beam.Create(list(listed_inputs))
    else:
        files = (p
                 | "InputGlobs" >> beam.Create(sorted(options.input))
                 | "MatchFiles" >> fileio.MatchAll(empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW))
    directories = p | "MatchedDirectories" >> beam.Create(
        [FileMetadata(path, 0) for path in matched_directories(options.input)])
    matched = ((files, directories)
               | "AllMatches" >> beam.Flatten()
               | "SpreadFiles" >> beam.Reshuffle())
    counters = [matched | "CountInputs" >> beam.Map(lambda _: (INPUTS_KEY, 1))]
    state_tables: dict[str, beam.PCollection] = {}
    if layout.incremental:
        if prior is None:
            raise ValueError("an incremental run needs the prior state's files")
        ingested = matched | "SkipIngested" >> SkipIngested(prior.manifest_paths, options.max_raw_bytes)
        counters.append(ingested[SKIPPED] | "CountSkipped" >> beam.Map(lambda _: (SKIPPED_KEY, 1)))
        to_read = ingested[NEW] | "NewFiles" >> beam.Map(lambda new: new[0])
    else:
        to_read = matched

    read = (to_read
            | "ReadRawFiles" >> beam.ParDo(ReadRawFiles(
                options.read_limits(), options.progress_seconds,
                # an incremental run reads only what is new, which is unknown at submission
                None if layout.incremental else expected_inputs or None))
            | "RouteRead" >> SplitRoutes(PAGES, REJECTS))
    cleaned = (read[PAGES]
               | "CleanDocuments" >> beam.ParDo(CleanDocuments(options.doc_timeout))
               | "RouteClean" >> SplitRoutes(DOCUMENTS, REJECTS))
    tagged = (cleaned[DOCUMENTS]
              | "DetectLanguage" >> beam.ParDo(DetectLanguage())
              | "RouteLanguage" >> SplitRoutes(DOCUMENTS, REJECTS))
    config = dedup_config(expected_inputs + (prior.index_rows if layout.incremental else 0))
    # Fingerprints, LSH keys and colliding pairs wait in spill files where a random read is cheap:
    # a local disk (transforms.spill).
    spill = "://" not in layout.staging_root()
    spill_folder = layout.dedup_spill_dir if spill else None
    if layout.incremental:
        # documents earlier runs kept: new ones that copy them are their duplicates
        earlier = ingested[NEW] | "PriorIndex" >> PriorIndex(prior.index_paths, spill_folder)
    slim = tagged[DOCUMENTS] | "StageDocuments" >> beam.ParDo(
        StageDocuments(layout, options.num_shards, config, spill_fingerprints=spill))
    decided = (((slim, earlier) if layout.incremental else slim)
               | "Deduplicate" >> DecideDuplicates(config, with_index=layout.incremental,
                                                   spill_folder=spill_folder))
    written = decided["decisions"] | "WriteDocuments" >> FinalizeDocumentShards(layout)
    # checked before the commit (transforms.write.CommitRun)
    counters.append(decided["counts"] | "DedupCounters" >> beam.Map(dedup_counter))
    rejects = (read[REJECTS], cleaned[REJECTS], tagged[REJECTS]) | "AllRejects" >> beam.Flatten()
    if layout.incremental:
        state_tables = {"manifest": (ingested[NEW], rejects) | "Manifest" >> ManifestRows(layout.run_id)}
        # like the documents, the index is written from records that stay small in the shuffle
        index_written = decided["index"] | "WriteIndex" >> WriteIndexShards(layout, options.num_shards)
        written = (written, index_written) | "AllWrittenShards" >> beam.Flatten()
    tables = {"rejects": rejects, **state_tables}
    all_counters = counters | "AllCounters" >> beam.Flatten()
    return (tables, all_counters, written) | "WriteTables" >> WriteTables(layout, options.num_shards, run_info)
