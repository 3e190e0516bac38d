"""Progress lines of long runs (pure logic, and through the command line)."""
import logging

from pipeline.cli import main
from tests.conftest import SEEDS
from transforms.progress import ProgressLog


def test_progress_is_logged_at_most_once_per_interval_with_rate_and_share():
    now = [0.0]
    lines = []
    progress = ProgressLog("inputs read", 10.0, total=160, clock=lambda: now[0],
                           log=lambda fmt, *args: lines.append(fmt % args))
    for _ in range(40):
        now[0] += 0.125  # 40 inputs in 5 s: under the interval, nothing logged
        progress.tick()
    assert lines == []
    for _ in range(40):
        now[0] += 0.125
        progress.tick()
    assert lines == ["progress: 80 of 160 (50%) inputs read in this worker, 8.0/s over the last 10 s"]
    progress.tick()
    assert len(lines) == 1 and progress.count == 81


def test_progress_zero_interval_never_logs():
    lines = []
    progress = ProgressLog("inputs", 0.0, clock=lambda: 1e9, log=lambda *args: lines.append(args))
    progress.tick(5)
    assert lines == [] and progress.count == 5


def test_a_run_logs_its_progress_towards_the_inputs_matched(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipeline.progress")
    code = main(["--input", str(SEEDS / "*"), "--output", str(tmp_path / "out"), "--runner=FnApiRunner",
                 "--progress_seconds=0.000001"])
    assert code == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    n_seeds = len(list(SEEDS.iterdir()))
    assert lines and lines[-1].startswith(f"progress: {n_seeds} of {n_seeds} (100%) inputs read, cleaned and tagged")
