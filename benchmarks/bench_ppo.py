"""PPO training throughput: our trainer vs Stable-Baselines3 PPO on the same env, plus FLOP/s.

    python -m benchmarks.bench_ppo                 # toy env with the real obs size (5,805)
    python -m benchmarks.bench_ppo --env trading   # models.env.TradingEnv on the bundled sample

Both trainers get the same env (SB3 through a VecEnv adapter that returns numpy), the
same tower sizes (separate actor and critic MLPs, ReLU), samples per update, epochs and
minibatch size. Each runs one untimed warm-up update, then `--updates` timed updates,
the two trainers taking turns update by update (both see the machine in the same
minutes); steps/s is the batch over each one's MEDIAN update time (one slow update on a
shared machine does not swing the ratio; the totals are printed too). Defaults follow
the `smoke` mode's shape (64 envs x 64 steps, minibatch 1024, tiny towers).
Our extra critic-only epochs are turned off so the work matches. FLOP/s counts the
work our trainer actually did (market part once per unique bar in the update) against
the machine's measured float32 matmul rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import statistics
import time
from pathlib import Path

import torch

from models.config import TrainConfig, cpu_has_native_bf16, resolve_hidden
from models.network import flops_per_sample
from models.ppo import PPOTrainer

ROOT = Path(__file__).resolve().parents[1]


def _toy_module():
    spec = importlib.util.spec_from_file_location("toy_env", ROOT / "tests" / "toy_env.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_env(kind: str, n_envs: int, n_bars: int, episode_len: int, seed: int = 0):
    """The env both trainers train on: the toy env at the real obs size, or TradingEnv."""
    if kind == "toy":
        return _toy_module().ToyEnv(n_envs=n_envs, window=100, n_market=58, n_account=5, n_bars=n_bars,
                                    episode_len=episode_len, n_actions=7, seed=seed)
    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from backtest.sample_data import sample_bars
    from models.env import TradingEnv

    bars = sample_bars(seed=seed, symbols=("SMPA",))[0]
    schema = default_schema()
    feats = compute_features(bars, schema)
    split = int(len(feats) * 0.8)  # fit the normaliser on the training part only, as a fold would
    norm = Normaliser.fit(feats, 0, split)
    return TradingEnv(norm.transform(feats), bars, schema, n_envs=n_envs, episode_len=episode_len,
                      train_range=(0, split), device="cpu", dtype=torch.float32, seed=seed, reuse_obs=True)


def matmul_peak(n: int = 2048, reps: int = 5, dtype=torch.float32) -> float:
    """Measured matmul FLOP/s on this machine in ``dtype`` (best of `reps`)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def _reports_any_done(env) -> bool:
    from models.env import TradingEnv

    return isinstance(env, TradingEnv)


class Ours:
    """Our trainer, driven one update per call; counts the market-layer rows it computes."""

    def __init__(self, env, cfg: TrainConfig) -> None:
        self.env, self.cfg = env, cfg
        self.trainer = PPOTrainer(env, env.schema, dataclasses.replace(cfg, total_steps=cfg.batch_size), verbose=0)
        net = self.trainer.net
        self.rows = {"rollout": 0.0, "update": 0.0}  # market-layer rows computed (both towers = 1 row)
        phase = ["rollout"]
        projection, pair, for_bars = net.market_projection, net._market_pair, net.market_for_bars

        def counting_projection(windows, part="both"):
            if part != "both":  # "both" goes through _market_pair, counted there
                self.rows[phase[0]] += windows.shape[0] * 0.5
            return projection(windows, part)

        def counting_pair(windows):
            self.rows[phase[0]] += windows.shape[0]
            return pair(windows)

        def counting_for_bars(bar_idx, windows, part="both"):
            phase[0] = "update"
            try:
                return for_bars(bar_idx, windows, part)
            finally:
                phase[0] = "rollout"

        net.market_projection, net._market_pair, net.market_for_bars = counting_projection, counting_pair, counting_for_bars

    def update(self) -> float:
        """Run one more update (rollout + epochs); its seconds as the trainer logs them."""
        t = self.trainer
        t.cfg = dataclasses.replace(self.cfg, total_steps=self.cfg.batch_size * (t.update + 1))
        t.train()
        return t.history[-1]["seconds"]

    def work(self) -> dict:
        """FLOPs per update and market rows per sample, averaged over the updates run."""
        cfg, env, net, n = self.cfg, self.env, self.trainer.net, len(self.trainer.history)
        f = flops_per_sample(net.market_dim, net.n_account, env.n_actions, cfg.hidden)
        # rollout: the market rows it projected (table, look-ahead blocks or per step), the rest
        # per sample, plus the critic (half the network) on final_obs: at episode ends only
        # when the env reports info["any_done"] (TradingEnv), else every step
        final = 0.5 / env.episode_len if _reports_any_done(env) else 0.5
        rollout = self.rows["rollout"] / n * f["market"] + cfg.batch_size * (1 + final) * f["rest"]
        # update: market forward + weight gradient (2x) over the rows computed; rest fwd+bwd (3x) per sample
        update_rows = self.rows["update"] / n
        train = 2 * update_rows * f["market"] + 3 * cfg.n_epochs * cfg.batch_size * f["rest"]
        return {"flops_per_update": rollout + train, "unique_share": update_rows / (cfg.n_epochs * cfg.batch_size),
                "rollout_share": self.rows["rollout"] / n / cfg.batch_size}


