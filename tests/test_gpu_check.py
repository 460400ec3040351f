"""`benchmarks.gpu_check` has a CPU path, and CI runs it: every row is produced and ok, so the
script is ready for the next lent GPU (where it measures the CUDA figures instead)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.run_helpers import _env

ROOT = Path(__file__).resolve().parents[1]


def test_cpu_smoke_path_prints_every_row(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--smoke"], cwd=ROOT,
                          env=_env(None), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("\nrow "):]
    for label in ("CUDA tests (pytest -m cuda)", "env steps/s at 64 envs", "env steps/s at 256 envs",
                  "matmul rate", "PPO tiny", "GPU memory", "walk-forward smoke", "same walk-forward twice",
                  "learning: lag1_daily_050, fold 0, 8,192 steps"):
        assert label in table, label
    assert "FAIL" not in table
    assert "largest summary-metric difference 0 " in table  # two CPU runs agree exactly
