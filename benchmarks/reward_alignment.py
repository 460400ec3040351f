"""Does the training reward pay what the account earns? Rank correlation, per component.

On a planted-edge daily world (lag-1 sign persistence, `benchmarks.learning_worlds`) many
policies trade episodes of the training env (`models.env.TradingEnv`, the simulator's
account, costs and rules): uniform and biased random policies, the planted rule and its
opposite, the rule mixed with noise at several shares, staying long (BUY_75 every bar) and
staying flat (HOLD). Each env is one policy; for every finished episode we record each
reward component's episode sum, the weighted total of each reward preset, and the
episode's net return after costs (equity at the end over equity at the start).

Printed: Spearman's rank correlation of each component and each preset's total with the
episode's net return, and the mean episode total per policy family under each preset (so a
reward that ranks random trading near the planted rule, or holding a position far below
both, shows). Run: ``python -m benchmarks.reward_alignment`` (about 20 s).
"""

from __future__ import annotations

import argparse

import numpy as np

#: Policy families: (name, share following the planted rule, else random with these action weights).
HOLD, BUY75, SELL75 = 0, 3, 6


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx = np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(float)
    ry = np.argsort(np.argsort(y, kind="stable"), kind="stable").astype(float)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def policy_table(n_actions: int, rng: np.random.Generator) -> list[tuple[str, float, np.ndarray]]:
    """(family, rule share, random action probabilities) of every policy (one env each)."""
    out = []
    uniform = np.full(n_actions, 1.0 / n_actions)
    for _ in range(24):
        out.append(("random", 0.0, rng.dirichlet(np.ones(n_actions))))
    for share in (0.25, 0.5, 0.75, 1.0):
        for _ in range(6):
            out.append((f"rule{int(share * 100)}", share, uniform))
    for _ in range(6):
        out.append(("anti_rule", -1.0, uniform))
    long_only = np.zeros(n_actions)
    long_only[BUY75] = 1.0
    hold = np.zeros(n_actions)
    hold[HOLD] = 1.0
    for _ in range(4):
        out.append(("stay_long", 0.0, long_only))
        out.append(("flat", 0.0, hold))
    return out


def measure(bars, *, window: int = 5, episodes: int = 8, episode_len: int = 128, seed: int = 0) -> dict:
    """Per-episode component sums, preset totals and net returns over `policy_table`'s policies."""
    import torch

    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from backtest.simulator import SimConfig
    from models.env import TradingEnv
    from models.reward import COMPONENTS, REWARD_PRESETS, RewardConfig

    schema = default_schema(window=window)
    raw = compute_features(bars, schema)
    start, stop = schema.warmup_bars, len(bars)
    feats = Normaliser.fit(raw, start, stop).transform(raw)
    rng = np.random.default_rng(seed)
    cfg = SimConfig()
    n_actions = cfg.account.action_space.n
    table = policy_table(n_actions, rng)
    env = TradingEnv(feats, bars, schema, sim_config=cfg, n_envs=len(table), episode_len=episode_len,
                     train_range=(start, stop), seed=seed, reward=RewardConfig.preset("seeds"))
    col = env.market_dim - schema.n_market + [f.name for f in schema.features].index("ret_1")
    share = np.array([s for _, s, _ in table])
    probs = np.stack([p for _, _, p in table])
    cum = np.cumsum(probs, axis=1)
    sums = {k: [] for k in COMPONENTS}
    nets, fams = [], []
    obs = env.reset()
    for _ in range(episodes):
        eq0 = env.acc.equity.numpy().copy()
        acc = {k: np.zeros(len(table)) for k in COMPONENTS}
        for _ in range(env.episode_len):
            up = obs[:, col].numpy() > 0
            rule = np.where(up, BUY75, SELL75)
            u = rng.random(len(table))
            random_a = (u[:, None] > cum).sum(axis=1).clip(0, n_actions - 1)
            follow = rng.random(len(table)) < np.abs(share)
            a = np.where(follow, np.where(share < 0, np.where(up, SELL75, BUY75), rule), random_a)
            obs, _r, _d, info = env.step(torch.as_tensor(a))
            for k in COMPONENTS:
                acc[k] += info["reward_components"][k].double().numpy()
            eq1 = info["equity"].numpy().copy()
        for k in COMPONENTS:
            sums[k].append(acc[k])
        nets.append(eq1 / eq0 - 1.0)
        fams.extend(f for f, _, _ in table)
    comps = {k: np.concatenate(v) for k, v in sums.items()}
    net = np.concatenate(nets)
    totals = {name: sum(getattr(p, k) * comps[k] for k in COMPONENTS) for name, p in
              ((n, RewardConfig.preset(n)) for n in REWARD_PRESETS)}
    return {"components": comps, "totals": totals, "net": net, "family": np.array(fams)}


def alignment(result: dict) -> dict:
    """Spearman correlation with the episode's net return, per component and per preset."""
    net = result["net"]
    out = {f"component:{k}": _spearman(v, net) for k, v in result["components"].items()}
    out.update({f"preset:{k}": _spearman(v, net) for k, v in result["totals"].items()})
    return out


def report(result: dict) -> str:
    lines = ["rank correlation (Spearman) of episode reward with episode net return after costs:"]
    for k, v in alignment(result).items():
        lines.append(f"  {k:<22} {v:+.3f}")
    fams = result["family"]
    names = list(dict.fromkeys(fams.tolist()))
    lines.append("mean per episode, by policy family: net return, then each preset's total reward")
    lines.append("  " + f"{'family':<10} {'net':>8} " + " ".join(f"{k:>9}" for k in result["totals"]))
    for f in names:
        m = fams == f
        lines.append("  " + f"{f:<10} {result['net'][m].mean():+8.4f} "
                     + " ".join(f"{v[m].mean():+9.3f}" for v in result["totals"].values()))
    return "\n".join(lines)


def main(argv=None) -> int:
    from benchmarks.learning_worlds import make_world

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", default="lag1_daily_030")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episodes", type=int, default=8)
    args = p.parse_args(argv)
    bars = make_world(args.world, args.seed)
    print(f"world {args.world}, seed {args.seed}, {len(bars)} bars")
    print(report(measure(bars, episodes=args.episodes, seed=args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
