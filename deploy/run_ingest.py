"""Launcher for schedulers that run a Python file rather than a module (Airflow's
BeamRunPythonPipelineOperator `py_file`): the same as `python -m pipeline` / `ingest`."""
from pipeline.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
