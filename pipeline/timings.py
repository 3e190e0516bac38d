"""Where a run's time went, per stage, from Beam's own execution-time metrics.

The FnApiRunner (the DirectRunner in memory and with multi_processing) samples which step each
worker thread is in and reports it per step as `ptransform_execution_time:total_msecs`: the
real run's time, with no profiler attached, including the steps' encoding to and decoding from
shuffles (the in-memory runner's grouping itself runs outside any step). Steps are grouped by
the top-level names `pipeline.assembly` gives them. The figures are worker seconds: with
several workers they add up to more than the wall time.

They are sampled: within a bundle the sampler looks after 2 ms, then ever less often up to
every 200 ms, and charges the time since its last look to the step it finds running; the time
after its last look in a bundle is charged to none. So the split means something on runs of a
minute or more, not on a handful of pages. Other runners' results do not carry these metrics
(PortableRunner, Flink and Spark through it, DaskRunner, Dataflow): their breakdown is empty.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any, Iterable, Mapping

from apache_beam.coders.coders import VarIntCoder
from apache_beam.metrics.monitoring_infos import TOTAL_MSECS_URN
from apache_beam.portability.api import metrics_pb2

LOG = logging.getLogger(__name__)
PTRANSFORM_LABEL = "PTRANSFORM"

# Top-level step name (pipeline.assembly) -> the stage it belongs to, in pipeline order.
STAGES = ("read", "clean", "language", "staging", "dedup", "write")
STAGE_OF_STEP: dict[str, str] = {
    "ListedFiles": "read", "InputGlobs": "read", "MatchFiles": "read", "MatchedDirectories": "read",
    "AllMatches": "read", "SpreadFiles": "read", "CountInputs": "read", "ReadRawFiles": "read",
    "RouteRead": "read", "SkipIngested": "read", "CountSkipped": "read", "NewFiles": "read",
    "CleanDocuments": "clean", "RouteClean": "clean",
    "DetectLanguage": "language", "RouteLanguage": "language",
    # fingerprints for deduplication, and the full documents written to staging files
    "StageDocuments": "staging",
    "Deduplicate": "dedup", "PriorIndex": "dedup", "DedupCounters": "dedup",
    "WriteDocuments": "write", "WriteIndex": "write", "AllWrittenShards": "write", "AllRejects": "write",
    "Manifest": "write", "AllCounters": "write",
    "WriteTables": "write",
}
OTHER = "other"


def stage_seconds(monitoring_infos: Iterable[metrics_pb2.MonitoringInfo]) -> dict[str, float]:
    """Seconds spent per stage (STAGES, plus OTHER for steps not in STAGE_OF_STEP), summed
    over workers, from a run's monitoring infos; empty if they carry no execution times."""
    millis: Counter[str] = Counter()
    coder = VarIntCoder()
    for info in monitoring_infos:
        # a step's start, process and finish times are parts of this total: not counted again
        if info.urn != TOTAL_MSECS_URN:
            continue
        step = info.labels.get(PTRANSFORM_LABEL, "")
        millis[STAGE_OF_STEP.get(step.split("/", 1)[0], OTHER)] += coder.decode(info.payload)
    if not millis:
        return {}
    return {stage: millis[stage] / 1000 for stage in (*STAGES, OTHER) if stage in millis}


def run_stage_seconds(result: Any) -> dict[str, float]:
    """`stage_seconds` of a finished PipelineResult; empty when its runner has no such metrics."""
    monitoring_infos = getattr(result, "monitoring_infos", None)  # the FnApiRunner's result only
    if monitoring_infos is None:
        return {}
    try:
        return stage_seconds(monitoring_infos())
    except Exception:  # noqa: BLE001 - the run has committed: a metrics problem must not fail it
        LOG.warning("could not read the run's execution times", exc_info=True)
        return {}


def format_stage_seconds(seconds: Mapping[str, float], wall_seconds: float) -> str:
    """One summary line: worker seconds per stage with its share, and the run's wall time."""
    total = sum(seconds.values())
    if total <= 0:
        return f"  time        {wall_seconds:.1f} s run wall; this runner reports no time per stage"
    parts = ", ".join(f"{stage} {value:.2f} s ({100 * value / total:.0f}%)"
                      for stage, value in seconds.items() if value > 0 or stage in STAGES)
    return f"  time        {wall_seconds:.1f} s run wall; by stage, worker seconds (sampled): {parts}"


_STAGE_PART = re.compile(r"(\w+) ([0-9.]+) s \(")


def parse_stage_seconds(summary_text: str) -> dict[str, float]:
    """The per-stage seconds a run printed (`format_stage_seconds`), for tools that run the CLI."""
    for line in summary_text.splitlines():
        if line.strip().startswith("time") and "by stage" in line:
            return {stage: float(value) for stage, value in _STAGE_PART.findall(line.split("by stage", 1)[1])}
    return {}
