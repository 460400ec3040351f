"""`TradingEnv`: n_envs independent accounts trading one symbol's bars, batched in torch.

The env is the simulator's step contract (`backtest.simulator` docstring) run for many
accounts at once (`models.env_step`), with the backtest's own observation layout
(`backtest.observation`), account features (`backtest.account_features`), costs,
account rules and PDT, so that a policy sees and earns in training exactly what it will
see and earn in the backtest (`tests/test_env_parity.py` proves it, bit for bit in
float64, per step and per env).

Episodes: ``episode_len`` decisions at consecutive bars from a random start (a torch
Generator seeded by ``seed``) such that every decision bar lies in
``[max(start, schema.warmup_bars), stop)`` of ``train_range``. Every episode starts with
a fresh flat account of ``sim_config.account.initial_equity`` cash. All envs start and
end their episodes together (fixed length, resets in the same step), which keeps
``done`` known on the host without a device sync and lets a step write the observation
once; the random starts keep the envs apart. When an episode ends, ``step`` returns the
first observation of the next one and ``info["final_obs"]`` the last of the old one.

Observation: ``market_windows[bar_index]`` (normalised rows ``t-W .. t-1``) followed by
the account features of `account_state()`, in ``dtype``. Money is float64 always
(see `models.env_step`); ``dtype`` applies to observations and rewards only.
"""

from __future__ import annotations

import dataclasses

import warnings

import numpy as np
import torch

