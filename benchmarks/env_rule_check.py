"""Does a policy see and earn the same in training as in the backtest? The planted rule as a
policy that reads the observation, in `models.env.TradingEnv` and through the simulator.

On a lag-1 world (`benchmarks.learning_worlds`, daily, no gaps: ``open[t] == close[t-1]``)
it prints: how often the sign of bar t-1's open-to-close return gives bar t's (the planted
effect, tradable at the decision's fill at ``open[t]``); that the feature ``ret_1`` of row
t-1 is that return; how often its normalised value keeps the sign; then the rule (BUY_75
when the observation's last ``ret_1`` is positive, SELL_75 otherwise) stepped through the
env over the training segment in one episode, and the same decisions through
`backtest.simulator.simulate` and through the reference runner reading the backtest's
observation: net return, largest equity difference, and the env's mean reward under each
reward preset; then the rule on the next two segments. Run: ``python -m
benchmarks.env_rule_check`` (about 20 s).
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    import torch

    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from backtest.observation import BacktestObservationBuilder
    from backtest.runner import run_policy_naive
    from backtest.simulator import SimConfig, simulate
    from benchmarks.learning_worlds import make_world
    from models.env import TradingEnv
    from models.reward import REWARD_PRESETS, RewardConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", default="lag1_daily_030")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--window", type=int, default=100)
    a = p.parse_args(argv)
    bars = make_world(a.world, a.seed)
    oc = bars.close / bars.open - 1.0
    print(f"{a.world} seed {a.seed}: {len(bars)} bars; sign(oc[t-1]) gives sign(oc[t]) on "
          f"{np.mean(np.sign(oc[:-1]) == np.sign(oc[1:])):.1%} of bars; max |open[t]/close[t-1] - 1| "
          f"{np.max(np.abs(bars.open[1:] / bars.close[:-1] - 1)):.1e}")
    schema = default_schema(window=a.window)
    raw = compute_features(bars, schema)
    j = [f.name for f in schema.features].index("ret_1")
    start = schema.warmup_bars
    train = (start, start + 858)
    cc = np.r_[np.nan, bars.close[1:] / bars.close[:-1] - 1]
    print(f"ret_1 row t == close[t]/close[t-1] - 1: {np.allclose(raw[start:, j], cc[start:])}")
    cfg = SimConfig()
    builder = BacktestObservationBuilder(raw, schema, Normaliser.fit(raw, *train), cfg.account)
    feats = builder.features
    print(f"normalised ret_1 keeps the sign on {np.mean(np.sign(feats[start:, j]) == np.sign(raw[start:, j])):.1%} of bars")
    buy, sell = 3, 6
    n = train[1] - train[0]
    for name in REWARD_PRESETS:
        env = TradingEnv(feats, bars, schema, sim_config=cfg, n_envs=1, episode_len=n, train_range=train,
                         reward=RewardConfig.preset(name))
        obs = env.reset()
        col = env.market_dim - schema.n_market + j
        acts, rews, eqs = [], [], []
        for _ in range(n):
            act = buy if obs[0, col] > 0 else sell
            acts.append(act)
            obs, r, _d, info = env.step(torch.tensor([act]))
            rews.append(float(r[0]))
            eqs.append(float(info["equity"][0]))
        print(f"env, reward {name}: net {eqs[-1] / cfg.account.initial_equity - 1:+.4%}, mean reward per step "
              f"{np.mean(rews):+.4f}")
    acts = np.array(acts)
    sim = simulate(bars, acts, cfg, start=train[0])
    print(f"simulator, same decisions: net {sim.net_return:+.4%}, PF {sim.profit_factor():.2f}, largest equity "
          f"difference to the env {np.max(np.abs(sim.equity - np.array(eqs))):.3g}")

    class Rule:
        def act(self, ob):
            return buy if ob[col] > 0 else sell

    run = run_policy_naive(Rule(), builder, bars, cfg, *train, close_at_end=False)
    print(f"reference runner on the backtest's observation: same decisions {np.mean(run.actions == acts):.1%}, "
          f"net {run.sim.net_return:+.4%}")
    for seg in ((train[1], train[1] + 250), (train[1] + 250, train[1] + 500)):
        r2 = run_policy_naive(Rule(), builder, bars, cfg, *seg, close_at_end=True)
        print(f"rule on bars {seg}: net {r2.sim.net_return:+.2%}, PF {r2.sim.profit_factor():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
