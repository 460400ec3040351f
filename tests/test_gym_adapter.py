"""Gymnasium VectorEnv and SB3 VecEnv adapters over TradingEnv."""

from __future__ import annotations

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")

from models.gym_adapter import TradingVectorEnv, sb3_vec_env  # noqa: E402
from tests.test_env import make_env  # noqa: E402


def test_vector_env_follows_the_gymnasium_api():
    env = make_env(n_envs=4, episode_len=5)
    venv = TradingVectorEnv(env)
    assert venv.num_envs == 4
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert venv.single_action_space == gym.spaces.Discrete(7)
    obs, info = venv.reset(seed=3)
    assert isinstance(info, dict) and obs.dtype == np.float32 and obs.shape == (4, env.obs_dim)
    assert venv.observation_space.contains(obs)
    ends = 0
    for k in range(12):
        actions = venv.action_space.sample()
        assert venv.action_space.contains(actions)
        obs, rewards, terms, truncs, infos = venv.step(actions)
        assert venv.observation_space.contains(obs)
        assert rewards.shape == (4,) and terms.dtype == np.bool_ and truncs.dtype == np.bool_
        assert not terms.any()  # fixed-length episodes are truncated, not terminal
        assert truncs.all() == ((k + 1) % 5 == 0)
        if truncs.any():
            ends += 1
            assert infos["_final_obs"].all()
            assert all(f.shape == (env.obs_dim,) for f in infos["final_obs"])
            assert not np.array_equal(np.stack(infos["final_obs"]), obs)
        else:
            assert "final_obs" not in infos
        assert set(infos["reward_components"]) >= {"pnl", "direction"}
    assert ends == 2
    venv.close()


def test_vector_env_reset_seed_is_reproducible():
    venv = TradingVectorEnv(make_env(n_envs=4))
    a, _ = venv.reset(seed=11)
    b, _ = venv.reset(seed=11)
    assert np.array_equal(a, b)


def test_sb3_ppo_trains_a_few_hundred_steps_through_the_adapter():
    sb3 = pytest.importorskip("stable_baselines3")
    torch.manual_seed(0)
    vec = sb3_vec_env(make_env(n_envs=4, episode_len=16))
    model = sb3.PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu",
                    policy_kwargs=dict(net_arch=[16]), verbose=0)
    model.learn(256)
    assert model.num_timesteps >= 256
    actions, _ = model.predict(vec.reset(), deterministic=True)
    assert actions.shape == (4,) and ((actions >= 0) & (actions < 7)).all()