class SB3:
    """Stable-Baselines3 PPO on the same env (through the VecEnv adapter), one update per call."""

    def __init__(self, env, cfg: TrainConfig) -> None:
        from stable_baselines3 import PPO

        from models.gym_adapter import sb3_vec_env

        self.cfg = cfg
        hidden = list(cfg.hidden)
        self.model = PPO("MlpPolicy", sb3_vec_env(env), n_steps=cfg.n_steps, batch_size=cfg.minibatch_size,
                         n_epochs=cfg.n_epochs, learning_rate=cfg.actor_lr, gamma=cfg.gamma,
                         gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_coef, ent_coef=cfg.ent_coef,
                         vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm, device="cpu",
                         policy_kwargs=dict(net_arch=dict(pi=hidden, vf=hidden), activation_fn=torch.nn.ReLU),
                         verbose=0, seed=cfg.seed)
        self.started = False

    def update(self) -> float:
        torch.set_flush_denormal(True)  # same CPU float mode our trainer uses while training
        try:
            t = time.perf_counter()
            self.model.learn(self.cfg.batch_size, reset_num_timesteps=not self.started)
            self.started = True
            return time.perf_counter() - t
        finally:
            torch.set_flush_denormal(False)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", choices=["toy", "trading"], default="toy")
    ap.add_argument("--n-envs", type=int, default=64)
    ap.add_argument("--n-steps", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--minibatch", type=int, default=1024)
    ap.add_argument("--hidden", default="tiny", help="preset name or comma-separated sizes")
    ap.add_argument("--updates", type=int, default=5, help="timed updates per trainer (after one warm-up)")
    ap.add_argument("--n-bars", type=int, default=600, help="toy env series length (bars shared by envs)")
    ap.add_argument("--episode-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    ap.add_argument("--amp", choices=["auto", "on", "off"], default="auto",
                    help="our trainer's bf16 autocast (auto: on where the CPU has native bf16 matmul); SB3 has none")
    ap.add_argument("--skip-sb3", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden = resolve_hidden(args.hidden if not args.hidden[0].isdigit() else [int(h) for h in args.hidden.split(",")])
    amp = cpu_has_native_bf16() if args.amp == "auto" else args.amp == "on"
    cfg = TrainConfig(total_steps=args.n_envs * args.n_steps, n_envs=args.n_envs,
                      n_steps=args.n_steps, n_epochs=args.epochs, critic_epochs=0, minibatch_size=args.minibatch,
                      hidden=hidden, warmup_frac=0.0, amp=amp)
    print(f"env={args.env} obs_dim=5805 n_envs={args.n_envs} n_steps={args.n_steps} epochs={args.epochs} "
          f"minibatch={args.minibatch} hidden={hidden} timed updates={args.updates} threads={torch.get_num_threads()} "
          f"ours amp={'bf16' if amp else 'off'} (native bf16 matmul: {cpu_has_native_bf16()})")
    peak = matmul_peak(dtype=torch.bfloat16 if amp else torch.float32)
    ours = Ours(make_env(args.env, args.n_envs, args.n_bars, args.episode_len), cfg)
    sb3 = None if args.skip_sb3 else SB3(make_env(args.env, args.n_envs, args.n_bars, args.episode_len), cfg)
    trainers = {"ours": ours} | ({"sb3": sb3} if sb3 is not None else {})
    for trainer in trainers.values():  # warm-up update each (first-call allocations, numba, oneDNN kernels)
        trainer.update()
    seconds = {name: [] for name in trainers}
    for _ in range(args.updates):  # interleaved, so both see the same machine over the same minutes
        for name, trainer in trainers.items():
            seconds[name].append(trainer.update())
    rate = {name: cfg.batch_size / statistics.median(ts) for name, ts in seconds.items()}
    work = ours.work()
    print(f"ours : {rate['ours']:10,.0f} steps/s  (median update; {sum(seconds['ours']):.2f} s in all)  "
          f"market rows per sample: rollout {work['rollout_share']:.2f}, update epoch {work['unique_share']:.2f}")
    achieved = work["flops_per_update"] * rate["ours"] / cfg.batch_size
    print(f"FLOP/s: ours {achieved / 1e9:,.1f} GFLOP/s vs measured {'bf16' if amp else 'float32'} matmul peak "
          f"{peak / 1e9:,.1f} GFLOP/s ({achieved / peak:.0%})")
    if sb3 is not None:
        print(f"sb3  : {rate['sb3']:10,.0f} steps/s  (median update; {sum(seconds['sb3']):.2f} s in all)")
        print(f"ratio ours/sb3: {rate['ours'] / rate['sb3']:.2f}x (goal 3x)")

if __name__ == "__main__":
    main()
