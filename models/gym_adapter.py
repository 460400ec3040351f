"""Adapters that let other RL libraries drive a `TradingEnv`.

- `TradingVectorEnv`: a `gymnasium.vector.VectorEnv` (numpy in and out) with the
  ``SAME_STEP`` autoreset mode: when an episode ends, ``step`` returns the first
  observation of the next one, and ``infos["final_obs"]`` (object array, None where the
  env did not end, mask ``infos["_final_obs"]``) the last one of the old episode.
  Episodes are fixed-length, so they end as truncations, never terminations.
- `sb3_vec_env(env)`: a Stable-Baselines3 ``VecEnv`` (SB3 is imported only here, lazily),
  with ``terminal_observation`` and ``TimeLimit.truncated`` in the infos so SB3
  bootstraps truncated episodes the way our trainer does. Used by
  ``benchmarks.bench_ppo --env trading``.

Both copy to host memory every step, which is what these libraries expect; our own
trainer steps the torch env directly.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, VectorEnv
except ImportError as exc:  # pragma: no cover - gymnasium is a test/bench dependency
    raise ImportError("models.gym_adapter needs gymnasium: pip install 'gymnasium>=1.0'") from exc


def _spaces(env):
    obs = gym.spaces.Box(-np.inf, np.inf, (env.obs_dim,), np.float32)
    return obs, gym.spaces.Discrete(env.n_actions)


class TradingVectorEnv(VectorEnv):
    """`gymnasium.vector.VectorEnv` view of a `TradingEnv` (observations as float32 numpy)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env) -> None:
        self.env = env
        self.num_envs = int(env.n_envs)
        self.single_observation_space, self.single_action_space = _spaces(env)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)

    @staticmethod
    def _np(x: torch.Tensor) -> np.ndarray:
        return x.detach().to("cpu", torch.float32, copy=True).numpy()  # env buffers may be reused

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episodes everywhere; ``seed`` reseeds the env's episode-start generator."""
        if seed is not None:
            self.env.gen.manual_seed(int(seed))
        self.action_space.seed(seed)
        return self._np(self.env.reset()), {}

    def step(self, actions):
        acts = torch.as_tensor(np.asarray(actions), dtype=torch.int64, device=self.env.device)
        obs, reward, done, info = self.env.step(acts)
        d = done.cpu().numpy().astype(bool)
        term = info["terminated"].cpu().numpy().astype(bool)
        infos: dict = {}
        if d.any():
            final = self._np(info["final_obs"])
            arr = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(d):
                arr[i] = final[i]
            infos["final_obs"], infos["_final_obs"] = arr, d.copy()
            infos["final_info"], infos["_final_info"] = {}, d.copy()
        comps = {k: v.detach().cpu().numpy() for k, v in info["reward_components"].items()}
        infos["reward_components"] = comps
        infos["_reward_components"] = np.ones(self.num_envs, dtype=bool)
        return (self._np(obs), reward.detach().cpu().numpy().astype(np.float64), term, d & ~term, infos)

    def close_extras(self, **kwargs) -> None:
        return None


def sb3_vec_env(env):
    """A Stable-Baselines3 ``VecEnv`` over a `TradingEnv` (needs stable-baselines3)."""
    from stable_baselines3.common.vec_env import VecEnv

    class TradingSB3VecEnv(VecEnv):
        """Torch batched env -> SB3 VecEnv (numpy; terminal_observation for truncation bootstrap)."""

        def __init__(self, e):
            self.e, self._actions = e, None  # before super().__init__, which reads render_mode
            obs_space, act_space = _spaces(e)
            super().__init__(int(e.n_envs), obs_space, act_space)

        def reset(self):
            return TradingVectorEnv._np(self.e.reset())

        def step_async(self, actions):
            self._actions = torch.as_tensor(np.asarray(actions), dtype=torch.int64, device=self.e.device)

        def step_wait(self):
            obs, reward, done, info = self.e.step(self._actions)
            d = done.cpu().numpy().astype(bool)
            infos = [{} for _ in range(self.num_envs)]
            if d.any():
                final = TradingVectorEnv._np(info["final_obs"])
                term = info["terminated"].cpu().numpy()
                for i in np.flatnonzero(d):
                    infos[i] = {"terminal_observation": final[i], "TimeLimit.truncated": not bool(term[i])}
            return TradingVectorEnv._np(obs), reward.detach().cpu().numpy().astype(np.float32), d, infos

        def close(self):
            return None

        def get_attr(self, name, indices=None):
            return [getattr(self.e, name, None)] * len(self._get_indices(indices))

        def set_attr(self, name, value, indices=None):
            setattr(self.e, name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [None] * len(self._get_indices(indices))

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._get_indices(indices))

        def seed(self, seed=None):
            if seed is not None:
                self.e.gen.manual_seed(int(seed))
            return [seed] * self.num_envs

    return TradingSB3VecEnv(env)
