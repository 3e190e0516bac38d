"""A per-document time limit that works inside Beam's worker threads.

Beam runs DoFns in worker threads, where SIGALRM cannot reach (signals go to the main thread
only), and trafilatura's own timeout exists only in its CLI. A single watchdog thread per
process instead raises `DocumentTimeout` in the thread whose deadline passed, through
`PyThreadState_SetAsyncExc`. The exception lands at the next Python bytecode of that thread:
HTML extraction and our cleaners spend their time in Python loops that call into lxml in short
steps, so it lands within milliseconds; a single C call that never returns (one giant regex
backtrack) would only be interrupted when it returns. The cost per document is two lock
round-trips: no process, no pickling, nothing on the page's path.
"""
from __future__ import annotations

import ctypes
import itertools
import threading
import time
from typing import Iterator
from contextlib import contextmanager

WATCH_INTERVAL_SECONDS = 0.05


class DocumentTimeout(BaseException):
    """Raised in a worker thread whose document ran past its deadline.

    A BaseException, like KeyboardInterrupt, so that the `except Exception` blocks inside
    extractors (and our own never-raise wrappers such as `clean_html`) let it through."""


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, tuple[int, float]] = {}  # token -> (thread id, deadline)
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def register(self, seconds: float) -> int:
        with self._lock:
            token = next(self._tokens)
            self._deadlines[token] = (threading.get_ident(), time.monotonic() + seconds)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="document-timeout-watchdog", daemon=True)
                self._thread.start()
            return token

    def unregister(self, token: int) -> None:
        with self._lock:
            entry = self._deadlines.pop(token, None)
            if entry is None:
                # The watchdog fired for this token: if the exception is still pending (the work
                # finished in between), clear it so it cannot surface in unrelated code.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(threading.get_ident()), None)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_INTERVAL_SECONDS)
            now = time.monotonic()
            with self._lock:
                for token, (thread_id, deadline) in list(self._deadlines.items()):
                    if now >= deadline:
                        del self._deadlines[token]
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(thread_id), ctypes.py_object(DocumentTimeout))


_WATCHDOG = _Watchdog()


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise DocumentTimeout in this thread if the block runs longer than `seconds`.

    Use it inside `try: ... except DocumentTimeout:`: the exception can surface anywhere in
    the block, including its very end. `None` or a non-positive limit disables the guard."""
    if not seconds or seconds <= 0:
        yield
        return
    token = _WATCHDOG.register(seconds)
    try:
        yield
    finally:
        _WATCHDOG.unregister(token)
