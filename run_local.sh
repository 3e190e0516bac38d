#!/usr/bin/env bash
# Sets up a virtual environment (first run only) and ingests seeds/ into output/.
# Extra arguments go to the pipeline, e.g. ./run_local.sh --direct_running_mode=multi_processing --direct_num_workers=2
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/python -m pipeline --input 'seeds/*' --output output "$@"
