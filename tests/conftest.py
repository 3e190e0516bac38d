"""Shared helpers: where the repo, the seeds and the shared benchmark data are; reading tables."""
from __future__ import annotations

import glob
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS = REPO_ROOT / "seeds"
SHARED = REPO_ROOT.parent / "shared"


def read_table(output_dir: str | os.PathLike, table: str) -> list[dict]:
    """All rows of one output table, from every shard (shard counts differ by runner)."""
    rows: list[dict] = []
    for path in sorted(glob.glob(os.path.join(str(output_dir), table, "*.parquet"))):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


@pytest.fixture
def seed_paths() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


def shared_data(name: str) -> Path:
    """A benchmark folder under ../shared/data, or a clean skip when this checkout lacks it."""
    path = SHARED / "data" / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the shared benchmark data sits beside the repo)")
    return path
