"""Peak memory of the read stage on a gzip bomb and a 10 MB line, measured in a fresh process
(its VmHWM high-water mark, Linux)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PROBE = r"""
import sys, zlib
from transforms.read import ReadLimits, RejectError, page_from_bytes

def bomb(inflated):
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    return b"".join(deflater.compress(chunk) for _ in range(inflated >> 20)) + deflater.flush()

data = bomb(%(inflated)d) if sys.argv[1] == "bomb" else b"word " * (2 * 1024 * 1024)
name = "bomb.txt.gz" if sys.argv[1] == "bomb" else "line.txt"

def peak_kb():
    # VmHWM, not getrusage: ru_maxrss survives exec, so it would report the forking pytest.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

try:
    page_from_bytes(name, data, ReadLimits())
    print("accepted", len(data), peak_kb())
except RejectError as exc:
    print(exc.reason, len(data), peak_kb())
"""
INFLATED = 512 << 20  # 512 MiB of zeros: ~500 KB of gzip


@pytest.mark.parametrize("kind", ["bomb", "line"])
def test_peak_memory_stays_well_under_1_gb(kind):
    result = subprocess.run([sys.executable, "-c", PROBE % {"inflated": INFLATED}, kind],
                            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    reason, size, peak_kb = result.stdout.split()
    print(f"{kind}: {int(size):,} input bytes -> {reason}, peak RSS {int(peak_kb) / 1024:.0f} MB")
    assert reason == "too_large"
    assert int(peak_kb) < 400 * 1024  # well under 1 GB: the limit is 50 MB of text
