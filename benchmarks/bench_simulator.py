"""Simulator throughput: ~1,000,000 one-minute XNYS equity bars, ~4% of bars trading.

All frictions on (uniform slippage, spread, square-root/portfolio impact, commission
per share/order/notional, volume cap) and PDT on. The peer, measured in the same run,
is `vectorbt.Portfolio.from_orders` on the same order stream (our filled sizes with
sign, at the opens, fixed fees and slippage). Goal: >= 1x vectorbt's bars/s, target 2x.

Reported separately: numba compile/cache-load time (first call on 10 bars; kernels use
``cache=True``, so a second run loads them from the cache). Run:
``python -m benchmarks.bench_simulator``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from backtest.account import AccountConfig
from backtest.costs import CommissionModel, FrictionConfig, VolumeCap
from backtest.sample_data import generate_equity_bars
from backtest.simulator import SimConfig, Simulator, simulate
from backtest.trades import STATUS_FILLED

TRADE_SHARE = 0.04


def _actions(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    acts = np.zeros(n, dtype=np.int64)
    trade = rng.random(n) < TRADE_SHARE
    acts[trade] = rng.integers(1, 8, int(trade.sum()))
    return acts


_COLD = """
import time
import numpy as np
from backtest.sample_data import generate_equity_bars
from backtest.simulator import SimConfig, simulate
bars = generate_equity_bars("C", start="2024-01-02", end="2024-01-10", timeframe="15min")
t = time.perf_counter()
simulate(bars, np.r_[1, 4, np.zeros(len(bars) - 2, dtype=np.int64)], SimConfig(pdt="on"))
print(time.perf_counter() - t)
"""


def _cold_compile_s() -> float:
    """First `simulate` call in a fresh interpreter with an empty numba cache directory."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--end", default="2025-03-01", help="last date of the 1-minute bars from 2015-01-01 "
                    "(default 2025-03-01, ~1M bars; 2016-01-01 gives ~100k)")
    ap.add_argument("--skip-cold", action="store_true", help="skip the cold-compile measurement (a fresh process)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    bars = generate_equity_bars("BENCH", start="2015-01-01", end=args.end, timeframe="1min")
    n = len(bars)
    print(f"bars: {n:,} one-minute equity bars, generated in {time.perf_counter() - t:.1f} s")
    config = SimConfig(
        account=AccountConfig(include_close_action=True),
        friction=FrictionConfig.for_asset_class(
            "equity", commission=CommissionModel(per_share=0.005, per_order=0.35, per_notional=0.0001),
            volume_cap=VolumeCap(0.1)),
        pdt="on", seed=1)
    acts = _actions(n)

    if not args.skip_cold:
        print(f"numba compile, cold (empty cache, fresh process): {_cold_compile_s():.2f} s")
    t = time.perf_counter()
    simulate(bars.slice(0, 10), acts[:10], config)
    print(f"numba cache load (first call in this process, 10 bars): {time.perf_counter() - t:.2f} s")

    t_setup = _best(lambda: Simulator(bars, config), repeat=1)
    sim = Simulator(bars, config)

    def ours_kernel():
        sim.reset(0)
        return sim.run(acts)

    t_kernel = _best(ours_kernel)
    t_total = _best(lambda: simulate(bars, acts, config), repeat=1)
    result = simulate(bars, acts, config)
    f = result.fills
    filled = f[f["status"] == STATUS_FILLED]
    print(f"orders: {len(f):,} ({len(f) / n:.1%} of bars), filled {len(filled):,}, "
          f"PDT rejections {result.pdt_rejections:,}, trades {len(result.trades):,}")

    import vectorbt as vbt

    size = np.full(n, np.nan)
    size[filled["bar"]] = filled["side"] * filled["qty"]
    close, open_ = bars.close, bars.open
    kwargs = dict(close=close, size=size, price=open_, fees=0.0001, fixed_fees=0.35, slippage=0.0005,
                  init_cash=1000.0)
    vbt.Portfolio.from_orders(close=close[:10], size=size[:10], price=open_[:10])  # warm up its numba
    t_vbt_orders = _best(lambda: vbt.Portfolio.from_orders(**kwargs))
    t_vbt_value = _best(lambda: vbt.Portfolio.from_orders(**kwargs).value())

    print(f"\n{'':34}{'seconds':>10}{'bars/s':>16}")
    rows = [("ours: kernel (Simulator.run)", t_kernel), ("ours: simulate() incl. setup", t_total),
            ("  of which setup (impact inputs, PDT)", t_setup),
            ("vectorbt: from_orders", t_vbt_orders), ("vectorbt: from_orders + value()", t_vbt_value)]
    for name, sec in rows:
        print(f"{name:<34}{sec:>10.3f}{n / sec:>16,.0f}")
    print(f"\nratio ours kernel / vectorbt from_orders (bars/s): {t_vbt_orders / t_kernel:.2f}x "
          f"(goal >= 1x, target 2x)")
    print(f"ratio ours simulate() / vectorbt from_orders + value(): {t_vbt_value / t_total:.2f}x")


if __name__ == "__main__":
    main()
