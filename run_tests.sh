#!/usr/bin/env bash
# Sets up a virtual environment with the test extras (first run only) and runs the test suite.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k language
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
