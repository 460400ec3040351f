"""What keying numba's cache by every imported file (`backtest.jit_cache`) costs.

    python -m benchmarks.jit_cache_cost [--repeat 3]

Each figure is the median of fresh processes (import the kernel modules, then call the
simulator and the feature pipeline once), with the cache in its own temporary directory
(``NUMBA_CACHE_DIR``) per locator so the two never read each other's index:

- ours: `backtest.jit_cache`'s locators (stamp = digest of the file and its imports);
- numba default: ``NUMBA_CACHE_LOCATOR_CLASSES=UserProvidedCacheLocator`` (stamp = the
  defining file only: stale after an edit to an imported file, the bug this fixes);
- no cache: the alternative of dropping ``cache=True``: every process compiles (the cold row).

Plus the in-process time to compute every kernel module's stamp (files read and scanned).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_MODULES = ("backtest/kernel.py", "models/fast_runner.py", "backtest/features/kernels.py",
                  "backtest/observation.py", "backtest/baselines.py", "backtest/sample_data.py")

WORK = """
import time
t0 = time.perf_counter()
import numpy as np
import backtest.simulator, backtest.kernel, backtest.observation, backtest.baselines, backtest.features
import models.fast_runner
t1 = time.perf_counter()
from backtest.features import compute_features, default_schema
from backtest.sample_data import generate_equity_bars
from backtest.simulator import simulate
bars = generate_equity_bars("SMPA", "2022-01-03", "2022-01-20", seed=1)
compute_features(bars, default_schema())
simulate(bars, np.tile([1, 0, 4, 0], len(bars) // 4), None)
print(f"IMPORT {t1 - t0:.4f} TOTAL {time.perf_counter() - t0:.4f}")
"""


def _run(cache_dir: str, default_locator: bool) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    if default_locator:
        env["NUMBA_CACHE_LOCATOR_CLASSES"] = "UserProvidedCacheLocator"
    out = subprocess.run([sys.executable, "-c", WORK], env=env, capture_output=True, text=True, check=True).stdout
    parts = out.split()
    return float(parts[parts.index("IMPORT") + 1]), float(parts[parts.index("TOTAL") + 1])


def stamp_seconds() -> float:
    import functools

    from backtest import jit_cache

    for f in (jit_cache.dependency_digest, jit_cache.dependency_files, jit_cache._imports):
        if isinstance(f, functools._lru_cache_wrapper):
            f.cache_clear()
    t0 = time.perf_counter()
    for rel in KERNEL_MODULES:
        jit_cache.dependency_digest(str(ROOT / rel), str(ROOT))
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.jit_cache_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    rows = []
    for label, default in (("ours (dependency stamp)", False), ("numba default (defining file)", True)):
        cold, warm = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as cache:
                cold.append(_run(cache, default))
                warm.append(_run(cache, default))
        rows.append((label, statistics.median(w[0] for w in warm), statistics.median(w[1] for w in warm),
                     statistics.median(c[1] for c in cold)))
    print(f"{'locator':<32} {'import (warm)':>14} {'import+calls (warm)':>20} {'import+calls (cold)':>20}")
    for label, imp, total, cold in rows:
        print(f"{label:<32} {imp:>12.3f} s {total:>18.3f} s {cold:>18.3f} s")
    print("no cache (cache=True dropped): every process pays the cold column")
    stamps = statistics.median(stamp_seconds() for _ in range(args.repeat))
    print(f"stamps of {len(KERNEL_MODULES)} kernel modules (files read and scanned): {stamps * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
