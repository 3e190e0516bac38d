"""Time per stage from Beam's execution-time metrics (pipeline.timings), without running Beam,
except for one graph build; the CLI's printed line is checked in test_end_to_end.py."""
from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics import monitoring_infos
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.assembly import PriorState, build_pipeline
from pipeline.options import IngestOptions
from pipeline.timings import (OTHER, STAGE_OF_STEP, STAGES, format_stage_seconds, parse_stage_seconds,
                              run_stage_seconds, stage_seconds)
from transforms.write import RunLayout


def execution_time(step: str, millis: int):
    return monitoring_infos.int64_counter(monitoring_infos.TOTAL_MSECS_URN, millis, ptransform=step)


def test_execution_time_is_summed_per_stage_by_top_level_step_in_seconds():
    infos = [
        execution_time("CleanDocuments", 1500),
        execution_time("RouteClean/Split", 250),
        execution_time("Deduplicate/NearDuplicates/Verify", 700),
        execution_time("Deduplicate/GroupExactCopies/Write", 300),
        execution_time("WriteTables/WriteShardFiles", 40),
        # the other time metrics of a step are parts of its total: counting them would double it
        monitoring_infos.int64_counter(monitoring_infos.START_BUNDLE_MSECS_URN, 999, ptransform="CleanDocuments"),
        monitoring_infos.int64_counter(monitoring_infos.PROCESS_BUNDLE_MSECS_URN, 999, ptransform="CleanDocuments"),
    ]
    assert stage_seconds(infos) == {"clean": 1.75, "dedup": 1.0, "write": 0.04}


def test_steps_the_map_does_not_know_are_counted_as_other_not_dropped():
    seconds = stage_seconds([execution_time("SomeNewStep/Inner", 2000), execution_time("ReadRawFiles", 500)])
    assert seconds == {"read": 0.5, OTHER: 2.0}


def test_a_run_without_execution_times_has_no_breakdown():
    assert stage_seconds([monitoring_infos.int64_counter(monitoring_infos.USER_COUNTER_URN, 5,
                                                         ptransform="CleanDocuments")]) == {}
    assert "reports no time per stage" in format_stage_seconds({}, 12.0)


def test_a_run_whose_samples_are_all_zero_prints_no_shares():
    # a tiny run can sample nothing: the summary line must not divide by a zero total
    zero = stage_seconds([execution_time("CleanDocuments", 0)])
    assert zero == {"clean": 0.0}
    assert "reports no time per stage" in format_stage_seconds(zero, 1.0)


class _ResultWithBrokenMetrics:
    def monitoring_infos(self):
        raise RuntimeError("metrics service gone")


def test_results_without_execution_times_or_with_broken_ones_give_an_empty_breakdown(caplog):
    assert run_stage_seconds(object()) == {}  # like the DaskRunner's or PortableRunner's: no monitoring_infos
    assert run_stage_seconds(_ResultWithBrokenMetrics()) == {}
    assert "could not read the run's execution times" in caplog.text


def test_the_printed_line_reads_back_as_the_same_seconds():
    seconds = {"read": 1.25, "clean": 80.5, "language": 9.75, "staging": 2.0, "dedup": 0.5, "write": 0.25}
    line = format_stage_seconds(seconds, 100.0)
    assert "100.0 s run wall" in line and "clean 80.50 s (85%)" in line
    summary = f"Run x (FnApiRunner)\n  documents 4\n{line}\n"
    assert parse_stage_seconds(summary) == seconds
    assert parse_stage_seconds("Run x\n  documents 4\n") == {}


def top_level_steps(folder: Path, incremental: bool, listed: bool) -> set[str]:
    """The top-level step names of the pipeline graph as the CLI builds it (not run)."""
    options = PipelineOptions([f"--input={folder}/*", f"--output={folder}/out", "--runner=FnApiRunner"])
    layout = RunLayout(str(folder / "out"), "run1", str(folder / "state") if incremental else None)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, options.view_as(IngestOptions), layout, {"run_id": "run1"},
                   prior=PriorState([], []) if incremental else None, listed_inputs=[] if listed else None)
    return {part.full_label for part in pipeline.transforms_stack[0].parts}


@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.parametrize("listed", [False, True])  # True: the file list made at submission (DaskRunner)
def test_every_top_level_step_of_the_pipeline_belongs_to_a_stage(tmp_path, incremental, listed):
    """A step added or renamed in pipeline.assembly without a stage would be timed as 'other'."""
    assert top_level_steps(tmp_path, incremental, listed) - set(STAGE_OF_STEP) == set()


def test_the_stage_map_names_only_steps_the_pipeline_has_and_only_known_stages(tmp_path):
    seen = set()
    for incremental in (False, True):
        for listed in (False, True):
            seen |= top_level_steps(tmp_path / f"{incremental}-{listed}", incremental, listed)
    assert set(STAGE_OF_STEP) - seen == set()
    assert set(STAGE_OF_STEP.values()) == set(STAGES)
