"""TradingEnv behaviour: episode starts and lengths, auto-reset, the trainer's interface,
determinism, refusals with clear messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backtest.errors import ConfigError
from backtest.features import FeatureSchema, compute_features
from backtest.normaliser import Normaliser
from backtest.sample_data import generate_equity_bars
from backtest.simulator import SimConfig
from models.env import TradingEnv
from models.reward import COMPONENTS, RewardConfig
from tests.test_env_parity import SHORT_SPECS

SCHEMA = FeatureSchema(features=SHORT_SPECS, window=6)
BARS = generate_equity_bars("ENVT", start="2023-03-01", end="2023-04-15", seed=5)
RAW = compute_features(BARS, SCHEMA)
FN = Normaliser.fit(RAW, 0, 400).transform(RAW)
T = len(BARS)


def make_env(**kw) -> TradingEnv:
    args = dict(n_envs=8, episode_len=20, train_range=(0, 400), seed=0)
    args.update(kw)
    return TradingEnv(FN, BARS, SCHEMA, **args)


def _rollout(env, n_steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = [env.reset()]
    for _ in range(n_steps):
        obs, reward, done, info = env.step(torch.randint(0, env.n_actions, (env.n_envs,), generator=g))
        out.append((obs, reward, done, info))
    return out


def test_interface_attributes_and_shapes():
    env = make_env()
    assert env.n_envs == 8 and env.n_actions == 7 and env.obs_dim == SCHEMA.obs_dim
    assert env.device == torch.device("cpu") and env.schema is SCHEMA
    assert env.market_windows.shape == (T + 1, SCHEMA.window * SCHEMA.n_market)
    obs = env.reset()
    assert obs.shape == (8, SCHEMA.obs_dim) and obs.dtype == torch.float32
    assert env.bar_index.dtype == torch.int64 and env.bar_index.shape == (8,)
    state = env.account_state()
    assert set(state) == {"cash", "position", "entry_price", "mark_price", "bars_in_position", "day_trades_left"}
    assert torch.all(state["cash"] == 1000.0) and torch.all(state["position"] == 0.0)
    obs, reward, done, info = env.step(torch.zeros(8, dtype=torch.long))
    assert reward.shape == (8,) and done.dtype == torch.bool
    assert set(info["reward_components"]) == set(COMPONENTS)
    for key in ("final_obs", "terminated", "final_bar_index", "fill", "equity", "cash", "position"):
        assert key in info
    assert torch.equal(obs[:, : env.market_dim], env.market_windows[env.bar_index])


def test_market_windows_rows_are_the_previous_w_rows():
    env = make_env(dtype=torch.float64)
    w, n = SCHEMA.window, SCHEMA.n_market
    for t in (w, w + 1, 200, T):
        assert np.array_equal(env.market_windows[t].numpy(), FN[t - w:t].reshape(-1))
    assert torch.all(env.market_windows[0] == 0)


def test_starts_respect_range_and_warmup_and_episodes_have_fixed_length():
    env = make_env(train_range=(3, 120), episode_len=15, n_envs=64)
    assert env.first_bar == SCHEMA.warmup_bars  # start 3 < warm-up: the warm-up wins
    starts = []
    obs = env.reset()
    for k in range(45):
        starts.append(env.bar_index.clone()) if k % 15 == 0 else None
        obs, _r, done, info = env.step(torch.zeros(64, dtype=torch.long))
        assert bool(done.all()) == ((k + 1) % 15 == 0) and bool(done.any()) == bool(done.all())
        if bool(done.all()):
            assert torch.equal(info["final_bar_index"], starts[-1] + 15)
            assert torch.all(info["final_bar_index"] <= 120)
            assert not torch.equal(info["final_obs"], obs)
            assert torch.all(env.account_state()["cash"] == 1000.0)
    s = torch.cat(starts)
    assert int(s.min()) >= SCHEMA.warmup_bars and int(s.max()) <= 120 - 15
    assert len(torch.unique(s)) > 20  # random, not one start for everybody


def test_final_obs_is_the_last_observation_of_the_episode():
    env = make_env(episode_len=3, n_envs=4)
    env.reset()
    z = torch.zeros(4, dtype=torch.long)
    env.step(torch.ones(4, dtype=torch.long))
    obs1, *_ = env.step(z)
    bars_before = env.bar_index.clone()
    state_obs = obs1.clone()
    obs, _r, done, info = env.step(z)
    assert bool(done.all())
    assert torch.equal(info["final_bar_index"], bars_before + 1)
    # the final observation holds the post-step account: bought position still open
    assert torch.all(info["final_obs"][:, env.market_dim] > 0)  # position_fraction
    assert torch.all(state_obs[:, env.market_dim] > 0)
    assert torch.all(obs[:, env.market_dim] == 0)  # fresh flat account after the reset


def test_same_seed_same_rollout_and_other_seed_differs():
    a, b, c = (_rollout(make_env(seed=s), 30) for s in (7, 7, 8))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    for x, y in zip(a[1:], b[1:]):
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])


def test_kernel_and_torch_account_steps_give_identical_rollouts():
    """The CPU default (the simulator's kernel) and the torch mirror: same observations,
    rewards and fills, step by step (float64: bit for bit), and a fill record handed out
    keeps its values after later steps (state is rebound, never written in place)."""
    assert make_env().account_step == "kernel"
    runs = [_rollout(make_env(account_step=a, dtype=torch.float64, seed=3), 45, seed=4) for a in ("kernel", "torch")]
    assert torch.equal(runs[0][0], runs[1][0])
    for (ok, rk, _, ik), (ot, rt, _, it) in zip(runs[0][1:], runs[1][1:]):
        assert torch.equal(ok, ot) and torch.equal(rk, rt)
        for name, value in it["fill"].items():
            assert ik["fill"][name].dtype == value.dtype and torch.equal(ik["fill"][name], value), name
    env = make_env()
    env.reset()
    first = env.step(torch.full((8,), 1))[3]
    kept = {k: v.clone() for k, v in first["fill"].items()} | {"cash": first["cash"].clone()}
    for _ in range(5):
        env.step(torch.full((8,), 6))
    for name, value in kept.items():
        assert torch.equal((first["fill"] | {"cash": first["cash"]})[name], value), name


def test_short_range_shortens_episodes_with_a_warning():
    with pytest.warns(UserWarning, match="shortened to 5"):
        env = make_env(train_range=(0, SCHEMA.warmup_bars + 5), episode_len=50)
    assert env.episode_len == 5
    env.reset()
    assert torch.all(env.bar_index == SCHEMA.warmup_bars)


@pytest.mark.parametrize("kw, match", [
    (dict(train_range=(0, SCHEMA.warmup_bars)), "no decision bar"),
    (dict(train_range=(10, 5)), "train_range"),
    (dict(train_range=(0, T + 1)), "train_range"),
    (dict(n_envs=0), "n_envs"),
    (dict(episode_len=0), "episode_len"),
    (dict(sim_config="x"), "sim_config"),
    (dict(reward=0.3), "reward"),
    (dict(account_step="numba"), "account_step"),
])
def test_bad_arguments_raise_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        make_env(**kw)


def test_bad_features_raise():
    with pytest.raises(ConfigError, match="rows but bars"):
        TradingEnv(FN[:-1], BARS, SCHEMA)
    with pytest.raises(ConfigError, match="n_market"):
        TradingEnv(FN[:, :-1], BARS, SCHEMA)
    with pytest.raises(ConfigError, match="reset"):
        make_env().step(torch.zeros(8, dtype=torch.long))


def test_rewards_are_weighted_components():
    cfg = RewardConfig()
    env = make_env(reward=cfg)
    env.reset()
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        _o, reward, _d, info = env.step(torch.randint(0, 7, (8,), generator=g))
        comps = info["reward_components"]
        expected = sum(getattr(cfg, k) * comps[k].double() for k in COMPONENTS)
        assert torch.allclose(reward.double(), expected, atol=1e-6)


def test_sim_config_drives_the_account():
    from backtest.account import AccountConfig

    env = make_env(sim_config=SimConfig(account=AccountConfig(initial_equity=5000.0, include_close_action=True)))
    assert env.n_actions == 8
    env.reset()
    assert torch.all(env.account_state()["cash"] == 5000.0)


def test_reused_buffers_give_the_same_observations_and_keep_them_one_step():
    fresh, reused = make_env(episode_len=4), make_env(episode_len=4, reuse_obs=True)
    a, b = fresh.reset(), reused.reset()
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(2)
    prev, prev_copy = b, b.clone()
    for _ in range(9):
        acts = torch.randint(0, 7, (8,), generator=g)
        oa, ra, da, ia = fresh.step(acts)
        ob, rb, db, ib = reused.step(acts)
        assert torch.equal(oa, ob) and torch.equal(ra, rb) and torch.equal(da, db)
        assert torch.equal(ia["final_obs"], ib["final_obs"])
        assert torch.equal(prev, prev_copy)  # the previous observation survives one more step
        prev, prev_copy = ob, ob.clone()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_step_never_synchronises_with_the_host():
    env = make_env(device="cuda", n_envs=64, episode_len=5, reuse_obs=True)
    env.reset()
    actions = torch.randint(0, 7, (12, 64), device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for k in range(12):  # crosses two episode ends (auto-reset included)
            obs, reward, done, info = env.step(actions[k])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert obs.device.type == "cuda" and torch.isfinite(reward).all()
