"""TradingEnv throughput: env-only steps/s with random actions, and observation bytes moved
per step against this machine's measured copy bandwidth (same run).

    python -m benchmarks.bench_env                          # CPU, n_envs 64 / 1024 / 4096
    python -m benchmarks.bench_env --device cuda --n-envs 4096 16384

The observation is the default one (58 features x W=100 + 5 account features = 5,805
values). Each step writes ``n_envs x obs_dim x itemsize`` bytes of observations (gathered
from the bar windows), which bounds the step rate from above at large n_envs; the
ratio printed is achieved observation bytes/s over a plain large tensor copy's bytes/s.
Account arithmetic (float64) is the fixed cost per step that dominates at small n_envs; on
CPU both account steps are timed, the simulator's numba kernel (the CPU default) and the
batched torch mirror (the GPU path), with their ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from backtest.features import compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.sample_data import sample_bars
from models.env import TradingEnv


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device: torch.device, mib: int = 512, reps: int = 5) -> float:
    """Bytes written per second by a large contiguous tensor copy (best of `reps`)."""
    n = mib * 2**20 // 4
    src = torch.ones(n, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return n * 4 / best


def bench(env: TradingEnv, steps: int, warmup: int = 3) -> float:
    """Env steps per second (env steps x n_envs per second is the sample rate)."""
    device = env.device
    g = torch.Generator(device=device).manual_seed(0)
    actions = torch.randint(0, env.n_actions, (steps + warmup, env.n_envs), generator=g, device=device)
    env.reset()
    for k in range(warmup):
        env.step(actions[k])
    _sync(device)
    t = time.perf_counter()
    for k in range(warmup, warmup + steps):
        env.step(actions[k])
    _sync(device)
    return steps / (time.perf_counter() - t)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-envs", type=int, nargs="+", default=[64, 1024, 4096])
    ap.add_argument("--steps", type=int, default=0, help="timed steps per size (0: about 2 s worth)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--episode-len", type=int, default=256)
    ap.add_argument("--fresh-obs", action="store_true",
                    help="a new observation tensor per step (reuse_obs=False) instead of reused buffers")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    ap.add_argument("--account-step", nargs="+", choices=["kernel", "torch"], default=None,
                    help="who steps the accounts (default: kernel and torch on CPU, torch elsewhere)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    bars = sample_bars(seed=0, symbols=("SMPA",))[0]
    schema = default_schema()
    feats = compute_features(bars, schema)
    fn = Normaliser.fit(feats, 0, len(feats)).transform(feats)
    bw = copy_bandwidth(device)
    print(f"device={device} dtype={args.dtype} obs_dim={schema.obs_dim} bars={len(bars)} "
          f"threads={torch.get_num_threads()} episode_len={args.episode_len} reuse_obs={not args.fresh_obs}")
    print(f"measured copy bandwidth: {bw / 1e9:,.2f} GB/s (bytes written per second, 512 MiB tensor copy)")
    account_steps = args.account_step or (["kernel", "torch"] if device.type == "cpu" else ["torch"])
    print(f"{'n_envs':>7} {'account':>8} {'steps/s':>10} {'samples/s':>12} {'obs MB/step':>12} {'obs GB/s':>9} "
          f"{'of copy bw':>10}")
    for n in args.n_envs:
        rates = {}
        for who in account_steps:
            env = TradingEnv(fn, bars, schema, n_envs=n, episode_len=args.episode_len, device=device, dtype=dtype,
                             seed=0, reuse_obs=not args.fresh_obs, account_step=who)
            steps = args.steps or max(5, int(2.0 * bench(env, 3, warmup=1)))
            rate = rates[who] = bench(env, steps)
            per_step = n * schema.obs_dim * torch.finfo(dtype).bits // 8
            achieved = per_step * rate
            print(f"{n:>7} {who:>8} {rate:>10,.1f} {rate * n:>12,.0f} {per_step / 1e6:>12.2f} {achieved / 1e9:>9.2f} "
                  f"{achieved / bw:>10.1%}")
            del env
        if len(rates) == 2:
            print(f"{n:>7} kernel/torch: {rates['kernel'] / rates['torch']:.2f}x")


if __name__ == "__main__":
    main()
