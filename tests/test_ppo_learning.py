"""PPO on TradingEnv learns a planted signal and beats a random policy out of sample.

The bundled sample generator plants ``signal * sigma * sign(previous return)`` in every
bar's return (`backtest.sample_data`), so the last row of the observation window (the
previous bar's return) predicts the direction of the bar the decision trades. A short,
seeded PPOTrainer run on the first part of the series must then beat random policies
(same env, same costs) on a held-out later part: a mean reward and a positive net return
above every random seed's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backtest.features import FeatureSchema, compute_features
from backtest.features.pipeline import default_specs
from backtest.normaliser import Normaliser
from backtest.sample_data import sample_bars
from models.config import TrainConfig
from models.env import TradingEnv
from models.ppo import PPOTrainer

NAMES = ("ret_1", "logret_1", "rev_streak", "tod_sin", "tod_cos", "to_close")
SEED = 0
SCHEMA = FeatureSchema(features=tuple(s for s in default_specs() if s.name in NAMES), window=4)


@pytest.fixture(scope="module")
def data():
    bars = sample_bars(seed=0, symbols=("SMPA",), start="2023-01-03", end="2023-05-01", signal=1.0)[0]
    raw = compute_features(bars, SCHEMA)
    split = int(len(bars) * 0.7)
    fn = Normaliser.fit(raw, 0, split).transform(raw)
    return bars, fn, split


def evaluate(bars, fn, lo, hi, act, n_envs=1, seed=0):
    """Run ``act(obs)`` over decisions ``[lo, hi)`` in one episode; (net return, mean reward) per env."""
    env = TradingEnv(fn, bars, SCHEMA, n_envs=n_envs, episode_len=hi - lo, train_range=(lo, hi), seed=seed)
    obs, total = env.reset(), torch.zeros(n_envs, dtype=torch.float64)
    assert torch.all(env.bar_index == lo)
    for _ in range(env.episode_len):
        obs, reward, _done, info = env.step(act(obs))
        total += reward.double()
        equity = info["equity"]
    return (equity / env.params.initial_equity - 1.0).numpy(), (total / env.episode_len).numpy()


def test_ppo_beats_random_policy_out_of_sample(data):
    bars, fn, split = data
    env = TradingEnv(fn, bars, SCHEMA, n_envs=32, episode_len=64, train_range=(0, split), seed=SEED)
    cfg = TrainConfig(total_steps=32 * 32 * 70, n_envs=32, n_steps=32, n_epochs=4, minibatch_size=256,
                      hidden=(64, 64), actor_lr=1e-3, critic_lr=3e-3, seed=SEED)
    trainer = PPOTrainer(env, SCHEMA, cfg, verbose=0, action_meanings=env.action_meanings)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.train()
    finally:
        torch.set_num_threads(before)
    policy = trainer.policy()
    lo, hi = split + 1, len(bars)
    net, reward = evaluate(bars, fn, lo, hi, policy.act)
    g = torch.Generator().manual_seed(1)
    rand_net, rand_reward = evaluate(bars, fn, lo, hi, lambda o: torch.randint(0, 7, (o.shape[0],), generator=g),
                                     n_envs=16)
    # the default reward pays the net return (models.reward, preset net_pnl): above every random seed's
    assert reward[0] > rand_reward.max(), (reward, rand_reward)
    assert net[0] > 0.0 and net[0] > rand_net.max(), (net, rand_net)
