"""Compiled code is never stale: numba's cache is keyed by every file a kernel imports.

The freshness test edits a constant compiled into the simulator kernel
(`backtest.state.PDT_MAX_DAY_TRADES`, read by `backtest.pdt` and inlined into
`backtest.kernel`, and through the account features into the fast runner's compiled loop
in `models.fast_runner`) in a temporary copy of the packages and runs the same script
against it before and after: the second run must see the edit in both, and a third run
must load the recompiled kernels from the cache (the cache still works).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import backtest
from backtest import jit_cache

ROOT = Path(backtest.__file__).resolve().parent.parent

SCRIPT = """
import numpy as np
from backtest.account import AccountConfig
from backtest.costs import FrictionConfig
from backtest.simulator import SimConfig, simulate
from sim_bars import session_bars

bars = session_bars(["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14"])
cfg = SimConfig(account=AccountConfig(include_close_action=True), friction=FrictionConfig.zero(), pdt="on")
r = simulate(bars, np.tile([2, 7], 5), cfg)  # BUY_50 then CLOSE in each of 5 sessions: 5 day trades tried
print("day_trades", int(r.fills["day_trade"].sum()))
from backtest.state import ACCOUNT_STATE_DTYPE
from models.fast_runner import _account_row  # its own cached kernel, in models
state = np.zeros(1, dtype=ACCOUNT_STATE_DTYPE)
state["cash"], state["day_trades_left"] = 1000.0, 2
out = np.zeros(1, dtype=np.float32)
_account_row(np.array([4]), 0.2, state[0], out)  # day trades left / PDT_MAX_DAY_TRADES
print("left_feature", float(out[0]))
"""


def _copy_tree(tmp: Path) -> Path:
    """``backtest/`` and ``models/`` (with their cached kernels, so a warm cache is copied too) and
    the bars helper."""
    for package in ("backtest", "models"):
        shutil.copytree(ROOT / package, tmp / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "tests" / "sim_bars.py", tmp / "sim_bars.py")
    (tmp / "script.py").write_text(SCRIPT)
    return tmp


def _run(tmp: Path) -> tuple[int, int, int]:
    """(day trades, kernels compiled and saved, kernels loaded from the cache) of one run; the
    fast runner's day-trades-left feature must agree with the day trades allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(tmp), NUMBA_DEBUG_CACHE="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "script.py"], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    day_trades = int(next(line.split()[1] for line in out.splitlines() if line.startswith("day_trades")))
    left = float(next(line.split()[1] for line in out.splitlines() if line.startswith("left_feature")))
    assert left == np.float32(min(2 / day_trades, 1.0)), (left, day_trades)
    return day_trades, out.count("data saved"), out.count("data loaded")


def test_an_edited_constant_reaches_the_cached_kernel(tmp_path):
    tree = _copy_tree(tmp_path)
    assert _run(tree)[0] == 3
    state = tree / "backtest" / "state.py"
    text = state.read_text()
    assert "PDT_MAX_DAY_TRADES = 3\n" in text
    state.write_text(text.replace("PDT_MAX_DAY_TRADES = 3\n", "PDT_MAX_DAY_TRADES = 2\n"))
    day_trades, saved, _ = _run(tree)
    assert day_trades == 2, "the cached kernel kept the old constant"
    assert saved > 0  # recompiled
    day_trades, saved, loaded = _run(tree)
    assert (day_trades, saved) == (2, 0) and loaded > 0  # and cached again


def test_importing_writes_nothing_into_pycache(tmp_path):
    """Import (no kernel called) leaves every ``__pycache__`` exactly as it was: no stamp files
    written, no cached kernel deleted (numba writes only when it compiles)."""
    tree = _copy_tree(tmp_path)
    _run(tree)  # a warm cache in the copy

    def listing():
        return {p.relative_to(tree): p.stat().st_mtime_ns for p in tree.rglob("__pycache__/*")}

    before = listing()
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    code = ("import backtest.simulator, backtest.kernel, backtest.runner, backtest.observation, backtest.baselines, "
            "backtest.features")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert listing() == before


def test_every_kernel_is_keyed_by_the_files_it_imports():
    """The stamp of each kernel module covers what it inlines and the constants it reads:
    the state, PDT, cost, arithmetic, random-number and account modules for the simulator
    kernel, and the simulator kernel and account features for the fast runner's (in `models`)."""
    def files(module: str) -> set[str]:
        path = ROOT / (module.replace(".", "/") + ".py")
        return {p.relative_to(ROOT).as_posix() for p in jit_cache.dependency_files(str(path), str(ROOT))}

    sim = files("backtest.kernel")
    assert {"backtest/state.py", "backtest/pdt.py", "backtest/costs.py", "backtest/arith.py", "backtest/rng.py",
            "backtest/account.py", "backtest/trades.py"} <= sim
    runner = files("models.fast_runner")
    assert {"backtest/kernel.py", "backtest/account_features.py", "backtest/state.py",
            "backtest/simulator.py"} | sim <= runner
    assert "backtest/features/kernels.py" in files("backtest.observation")


def test_cached_kernels_of_the_project_carry_the_dependency_stamp():
    from backtest import kernel as K
    from backtest.features import kernels as FK
    from models.fast_runner import _fused

    for kernel in (K.step, K.run, K.step_many, FK.__dict__[next(n for n in dir(FK) if hasattr(getattr(FK, n), "_cache"))],
                   _fused):
        assert jit_cache.stamp_of(kernel) is not None, kernel
    path = ROOT / "backtest" / "kernel.py"
    assert jit_cache.stamp_of(K.step) == jit_cache.dependency_digest(str(path), str(ROOT))
    path = ROOT / "models" / "fast_runner.py"
    assert jit_cache.stamp_of(_fused) == jit_cache.dependency_digest(str(path), str(ROOT))
