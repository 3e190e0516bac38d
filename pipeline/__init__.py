"""Assembly, options and entry point of the ingestion pipeline (no text logic lives here)."""
import os

# Arrow picks its C++ default memory pool (mimalloc in the wheels) when pyarrow is first
# imported, from this variable; `pyarrow.set_memory_pool` later only reaches allocations made
# through pyarrow's Python API, not the Parquet reader's and writer's own buffers. mimalloc
# keeps the pages it frees for Arrow alone; with the system allocator they serve the Python
# objects of the shuffles that follow. This package is imported before pyarrow by both entry
# points (`python -m pipeline`, `ingest`), and the SDK worker processes a local runner starts
# inherit the environment. Two workers at 20k: peak 1,170 -> 1,081 MB, the same output
# (session 13). A pool the user chose is kept.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
os.environ.setdefault(ARROW_POOL_VARIABLE, "system")
