"""Running `walkforward run` in a subprocess for the end-to-end, resume and fault tests.

``TINY`` is the smallest real run: one symbol of the bundled sample, two folds, one PPO
update per fold and five random-policy seeds. Runs use ``--out run`` relative to their
own working directory, so two runs of the same command have identical configs and can be
compared byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TINY = ["--symbols", "SMPA", "--folds", "2", "--steps", "2048", "--random-seeds", "5"]
COMPARED = ("summary.json", "SMPA/fold_0/trades.csv", "SMPA/fold_1/trades.csv", "SMPA/fold_0/equity.csv",
            "SMPA/fold_1/equity.csv")


def _env(fault: str | None) -> dict:
    """The test's environment; PYTHONHASHSEED is left random, as a user's would be, so the
    byte-for-byte comparisons also prove results do not depend on string hashing."""
    env = {k: v for k, v in os.environ.items() if k not in ("WALKFORWARD_FAULT", "PYTHONHASHSEED")}
    if fault:
        env["WALKFORWARD_FAULT"] = fault
    return env


def run_cli(args, cwd: Path, fault: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m walkforward ARGS`` in ``cwd``; returns the completed process."""
    return subprocess.run([sys.executable, "-m", "walkforward", *args], cwd=cwd, env=_env(fault),
                          capture_output=True, text=True, timeout=timeout)


def start_cli(args, cwd: Path, fault: str | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "walkforward", *args], cwd=cwd, env=_env(fault),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> bool:
    """Poll until ``path`` exists (True) or the process ended / time ran out (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            return True
        if proc.poll() is not None:
            return path.exists()
        time.sleep(0.02)
    return False


def assert_all_files_load(run: Path) -> None:
    """Every JSON file parses and every checkpoint loads (weights_only) in the run directory."""
    from models.checkpoint import load_checkpoint

    for path in run.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    for path in run.rglob("*.pt"):
        load_checkpoint(path)


def assert_same_results(run: Path, reference: Path) -> None:
    for name in COMPARED:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
