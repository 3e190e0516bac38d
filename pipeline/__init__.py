"""Assembly, options and entry point of the ingestion pipeline (no text logic lives here)."""
import os

# Arrow picks its C++ default memory pool when pyarrow is first imported, from this variable;
# `transforms.write.use_system_arrow_allocator` (why the system allocator) reaches only
# pyarrow's Python API, not the Parquet reader's and writer's own buffers. Both entry points
# (`python -m pipeline`, `ingest`) import this package before pyarrow, and the SDK worker
# processes a local runner starts inherit the environment. A pool the user chose is kept.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"

# glibc gives threads that allocate at once their own heaps ("arenas", up to 8 a core), and
# memory freed in one arena is reused only there. An SDK worker runs bundles on a pool of
# threads, so the dedup steps' transient working sets (one LSH partition at a time) land in
# several arenas, each keeping what was freed (heap census, session 14). With two, the 100k
# two-worker run peaked at 1,574 MiB instead of 1,787 (session 15). glibc reads the variable
# when a process starts: it reaches the SDK worker processes a local runner starts, not this
# one; `deploy/Dockerfile` sets it for remote workers. A value the user chose is kept.
MALLOC_ARENAS_VARIABLE = "MALLOC_ARENA_MAX"

# The allocator settings, in one place: this package applies them, `deploy/Dockerfile` repeats
# them for remote workers (tests/test_write.py compares the two).
WORKER_ALLOCATOR_ENVIRONMENT = {ARROW_POOL_VARIABLE: "system", MALLOC_ARENAS_VARIABLE: "2"}
for _name, _value in WORKER_ALLOCATOR_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
