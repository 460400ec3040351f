"""Load 1,000,000 fifteen-minute XNYS equity bars from parquet.

Times `backtest.data.load_bars` (read + validate + session tagging) against the
peer, pandas' bare `read_parquet` of the same file (no validation, no sessions).
Goal: `load_bars` under 5 s. Run: ``python -m benchmarks.bench_load``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from backtest.data import load_bars
from backtest.sample_data import generate_equity_bars

N_BARS = 1_000_000
GOAL_S = 5.0


def write_file(path: Path, n: int = N_BARS, n_symbols: int = 5) -> None:
    """A long parquet file (``symbol`` column) of ``n`` bars from the sample generator.

    A million 15-minute bars of one symbol would need ~150 years of sessions, so the
    file holds ``n_symbols`` symbols of ``n / n_symbols`` bars each (1994 onwards).
    """
    per = n // n_symbols
    parts = []
    for k in range(n_symbols):
        bars = generate_equity_bars(f"B{k}", start="1994-01-03", end="2026-01-01", seed=k, timeframe="15min")
        part = bars.frame.iloc[:per][["open", "high", "low", "close", "volume"]].reset_index()
        part.insert(0, "symbol", bars.symbol)
        parts.append(part)
    pd.concat(parts, ignore_index=True).to_parquet(path, index=False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=N_BARS, help=f"bars in the file (default {N_BARS:,})")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "BENCH.parquet"
        t0 = time.perf_counter()
        write_file(path, n=args.bars)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        peer = pd.read_parquet(path)
        peer_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        series = load_bars(path)
        load_s = time.perf_counter() - t0
    total = sum(len(b) for b in series)
    assert total == len(peer), (total, len(peer))
    print(f"bars: {total:,} in {len(series)} symbols ({series[0].index[0]} .. {series[0].index[-1]}), "
          f"generated+written in {gen_s:.2f}s")
    print(f"pandas.read_parquet (peer, no validation): {peer_s:.3f}s")
    print(f"load_bars (read+validate+sessions):        {load_s:.3f}s  goal < {GOAL_S:.0f}s "
          f"[{'OK' if load_s < GOAL_S else 'SLOW'}]")
    print(f"ratio load_bars / read_parquet: {load_s / max(peer_s, 1e-9):.1f}x")
    print(f"per bar: {load_s / total * 1e9:.0f} ns")


if __name__ == "__main__":
    main()
