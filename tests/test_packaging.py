"""What a remote worker gets: the sdist Beam builds for --setup_file (python -m build
--no-isolation) must install into a bare folder and run from there, model included, with
nothing read from this checkout."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_sdist_built_the_way_beam_stages_it_runs_away_from_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist),
                            str(REPO_ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (sdist,) = dist.glob("newsingest-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("transforms/models/line_model.json") for name in names)

    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                                "--no-build-isolation", "--target", str(site), str(sdist)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    worker = tmp_path / "worker"
    worker.mkdir()
    probe = ("import transforms.textclean as t, transforms.clean as c, pipeline.cli; "
             "assert t.load_model(), 'no line model'; "
             "c.warm_up(); "
             "print(t.__file__)")
    ran = subprocess.run([sys.executable, "-c", probe], cwd=worker, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(site)})
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip().startswith(str(site))  # the installed copy, not the checkout
