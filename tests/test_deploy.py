"""The schedules in deploy/ pass flags the pipeline accepts (Airflow itself is not installed here:
the DAG is read as source, its pipeline options checked the way the CLI checks a command line)."""
from __future__ import annotations

import ast
import shlex

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.cli import UsageError, validate_flags
from pipeline.options import IngestOptions
from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


def cron_arguments() -> list[str]:
    (line,) = [line for line in (DEPLOY / "crontab").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    command = shlex.split(line.split(None, 5)[5])
    start = next(i for i, word in enumerate(command) if word.endswith("/ingest"))
    return command[start + 1:command.index(">>")]


def dag_pipeline_options() -> dict[str, str]:
    tree = ast.parse((DEPLOY / "airflow_dag.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "pipeline_options":
            return {key.value: value.value if isinstance(value, ast.Constant) else "gs://bucket/path"
                    for key, value in zip(node.value.keys, node.value.values)}
    raise AssertionError("the DAG sets no pipeline_options")


def test_cron_line_is_an_incremental_run_with_known_flags():
    args = cron_arguments()
    validate_flags(args)
    options = PipelineOptions(args).view_as(IngestOptions)
    assert options.input and options.output and options.state


def test_airflow_dag_options_are_known_flags():
    options = dag_pipeline_options()
    args = [f"--{key}={value}" for key, value in options.items()]  # as the operator passes them
    validate_flags(args)
    assert {"input", "output", "state", "setup_file"} <= set(options)


def test_a_typo_in_a_scheduled_flag_would_be_caught():
    with pytest.raises(UsageError):
        validate_flags([*cron_arguments(), "--stat=/data/clean-state"])
