"""Fast policy backtest (`models.fast_runner.run_policy`) against the naive per-bar loop.

    python -m benchmarks.bench_runner [--bars 100000] [--hidden 512,256,128] [--naive-bars N]
                                      [--hold-bias 0,0.01] [--threads 0]

Sample crypto bars (15-minute, 24/7), default 58-feature schema (window 100: 5,800
market inputs), a random (seeded, untrained) network of the given size. For each
``--hold-bias`` (added to the HOLD logit's bias: 0 is the default init, which orders at
most bars, the hard case for speculation; 0.01 leans to HOLD like a cautious trained
policy) it times:

- the naive loop (`backtest.runner.run_policy_naive`: builder observation -> ``policy.act`` -> step) over
  ``--naive-bars`` decisions (default: all; fewer are timed and scaled per bar, and said so);
- `run_policy` over all bars: ``auto`` (mode and projection), ``speculative`` and
  ``compiled`` with the FFT projection, and ``auto`` with the matmul projection;
- the market projection alone, as the policy's batched float32 matmul and as the FFT
  convolution (`models.fast_runner._FftProjection`, what ``projection="auto"`` uses on long
  segments): the floor every mode pays,

checks the fast results equal the naive ones on the bars both ran, and prints bars/s and
the speed-up against the naive loop measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from backtest.account import AccountConfig
from backtest.features import compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.runner import run_policy_naive
from backtest.sample_data import generate_crypto_bars
from backtest.simulator import SimConfig
from models.fast_runner import PROJECTION_CHUNK, _FftProjection, _windows_f32, run_policy
from models.network import ActorCritic
from models.policy import Policy

ACTIONS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]


def _bars(n_decisions: int, warmup: int):
    days = int(np.ceil((n_decisions + warmup + 96) / 96.0)) + 1
    end = (np.datetime64("2021-01-01") + np.timedelta64(days, "D")).astype(str)
    return generate_crypto_bars("BENCH-USD", "2021-01-01", end, seed=11)


def _policy(schema, hidden, hold_bias: float, seed: int = 0) -> Policy:
    torch.manual_seed(seed)
    net = ActorCritic(schema, len(ACTIONS), hidden).eval()
    with torch.no_grad():
        net.actor_body[-1].bias[0] += hold_bias
    return Policy(net, schema, ACTIONS)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _same(a, b, n: int) -> bool:
    """Fast run ``a`` agrees with naive run ``b`` on b's bars (b may be a prefix of a)."""
    if n == len(a.actions):
        return (np.array_equal(a.actions, b.actions) and a.sim.fills.tobytes() == b.sim.fills.tobytes()
                and a.sim.trades.tobytes() == b.sim.trades.tobytes() and np.array_equal(a.sim.equity, b.sim.equity))
    return bool(np.array_equal(a.actions[:n], b.actions))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000, help="decisions in the test segment")
    ap.add_argument("--hidden", default="512,256,128", help="hidden sizes (medium preset)")
    ap.add_argument("--naive-bars", type=int, default=0, help="decisions the naive loop is timed on (0: all)")
    ap.add_argument("--hold-bias", default="0,0.01", help="comma list of HOLD-logit biases to run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    schema = default_schema()
    bars = _bars(args.bars, schema.warmup_bars)
    (feats, t_feat) = _timed(lambda: compute_features(bars, schema))
    acct = AccountConfig()
    builder = BacktestObservationBuilder(feats, schema, Normaliser.fit(feats, 0, len(feats) // 3), acct)
    cfg = SimConfig(account=acct)
    start = schema.warmup_bars
    stop = start + args.bars
    n_naive = args.naive_bars or args.bars
    print(f"bench_runner: {args.bars:,} decisions on {len(bars):,} crypto bars, hidden {hidden}, "
          f"obs_dim {schema.obs_dim}, torch threads {torch.get_num_threads()} (features {t_feat:.1f} s)")
    for scale in (float(s) for s in args.hold_bias.split(",")):
        policy = _policy(schema, hidden, scale)
        run_policy(policy, builder, bars, cfg, start, start + 300, mode="compiled")  # numba compile / warm caches
        naive, t_naive = _timed(lambda: run_policy_naive(policy, builder, bars, cfg, start, start + n_naive))
        per_bar_naive = t_naive / n_naive
        t_naive_all = per_bar_naive * args.bars
        win = _windows_f32(builder)

        def projection_only():
            for c in range(start, stop, PROJECTION_CHUNK):
                e = min(c + PROJECTION_CHUNK, stop)
                policy.market_projection(np.ascontiguousarray(win[c - schema.window:e - schema.window]))

        _, t_proj = _timed(projection_only)

        def fft_only():
            fft = _FftProjection(*policy.market_weights(), builder)
            for c in range(start, stop, PROJECTION_CHUNK):
                fft(c, min(c + PROJECTION_CHUNK, stop))

        _, t_fft = _timed(fft_only)
        print(f"\nHOLD bias {scale:g}: naive loop {per_bar_naive * 1e6:,.0f} us/bar ({1 / per_bar_naive:,.0f} bars/s)"
              + (f", timed on {n_naive:,} bars, {t_naive_all:,.1f} s scaled to {args.bars:,}" if n_naive < args.bars
                 else f", {t_naive:,.1f} s"))
        print(f"  projection alone, matmul: {t_proj:6.2f} s  ({args.bars / t_proj:>10,.0f} bars/s)  "
              f"x{t_naive_all / t_proj:,.1f} vs naive")
        print(f"  projection alone, FFT:    {t_fft:6.2f} s  ({args.bars / t_fft:>10,.0f} bars/s)  "
              f"x{t_naive_all / t_fft:,.1f} vs naive")
        for mode, proj in (("auto", "auto"), ("speculative", "fft"), ("compiled", "fft"), ("auto", "matmul")):
            run, t = _timed(lambda: run_policy(policy, builder, bars, cfg, start, stop, mode=mode, projection=proj))
            st = run.stats
            print(f"  {mode + '/' + proj:<18} {t:6.2f} s  ({args.bars / t:>10,.0f} bars/s)  x{t_naive_all / t:,.1f} vs naive  "
                  f"equal={_same(run, naive, n_naive)}  fills {len(run.sim.fills):,}  trades {len(run.sim.trades):,}  "
                  f"HOLD {run.action_counts[0] / args.bars:.0%}  blocks {st['blocks']:,}  "
                  f"compiled bars {st['compiled_bars']:,}  reference calls {st['reference_calls']}")


if __name__ == "__main__":
    main()