from backtest.account_features import account_features
from backtest.errors import ConfigError
from backtest.simulator import SimConfig, market_inputs
from models.env_step import Accounts, KernelStep, MarketTensors, StepParams, account_state, step_accounts
from models.reward import RewardConfig, reward_components, total_reward


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"TradingEnv {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class TradingEnv:
    """Batched training env over precomputed, normalised features (see the module doc).

    ``features_norm``: float64 ``[T, n_market]``, already normalised
    (`Normaliser.transform`); ``bars``: the same T bars; ``schema``: their `FeatureSchema`;
    ``sim_config``: the SAME `SimConfig` the backtest uses (account, friction, PDT mode,
    slippage seed). ``train_range=(start, stop)``: decision bars of every episode lie in
    ``[max(start, schema.warmup_bars), stop)``; None means the whole series. If fewer
    than ``episode_len`` decision bars fit, episodes are shortened to what fits (a
    warning says so; `episode_len` holds the length used); no bar at all raises
    `ConfigError`.

    ``reuse_obs=True`` writes observations into preallocated buffers instead of new
    tensors (on CPU a fresh 95 MB tensor per step at 4,096 envs costs more than the step
    itself): an observation returned by `reset`/`step` then stays valid until the second
    `step` after it, and ``info["final_obs"]`` until the next episode end; clone what you
    keep longer. The PPO trainer keeps an observation for one step only.

    ``account_step``: who steps the accounts. ``"kernel"`` (CPU only): the simulator's numba
    kernel itself, looped over the envs; ``"torch"``: its batched torch mirror
    (`models.env_step`, the GPU path); ``"auto"`` (default): the kernel on CPU, else torch.
    Both give the same numbers (the parity tests run both).
    """

    def __init__(self, features_norm, bars, schema, *, sim_config: SimConfig | None = None, n_envs: int = 64,
                 episode_len: int = 256, train_range: tuple[int, int] | None = None, device="cpu",
                 dtype: torch.dtype = torch.float32, seed: int = 0, reward: RewardConfig | None = None,
                 reuse_obs: bool = False, account_step: str = "auto") -> None:
        self.sim_config = sim_config if sim_config is not None else SimConfig()
        if not isinstance(self.sim_config, SimConfig):
            raise ConfigError(f"TradingEnv sim_config must be a backtest.simulator.SimConfig, got {sim_config!r}")
        self.reward_config = reward if reward is not None else RewardConfig()
        if not isinstance(self.reward_config, RewardConfig):
            raise ConfigError(f"TradingEnv reward must be a models.reward.RewardConfig, got {reward!r}")
        if dtype not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
            raise ConfigError(f"TradingEnv dtype must be a torch floating dtype, got {dtype!r}")
        self.n_envs = _check_int("n_envs", n_envs, 1)
        self.requested_episode_len = _check_int("episode_len", episode_len, 1)
        self.seed = _check_int("seed", seed, 0)
        self.device, self.dtype, self.schema, self.bars = torch.device(device), dtype, schema, bars
        feats = self._check_features(features_norm, bars, schema)
        self.n_bars = int(feats.shape[0])
        self.first_bar, self.stop_bar, self.episode_len = self._resolve_range(train_range)
        self.account_config = self.sim_config.account
        space = self.account_config.action_space
        self.action_meanings = list(space.meanings)
        self.n_actions = space.n
        self.obs_dim = int(schema.obs_dim)
        self.market_dim = int(schema.window * schema.n_market)
        self._kind = torch.as_tensor(np.array(space.kind), dtype=torch.int64, device=self.device)
        self._size = torch.as_tensor(np.array(space.size), dtype=torch.float64, device=self.device)
        if account_step not in ("auto", "kernel", "torch"):
            raise ConfigError(f"TradingEnv account_step must be 'auto', 'kernel' or 'torch', got {account_step!r}")
        if account_step == "kernel" and self.device.type != "cpu":
            raise ConfigError(f"TradingEnv account_step='kernel' runs on CPU only, the env is on {self.device}")
        inputs = market_inputs(bars, self.sim_config)
        self.market = MarketTensors.build(bars, self.sim_config, self.device, inputs)
        self.params = StepParams.from_config(self.sim_config, bars.asset_class)
        self.account_step = "kernel" if account_step == "auto" and self.device.type == "cpu" else account_step
        self._kernel_step = (KernelStep(bars, self.sim_config, self._kind, self._size, inputs)
                             if self.account_step == "kernel" else None)
        self.market_windows = self._windows(feats)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(self.seed)
        self.acc = Accounts.zeros(self.n_envs, self.device)
        self.bar_index = torch.full((self.n_envs,), self.first_bar, dtype=torch.int64, device=self.device)
        self.peak_equity = torch.zeros(self.n_envs, dtype=torch.float64, device=self.device)
        self.steps_in_episode = 0
        self._ready = False
        self.reuse_obs = bool(reuse_obs)
        self._ring: list[torch.Tensor] = []
        self._ring_pos = 0
        self._final_buf: torch.Tensor | None = None

    # ------------------------------------------------------------------ construction
    def _check_features(self, features_norm, bars, schema) -> np.ndarray:
        f = np.asarray(features_norm)
        if f.ndim != 2 or f.shape[1] != schema.n_market:
            raise ConfigError(f"TradingEnv features_norm must be [T, {schema.n_market}] (schema n_market), "
                              f"got shape {f.shape}; pass Normaliser.transform(compute_features(bars, schema))")
        if f.shape[0] != len(bars):
            raise ConfigError(f"TradingEnv features_norm has {f.shape[0]} rows but bars has {len(bars)}; "
                              "compute the features from the same bars")
        if not np.isfinite(f).all():
            raise ConfigError("TradingEnv features_norm contains NaN or inf; pass the Normaliser.transform output")
        if schema.n_account and not hasattr(schema, "account_features"):
            raise ConfigError("TradingEnv schema must be a FeatureSchema (it names the account features)")
        return np.ascontiguousarray(f, dtype=np.float64)

    def _resolve_range(self, train_range) -> tuple[int, int, int]:
        start, stop = (0, self.n_bars) if train_range is None else train_range
        start, stop = int(start), int(stop)
        if not 0 <= start < stop <= self.n_bars:
            raise ConfigError(f"TradingEnv train_range={train_range!r} must satisfy 0 <= start < stop <= "
                              f"{self.n_bars} (the number of bars)")
        first = max(start, int(self.schema.warmup_bars))
        avail = stop - first
        if avail < 1:
            raise ConfigError(
                f"TradingEnv train_range=({start}, {stop}) leaves no decision bar after the warm-up of "
                f"{self.schema.warmup_bars} bars (window {self.schema.window} + look-back); an episode of "
                f"{self.requested_episode_len} decisions needs stop >= {first + self.requested_episode_len}")
        length = self.requested_episode_len
        if avail < length:
            warnings.warn(f"TradingEnv: train_range ({start}, {stop}) holds {avail} decision bars after the "
                          f"warm-up, fewer than episode_len={length}; episodes are shortened to {avail}",
                          stacklevel=3)
            length = avail
        return first, stop, length

    def _windows(self, feats: np.ndarray) -> torch.Tensor:
        """Zero-copy view ``[T+1, W*n]`` over the zero-padded features: row t = rows t-W .. t-1."""
        w, n = self.schema.window, self.schema.n_market
        padded = torch.zeros((self.n_bars + w, n), dtype=self.dtype, device=self.device)
        padded[w:] = torch.from_numpy(np.array(feats, dtype=np.float64)).to(self.device, self.dtype)  # own copy
        self._padded = padded
        return padded.as_strided((self.n_bars + 1, w * n), (n, 1))

    # ------------------------------------------------------------------ API
    def account_state(self) -> dict[str, torch.Tensor]:
        """`ACCOUNT_STATE_DTYPE` fields (tensors ``[n_envs]``) for the decision at `bar_index`."""
        return account_state(self.acc, self.bar_index, self.market, self.params)

    def _buffer(self, final: bool) -> torch.Tensor:
        """Where the next observation goes: a new tensor, or a reused one (``reuse_obs``)."""
        shape = (self.n_envs, self.obs_dim)
        if not self.reuse_obs:
            return torch.empty(shape, dtype=self.dtype, device=self.device)
        if final:
            if self._final_buf is None:
                self._final_buf = torch.empty(shape, dtype=self.dtype, device=self.device)
            return self._final_buf
        if not self._ring:
            self._ring = [torch.empty(shape, dtype=self.dtype, device=self.device) for _ in range(2)]
        self._ring_pos = (self._ring_pos + 1) % 2
        return self._ring[self._ring_pos]

    def _reward(self, eq_before: torch.Tensor, fill: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(components, total in ``dtype``) of the step; with the kernel account step in numpy
        on the state's arrays (same bits as torch, `models.reward`), a few times faster on
        [n_envs] vectors than torch's per-op dispatch."""
        acc = self.acc
        args = dict(equity_before=eq_before, equity_after=acc.equity, position=acc.position,
                    entry_price=acc.entry_price, open_=fill["ref_price"], close=acc.mark_price,
                    fill={k: fill[k] for k in ("status", "side", "exec_price", "position_before", "entry_before")},
                    peak_equity=self.peak_equity)
        if self._kernel_step is not None:
            args = {k: ({f: a.numpy() for f, a in v.items()} if k == "fill" else v.numpy()) for k, v in args.items()}
        comps = reward_components(self.reward_config, max_position=self.account_config.max_position, **args)
        total = total_reward(self.reward_config, comps)
        if self._kernel_step is not None:
            comps, total = {k: torch.from_numpy(v) for k, v in comps.items()}, torch.from_numpy(total)
        return comps, total.to(self.dtype)

    def _obs(self, final: bool = False) -> torch.Tensor:
        if self._kernel_step is not None:  # numpy on the kernel's arrays: same bits, less dispatch
            state = self._kernel_step.account_state(self.acc, self.bar_index)
            acct = torch.from_numpy(account_features(state, self.account_config, self.schema.account_features))
        else:
            acct = account_features(self.account_state(), self.account_config, self.schema.account_features)
        out = self._buffer(final)
        torch.index_select(self.market_windows, 0, self.bar_index, out=out[:, : self.market_dim])
        out[:, self.market_dim:] = acct
        return out

    def _start_episodes(self) -> None:
        hi = self.stop_bar - self.episode_len  # last allowed start
        t0 = torch.randint(self.first_bar, hi + 1, (self.n_envs,), generator=self.gen, device=self.device)
        everyone = torch.ones(self.n_envs, dtype=torch.bool, device=self.device)
        self.acc.reset(everyone, t0, self.params.initial_equity, self.market)
        self.bar_index = t0
        self.peak_equity = self.acc.equity.clone()
        self.steps_in_episode = 0

    @property
    def steps_left(self) -> int:
        """Steps until every episode ends (host int). Until then each env's `bar_index` grows
        by exactly one per step, so a trainer knows the coming bars (`models.ppo.Lookahead`)."""
        return self.episode_len - self.steps_in_episode

    def state(self) -> dict:
        """Everything that changes as the env steps, as CPU tensors and plain values: the
        accounts, each env's bar, the episodes' peak equity and step count, and the start
        generator. `load_state` of it continues exactly where this env is (a trainer resumed
        mid-episode then draws and sees what it would have)."""
        acc = {f.name: getattr(self.acc, f.name).detach().cpu().clone() for f in dataclasses.fields(self.acc)}
        return {"accounts": acc, "bar_index": self.bar_index.cpu().clone(), "peak_equity": self.peak_equity.cpu().clone(),
                "steps_in_episode": int(self.steps_in_episode), "generator": self.gen.get_state(),
                "ready": bool(self._ready)}

    def load_state(self, state: dict) -> torch.Tensor | None:
        """Restore a `state`; returns the observation for the next step (None before a reset)."""
        if int(state["bar_index"].numel()) != self.n_envs:
            raise ConfigError(f"env state of {int(state['bar_index'].numel())} envs cannot be loaded into "
                              f"{self.n_envs}; resume with the run's recorded n_envs")
        acc = state["accounts"]
        self.acc = Accounts(**{f.name: acc[f.name].to(self.device) for f in dataclasses.fields(Accounts)})
        self.bar_index = state["bar_index"].to(self.device)
        self.peak_equity = state["peak_equity"].to(self.device)
        self.steps_in_episode = int(state["steps_in_episode"])
        self.gen.set_state(state["generator"].cpu())  # generator states are CPU byte tensors on every device
        self._ready = bool(state["ready"])
        return self._obs() if self._ready else None

    def reset(self) -> torch.Tensor:
        """Start new episodes in every env; returns observations ``[n_envs, obs_dim]``."""
        self._start_episodes()
        self._ready = True
        return self._obs()

    def step(self, actions: torch.Tensor):
        """One decision per env; returns ``(obs, reward, done, info)`` (see the module doc).

        ``info``: ``final_obs``, ``final_bar_index``, ``any_done`` (Python bool: whether the
        episodes ended at this step), ``terminated`` (always False: episodes are truncated,
        never terminal), ``reward_components``, ``fill`` (the fill record of
        every env, `backtest.trades.FILL_DTYPE` field names, plus ``pdt_rejected``),
        ``equity``, ``cash``, ``position`` after the step and ``pdt_rejections`` (count in
        the episode so far).
        """
        if not self._ready:
            raise ConfigError("TradingEnv.step called before reset(); call env.reset() first")
        actions = torch.as_tensor(actions, device=self.device).to(torch.int64).reshape(self.n_envs)
        t = self.bar_index
        eq_before = self.acc.equity
        if self._kernel_step is not None:
            fill = self._kernel_step(self.acc, t, actions)
        else:
            fill = step_accounts(self.acc, t, actions, self._kind, self._size, self.market, self.params)
        acc = self.acc
        self.peak_equity = torch.maximum(self.peak_equity, acc.equity)
        comps, reward = self._reward(eq_before, fill)
        info = {"fill": fill, "equity": acc.equity, "cash": acc.cash, "position": acc.position,
                "pdt_rejections": acc.pdt_rejections,
                "reward_components": {k: v.to(self.dtype) for k, v in comps.items()},
                "terminated": torch.zeros(self.n_envs, dtype=torch.bool, device=self.device)}
        self.bar_index = t + 1
        self.steps_in_episode += 1
        done_now = self.steps_in_episode >= self.episode_len
        info["final_bar_index"] = self.bar_index
        if done_now:
            info["final_obs"] = self._obs(final=True)
            self._start_episodes()
            obs = self._obs()
        else:
            obs = self._obs()
            info["final_obs"] = obs
        info["any_done"] = bool(done_now)  # host-side: lets a trainer skip V(final_obs) without a sync
        done = torch.full((self.n_envs,), done_now, dtype=torch.bool, device=self.device)
        return obs, reward, done, info

    def __repr__(self) -> str:
        return (f"TradingEnv({self.n_envs} envs, {self.n_bars} bars, decisions in [{self.first_bar}, "
                f"{self.stop_bar}), episode_len {self.episode_len}, obs_dim {self.obs_dim}, {self.device}, "
                f"{self.dtype})")
