"""Where a run's time went, per stage, from Beam's own execution-time metrics.

Portable Python runners (the DirectRunner in both modes, Flink, Spark) sample which step each
worker thread is in and report it per step as `ptransform_execution_time:total_msecs`. That
is the real run's time, shuffles and writes included, with no profiler attached. Steps are
grouped by the top-level names `pipeline.assembly` gives them. The figures are worker
seconds: with several workers they add up to more than the wall time. Beam's sampler looks
every 200 ms and charges the time since its last look to the step it finds running, so the
split is only meaningful on runs of a minute or more. Runners that do not report these
metrics (DaskRunner, Dataflow through this API) give an empty breakdown.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Mapping

from apache_beam.coders.coders import VarIntCoder

EXECUTION_TIME_URN = "beam:metric:ptransform_execution_time:total_msecs:v1"
PTRANSFORM_LABEL = "PTRANSFORM"

# Top-level step name (pipeline.assembly) -> the stage it belongs to, in pipeline order.
STAGES = ("read", "clean", "language", "stage", "dedup", "write")
STAGE_OF_STEP: dict[str, str] = {
    "ListedFiles": "read", "InputGlobs": "read", "MatchFiles": "read", "MatchedDirectories": "read",
    "AllMatches": "read", "SpreadFiles": "read", "CountInputs": "read", "ReadRawFiles": "read",
    "RouteRead": "read", "SkipIngested": "read", "CountSkipped": "read", "NewFiles": "read",
    "CleanDocuments": "clean", "RouteClean": "clean",
    "DetectLanguage": "language", "RouteLanguage": "language",
    # fingerprints for deduplication, and the full documents written to staging files
    "StageDocuments": "stage",
    "Deduplicate": "dedup", "PriorIndex": "dedup", "IndexRows": "dedup",
    "WriteDocuments": "write", "AllRejects": "write", "Manifest": "write", "AllCounters": "write",
    "WriteTables": "write",
}
OTHER = "other"


def stage_seconds(monitoring_infos: Iterable[Any]) -> dict[str, float]:
    """Seconds spent per stage (STAGES, plus OTHER for steps not in STAGE_OF_STEP), summed
    over workers, from a run's monitoring infos; empty if they carry no execution times."""
    millis: Counter[str] = Counter()
    coder = VarIntCoder()
    for info in monitoring_infos:
        if info.urn != EXECUTION_TIME_URN:
            continue
        step = info.labels.get(PTRANSFORM_LABEL, "")
        millis[STAGE_OF_STEP.get(step.split("/", 1)[0], OTHER)] += coder.decode(info.payload)
    if not millis:
        return {}
    return {stage: millis[stage] / 1000 for stage in (*STAGES, OTHER) if stage in millis}


def run_stage_seconds(result: Any) -> dict[str, float]:
    """`stage_seconds` of a finished PipelineResult; empty when its runner has no such metrics."""
    try:
        infos = result.metrics().monitoring_infos()
    except Exception:  # noqa: BLE001 - no metrics API, or one without monitoring infos
        return {}
    return stage_seconds(infos or ())


def format_stage_seconds(seconds: Mapping[str, float], wall_seconds: float) -> str:
    """One summary line: worker seconds per stage with its share, and the run's wall time."""
    if not seconds:
        return f"  time        {wall_seconds:.1f} s wall; this runner reports no time per stage"
    total = sum(seconds.values())
    parts = ", ".join(f"{stage} {value:.2f} s ({100 * value / total:.0f}%)"
                      for stage, value in seconds.items() if value > 0 or stage in STAGES)
    return f"  time        {wall_seconds:.1f} s wall; by stage, worker seconds (sampled): {parts}"


_STAGE_PART = re.compile(r"(\w+) ([0-9.]+) s \(")


def parse_stage_seconds(summary_text: str) -> dict[str, float]:
    """The per-stage seconds a run printed (`format_stage_seconds`), for tools that run the CLI."""
    for line in summary_text.splitlines():
        if line.strip().startswith("time") and "by stage" in line:
            return {stage: float(value) for stage, value in _STAGE_PART.findall(line.split("by stage", 1)[1])}
    return {}
