"""Feature pipeline and observation batch throughput.

    python -m benchmarks.bench_features [--bars 1000000] [--obs 100000]

1. All default market features for ``--bars`` 15-minute bars (goal: < 2 s for 1M),
   with numba's compile / cache-load time measured separately on a tiny series.
2. A batch of ``--obs`` observations (width W*58+5 = 5,805) from
   `BacktestObservationBuilder.build_batch`, against the memory-bandwidth floor of
   copying the same number of float64 values with ``np.copyto`` (goal: within 3x).
   Needs about 2 x obs x 5,805 x 8 bytes of memory (9.3 GB at the default).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from backtest.bars import Bars
from backtest.features import FeatureSchema, compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.sessions import tag_sessions
from backtest.state import ACCOUNT_STATE_DTYPE


def synthetic_bars(n: int, seed: int = 0) -> Bars:
    """``n`` 24/7 15-minute bars: a random walk with intrabar ranges and volume."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wiggle = np.abs(rng.normal(0.0, 0.002, (2, n)))
    frame = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * (1 + wiggle[0]),
         "low": np.minimum(open_, close) * (1 - wiggle[1]), "close": close,
         "volume": rng.gamma(2.0, 50.0, n)},
        index=pd.date_range("2000-01-01", periods=n, freq="15min", tz="UTC", name="timestamp"),
    )
    return Bars(tag_sessions(frame, "crypto", timeframe="15min"), "BENCH", "crypto", pd.Timedelta("15min"))


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def bench_features(n_bars: int, schema: FeatureSchema) -> np.ndarray:
    compile_s, _ = _timed(compute_features, synthetic_bars(300, seed=1), schema)
    bars = synthetic_bars(n_bars)
    first_s, feats = _timed(compute_features, bars, schema)
    del feats
    run_s, feats = _timed(compute_features, bars, schema)
    print(f"features: {schema.n_market} for {n_bars:,} bars: {run_s:.3f} s "
          f"({n_bars / run_s / 1e6:.2f} M bars/s; goal < 2 s per 1M bars)")
    print(f"  first call on this series: {first_s:.3f} s (includes first-touch page faults of "
          f"~{2 * feats.nbytes / 1e9:.1f} GB of fresh memory)")
    print(f"  numba compile / cache load on first call (separate, tiny series): {compile_s:.3f} s")
    for group in schema.groups:
        sub = FeatureSchema(tuple(f for f in schema.features if f.group == group), window=schema.window)
        group_s, _ = _timed(compute_features, bars, sub)
        print(f"  group {group:12s} alone: {group_s:.3f} s")
    return feats


def bench_batch(feats: np.ndarray, schema: FeatureSchema, n_obs: int) -> None:
    norm = Normaliser.fit(feats, 0, len(feats) // 2)
    builder = BacktestObservationBuilder(feats, schema, norm, 0.2)
    rng = np.random.default_rng(0)
    ts = rng.integers(schema.warmup_bars, len(feats) + 1, n_obs)
    states = np.zeros(n_obs, dtype=ACCOUNT_STATE_DTYPE)
    states["cash"], states["mark_price"] = 1000.0, 100.0
    out = np.ones((n_obs, schema.obs_dim))  # touched: no page faults inside the timings
    src = np.full_like(out, 2.0)
    builder.build_batch(ts[:10], states[:10])  # compile outside the timing
    batch_s = min(_timed(builder.build_batch, ts, states, out=out)[0] for _ in range(2))
    copy_s = min(_timed(np.copyto, out, src)[0] for _ in range(2))
    gb = out.nbytes / 1e9
    print(f"batch: {n_obs:,} observations x {schema.obs_dim:,} float64 ({gb:.2f} GB): "
          f"build_batch {batch_s:.3f} s ({gb / batch_s:.1f} GB/s)")
    print(f"  np.copyto of the same size: {copy_s:.3f} s ({gb / copy_s:.1f} GB/s); "
          f"ratio build_batch / copy = {batch_s / copy_s:.2f}x (goal <= 3x)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bars", type=int, default=1_000_000)
    p.add_argument("--obs", type=int, default=100_000)
    args = p.parse_args(argv)
    schema = default_schema()
    feats = bench_features(args.bars, schema)
    bench_batch(feats, schema, args.obs)


if __name__ == "__main__":
    main()
