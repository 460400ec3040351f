"""A small vectorised toy env with the TradingEnv interface and a planted learnable signal.

Bar b's return is `signal * F[b-1, 0] + noise * eps`, and the decision for bar b sees
feature rows b-W .. b-1 (the timing rule), so the last row of the window predicts the
sign of the reward: a policy that learns "buy when the last row's feature 0 is
positive, sell when negative" earns about signal * E|N(0,1)| per step; a random one
earns about 0. Also used by the PPO benchmark (with the real obs size).
"""

from __future__ import annotations

import torch

from models.network import SimpleSchema


class ToyEnv:
    """n_envs episodes of fixed length over one random feature series; auto-reset."""

    def __init__(self, n_envs=64, window=4, n_market=2, n_account=1, n_bars=512, episode_len=32,
                 n_actions=3, signal=1.0, noise=0.5, seed=0, device="cpu", dtype=torch.float32):
        self.n_envs, self.window, self.n_market, self.n_account = n_envs, window, n_market, n_account
        self.n_actions, self.episode_len, self.device = n_actions, episode_len, torch.device(device)
        self.schema = SimpleSchema(window, n_market, n_account, version=f"toy-{window}x{n_market}+{n_account}")
        self.obs_dim = self.schema.obs_dim
        g = torch.Generator().manual_seed(seed)
        feats = torch.randn(n_bars, n_market, generator=g, dtype=dtype)
        ret = torch.zeros(n_bars, dtype=dtype)
        ret[1:] = signal * feats[:-1, 0] + noise * torch.randn(n_bars - 1, generator=g, dtype=dtype)
        padded = torch.cat([torch.zeros(window, n_market, dtype=dtype), feats]).to(self.device)
        # row b = feature rows b-W .. b-1 (zero-copy strided view, like the builder's windows)
        self.market_windows = padded.as_strided((n_bars, window * n_market), (n_market, 1))
        self.returns = ret.to(self.device)
        k = (n_actions - 1) // 2
        sizes = torch.arange(1, k + 1, dtype=dtype) / k
        pos = torch.cat([torch.zeros(1, dtype=dtype), sizes, -sizes, torch.zeros(n_actions - 1 - 2 * k, dtype=dtype)])
        self.positions = pos.to(self.device)
        self.gen = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.n_bars = n_bars
        self.bar_index = torch.zeros(n_envs, dtype=torch.long, device=self.device)
        self.t = torch.zeros(n_envs, dtype=torch.long, device=self.device)
        self.last_action = torch.zeros(n_envs, dtype=torch.long, device=self.device)

    def _starts(self) -> torch.Tensor:
        return torch.randint(self.window, self.n_bars - self.episode_len, (self.n_envs,),
                             generator=self.gen, device=self.device)

    def _obs(self) -> torch.Tensor:
        account = torch.zeros(self.n_envs, self.n_account, device=self.device, dtype=self.returns.dtype)
        account[:, 0] = self.t.to(account.dtype) / self.episode_len
        if self.n_account > 1:
            account[:, 1] = self.positions[self.last_action]
        return torch.cat([self.market_windows[self.bar_index], account], dim=1)

    def reset(self) -> torch.Tensor:
        self.bar_index = self._starts()
        self.t.zero_()
        self.last_action.zero_()
        return self._obs()

    def step(self, actions: torch.Tensor):
        reward = self.positions[actions] * self.returns[self.bar_index]
        self.last_action = actions
        self.t += 1
        self.bar_index = self.bar_index + 1
        done = self.t >= self.episode_len
        final_obs, final_bar = self._obs(), self.bar_index
        self.bar_index = torch.where(done, self._starts(), self.bar_index)
        self.t = torch.where(done, torch.zeros_like(self.t), self.t)
        self.last_action = torch.where(done, torch.zeros_like(actions), actions)
        components = {"pnl": reward, "exploration": (actions != 0).to(reward.dtype)}
        info = {"final_obs": final_obs, "final_bar_index": final_bar, "reward_components": components,
                "terminated": torch.zeros_like(done)}  # fixed-length episodes end as truncations
        return self._obs(), reward, done, info


def mean_reward(env: ToyEnv, act, steps: int = 64) -> float:
    """Average per-step reward of `act(obs) -> actions` over `steps` env steps."""
    obs, total = env.reset(), 0.0
    for _ in range(steps):
        obs, reward, _done, _info = env.step(torch.as_tensor(act(obs), device=env.device))
        total += float(reward.mean())
    return total / steps


def small_config(**overrides):
    """A seconds-sized TrainConfig for the default ToyEnv (64 envs)."""
    from models.config import TrainConfig

    base = dict(total_steps=64 * 16 * 4, n_envs=64, n_steps=16, n_epochs=2, minibatch_size=256,
                hidden=(32, 16), seed=0)
    return TrainConfig(**{**base, **overrides})


ACTIONS3 = ["HOLD", "BUY", "SELL"]


try:
    import pytest

    @pytest.fixture(autouse=True, scope="module")
    def one_torch_thread():
        """Tiny nets on a shared 2-core machine run faster and steadier on one thread."""
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)
except ImportError:  # the benchmark imports this module without pytest
    pass
