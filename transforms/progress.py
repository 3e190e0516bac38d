"""Progress of a long run: each worker process logs how many inputs it has taken through the
read, clean and language steps (one fused stage on every runner), and how fast.

A run over a large corpus on one machine takes hours, and Beam says nothing until it ends.
Workers cannot see each other's counts portably (metrics are not queryable on every runner
while a job runs), so each logs its own, at most every `every_seconds`, under the `pipeline`
logger that the command line shows at INFO.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

LOG = logging.getLogger("pipeline.progress")
DEFAULT_PROGRESS_SECONDS = 30.0


class ProgressLog:
    """Counts events and logs the count, the rate since the last line and the share of
    `total` (when known) once `every_seconds` have passed; every_seconds <= 0 never logs."""

    def __init__(self, what: str, every_seconds: float, total: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 log: Callable[..., None] = LOG.info) -> None:
        self._what = what
        self._every = every_seconds
        self._total = total
        self._clock = clock
        self._log = log
        self.count = 0
        self._last_count = 0
        self._last_time = clock()

    def tick(self, count: int = 1) -> None:
        self.count += count
        if self._every <= 0:
            return
        now = self._clock()
        elapsed = now - self._last_time
        if elapsed < self._every:
            return
        rate = (self.count - self._last_count) / elapsed  # elapsed >= every_seconds > 0 here
        share = f" of {self._total:,} ({100 * self.count / self._total:.0f}%)" if self._total else ""
        self._log("progress: %s%s %s in this worker, %.1f/s over the last %.0f s",
                  f"{self.count:,}", share, self._what, rate, elapsed)
        self._last_count, self._last_time = self.count, now
