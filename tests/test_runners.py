"""The same rows on every runner we can start here: Beam's multi-process DirectRunner, Beam's
portable job service with a separate worker pool (the job-submission and SDK-worker path of
Flink, Spark and Dataflow), and a Dask cluster of two worker processes.

Each run is compared row by row with an in-process FnApiRunner run over the same inputs (seeds,
an exact copy, an HTML page, a gzipped page and a reject), and must show that other processes
did the work: run.json lists the processes that wrote the shards."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.timings import parse_stage_seconds
from tests.conftest import REPO_ROOT, SEEDS, read_table

pytestmark = pytest.mark.runners
TABLES = ("documents", "duplicates", "rejects")
HTML_PAGE = """<html><head><title>Harbour reopens</title></head><body><nav>Home | World | Sport</nav>
<article><h1>Harbour reopens after storm repairs</h1>
<p>The old harbour reopened to fishing boats on Monday after three months of repairs to the sea wall
damaged in the winter storms.</p>
<p>The port authority said the works cost less than planned and that ferries would return next week,
once divers have checked the new moorings.</p></article><footer>Contact us</footer></body></html>"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder)
    shutil.copy(next(SEEDS.glob("002_*")), folder / "copy-of-002.txt")
    (folder / "harbour.html").write_text(HTML_PAGE, encoding="utf-8")
    (folder / "harbour-2.html.gz").write_bytes(gzip.compress(HTML_PAGE.replace("Monday", "Tuesday").encode()))
    (folder / "empty.txt").write_bytes(b"")
    return folder


def run_cli(corpus: Path, out: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, int]:
    cmd = [sys.executable, "-m", "pipeline", "--input", str(corpus / "*"), "--output", str(out), *extra]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-3000:]
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), proc.pid


def rows(out: Path) -> dict[str, list[str]]:
    return {table: sorted(repr(sorted(r.items())) for r in read_table(out, table)) for table in TABLES}


def writers(out: Path) -> set[int]:
    return {int(worker.rsplit(":", 1)[1]) for worker in json.loads((out / "run.json").read_text())["workers"]}


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict[str, list[str]]:
    out = tmp_path_factory.mktemp("reference") / "out"
    run_cli(corpus, out, "--runner=FnApiRunner")
    expected = rows(out)
    assert [len(expected[t]) for t in TABLES] == [5, 3, 1]  # 4 seeds + 1 page kept; 004, copy, .gz dropped
    return expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        assert process.poll() is None, process.stderr.read()[-2000:] if process.stderr else "exited"
        with socket.socket() as sock:
            if sock.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


def test_multi_processing_direct_runner(corpus, reference, tmp_path):
    out = tmp_path / "out"
    result, cli_pid = run_cli(corpus, out, "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert rows(out) == reference
    # the worker processes' execution times come back to the summary
    assert sum(parse_stage_seconds(result.stdout).values()) > 0, result.stdout
    # their dedup counts agree hop by hop
    near = [line for line in result.stdout.splitlines() if line.strip().startswith("near dups")]
    assert near and near[0].endswith("steps agree") and " 0 candidate pairs" not in near[0], result.stdout
    assert writers(out) and cli_pid not in writers(out)


def test_portable_job_service_with_an_external_worker_pool(corpus, reference, tmp_path):
    job_port, pool_port = free_port(), free_port()
    # The pool starts each SDK worker as `python`: this environment's, which has the package.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    services = []
    try:
        for cmd, port in (
                ([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                  "--port", str(job_port)], job_port),
                ([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                  f"--service_port={pool_port}"], pool_port)):
            services.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, text=True))
            wait_for_port(port, services[-1])
        out = tmp_path / "out"
        _, cli_pid = run_cli(corpus, out, "--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
                             "--environment_type=EXTERNAL", f"--environment_config=localhost:{pool_port}")
        assert rows(out) == reference
        pids = writers(out)
        assert pids and cli_pid not in pids and not pids & {s.pid for s in services}  # SDK workers wrote
    finally:
        for service in services:
            service.kill()
            service.wait(timeout=30)


def test_dask_cluster_of_two_worker_processes(corpus, reference, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        out = tmp_path / "out"
        result, _ = run_cli(corpus, out, "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                            f"--dask_client_address={cluster.scheduler_address}")
        assert rows(out) == reference
        assert "reports no time per stage" in result.stdout  # the DaskRunner has no such metrics
        # the dedup counts travel as elements, so its runs are checked all the same
        near = [line for line in result.stdout.splitlines() if line.strip().startswith("near dups")]
        assert near and near[0].endswith("steps agree") and " 0 candidate pairs" not in near[0], result.stdout
        assert writers(out) and writers(out) <= worker_pids
