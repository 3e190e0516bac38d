"""Assembly, options and entry point of the ingestion pipeline (no text logic lives here)."""
import os

# Arrow picks its C++ default memory pool when pyarrow is first imported, from this variable;
# `transforms.write.use_system_arrow_allocator` (why the system allocator) reaches only
# pyarrow's Python API, not the Parquet reader's and writer's own buffers. Both entry points
# (`python -m pipeline`, `ingest`) import this package before pyarrow, and the SDK worker
# processes a local runner starts inherit the environment. A pool the user chose is kept.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
os.environ.setdefault(ARROW_POOL_VARIABLE, "system")
