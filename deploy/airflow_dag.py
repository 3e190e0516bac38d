"""Daily incremental ingest on Dataflow, scheduled by Airflow (apache-airflow-providers-apache-beam).

Each run ingests only new and changed pages under RAW (the manifest in STATE says what is
done), deduplicates them against everything kept before, and writes CLEAN/run=<run id>/.
`max_active_runs=1`: one state folder takes one run at a time. A failed task can simply be
retried: until a run commits its state, nothing it did is visible or remembered.

Set the Airflow Variables below; the worker running the task needs this repository checked out
at NEWSINGEST_HOME (for `--setup_file`, which ships the package to the Dataflow workers) and
the Google Cloud SDK, as the Beam provider requires for Dataflow.
"""
from __future__ import annotations

import datetime

from airflow import models
from airflow.models import Variable
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

NEWSINGEST_HOME = Variable.get("newsingest_home", default_var="/opt/newsingest")
BUCKET = Variable.get("newsingest_bucket", default_var="my-news-bucket")

with models.DAG(
    "newsingest_daily",
    start_date=datetime.datetime(2026, 12, 1),
    schedule="15 2 * * *",
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": datetime.timedelta(minutes=10)},
    tags=["newsingest"],
) as dag:
    BeamRunPythonPipelineOperator(
        task_id="ingest_new_pages",
        py_file=f"{NEWSINGEST_HOME}/deploy/run_ingest.py",
        runner="DataflowRunner",
        py_requirements=[f"{NEWSINGEST_HOME}[gcp]"],  # the pipeline and its submit tools, in a fresh venv
        py_system_site_packages=False,
        pipeline_options={
            "input": f"gs://{BUCKET}/raw/**",
            "output": f"gs://{BUCKET}/clean",
            "state": f"gs://{BUCKET}/clean-state",
            "setup_file": f"{NEWSINGEST_HOME}/pyproject.toml",
            "temp_location": f"gs://{BUCKET}/tmp",
            "max_num_workers": "20",
        },
        dataflow_config={
            "job_name": "newsingest-{{ ds_nodash }}",
            "project_id": Variable.get("gcp_project", default_var="my-project"),
            "location": "europe-west1",
            "wait_until_finished": True,
        },
    )
