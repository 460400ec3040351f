"""Augmented training paths: resampled copies of a fold's training segment (issue 24).

A policy trained on 858 daily bars visits each of them ~190 times in a 163,840-step run and
learns the path instead of the market (BENCHMARKS.md, "Trainer power"). With
``augment_paths = K`` the trainer's envs are split into K + 1 equal groups: one trades the
real bars, each other group its own resampled version of the training segment.

`resample_bars` builds one version. Rows before the training segment are the real bars;
each row of the segment ``[start, stop)`` takes the bar-relative shape of a real bar of the
segment (overnight gap, open-to-close log return, upper and lower wick, volume), chosen by
a stationary bootstrap: a run of consecutive real bars (mean length ``block``), so
short-range dependence such as a lag-1 effect survives inside runs. A run only starts or
continues at a source bar of the same time of day (minutes from the session's open) as
the target row, so intraday time-of-day structure is kept; timestamps and session columns
are the real ones. Prices are rebuilt by compounding from the real close before the
segment. Only bars before ``stop`` are read: the copy never sees validation or test.

`AugmentedEnv` runs one `models.env.TradingEnv` per path and presents them to
`models.ppo.PPOTrainer` as one env, bar mode included: its ``market_windows`` is one
strided view over the paths' padded features laid end to end, and its ``bar_index`` is
each sub-env's bar plus its path's offset in that view.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from backtest.errors import ConfigError

#: Seed offset between the sub-envs of the paths (their episode starts are independent).
PATH_SEED_STRIDE = 1_000_003


def resample_sources(slots: np.ndarray, start: int, stop: int, block: float, rng: np.random.Generator) -> np.ndarray:
    """Source row for each target row in ``[start, stop)``: a stationary bootstrap of runs
    (mean length ``block``) of rows in ``[start, stop)`` whose ``slots`` (time of day) match
    the target's; a target whose slot no source row has keeps its own row."""
    n = stop - start
    src = np.empty(n, dtype=np.int64)
    seg = np.asarray(slots[start:stop])
    keys, inverse = np.unique(seg, return_inverse=True)
    members = [start + np.flatnonzero(inverse == k) for k in range(len(keys))]
    fresh = rng.random(n) < 1.0 / block
    picks = rng.random(n)
    for j in range(n):
        prev = src[j - 1] + 1 if j else stop
        if fresh[j] or prev >= stop or seg[prev - start] != seg[j]:
            pool = members[inverse[j]]
            prev = pool[int(picks[j] * len(pool))]
        src[j] = prev
    return src


def resample_bars(bars, start: int, stop: int, block: float, rng: np.random.Generator):
    """One resampled version of ``bars[:stop]`` (see the module doc); a `backtest.bars.Bars`."""
    from backtest.bars import Bars

    if not 0 <= start < stop <= len(bars):
        raise ConfigError(f"resample_bars: training segment ({start}, {stop}) must satisfy 0 <= start < stop <= "
                          f"{len(bars)} (the number of bars)")
    o, h, lo, c = (np.asarray(getattr(bars, k)[:stop], dtype=np.float64) for k in ("open", "high", "low", "close"))
    vol = np.asarray(bars.volume[:stop], dtype=np.float64)
    prev_close = np.r_[o[0], c[:-1]]
    gap = np.log(o / prev_close)
    if start == 0:
        gap[0] = 0.0
    body = np.log(c / o)
    upper = np.log(h / np.maximum(o, c))
    lower = np.log(np.minimum(o, c) / lo)
    slots = np.round(bars.frame["minutes_from_open"].to_numpy()[:stop], 3)
    src = resample_sources(slots, start, stop, block, rng)
    base = np.log(prev_close[start])  # the real close before the segment (its own open when start == 0)
    log_c = base + np.cumsum(gap[src] + body[src])
    log_o = log_c - body[src]
    new_o, new_c = np.exp(log_o), np.exp(log_c)
    frame = bars.frame.iloc[:stop].copy()
    cols = {"open": new_o, "high": np.maximum(new_o, new_c) * np.exp(upper[src]),
            "low": np.minimum(new_o, new_c) * np.exp(-lower[src]), "close": new_c, "volume": vol[src]}
    for name, values in cols.items():
        col = frame[name].to_numpy(dtype=np.float64, copy=True)
        col[start:stop] = values
        frame[name] = pd.Series(col, index=frame.index)
    return Bars(frame, symbol=bars.symbol, asset_class=bars.asset_class, timeframe=bars.timeframe,
                calendar=bars.calendar, source="resampled")


class AugmentedEnv:
    """Sub-envs (`models.env.TradingEnv`, one per path, equal ``n_envs``) as one batched env."""

    def __init__(self, envs: list) -> None:
        if not envs:
            raise ConfigError("AugmentedEnv needs at least one env")
        first = envs[0]
        for e in envs[1:]:
            if (e.obs_dim, e.n_actions, e.episode_len, e.n_envs) != (first.obs_dim, first.n_actions,
                                                                      first.episode_len, first.n_envs):
                raise ConfigError("AugmentedEnv: every path's env must have the same obs_dim, actions, "
                                  "episode_len and n_envs")
        self.envs = list(envs)
        self.n_envs = sum(e.n_envs for e in envs)
        self.obs_dim, self.n_actions, self.device = first.obs_dim, first.n_actions, first.device
        self.action_meanings, self.episode_len, self.schema = first.action_meanings, first.episode_len, first.schema
        w, n = first.schema.window, first.schema.n_market
        padded = torch.cat([e._padded for e in envs])  # each path: its W zero rows, then its T rows
        self._padded = padded
        self.market_windows = padded.as_strided((padded.shape[0] - w + 1, w * n), (n, 1))
        sizes = [e._padded.shape[0] for e in envs]
        offsets = np.r_[0, np.cumsum(sizes)[:-1]]
        self._offsets = torch.as_tensor(np.repeat(offsets, [e.n_envs for e in envs]), dtype=torch.int64,
                                        device=self.device)

    @property
    def bar_index(self) -> torch.Tensor:
        """Each env's row of `market_windows` (its path's bar plus the path's offset)."""
        return torch.cat([e.bar_index for e in self.envs]) + self._offsets

    @property
    def steps_left(self) -> int:
        return self.envs[0].steps_left

    def reset(self) -> torch.Tensor:
        return torch.cat([e.reset() for e in self.envs])

    def step(self, actions: torch.Tensor):
        """`TradingEnv.step` of every path; the info keys the trainer reads, concatenated."""
        actions = torch.as_tensor(actions, device=self.device).reshape(self.n_envs)
        outs = [e.step(a) for e, a in zip(self.envs, actions.split([e.n_envs for e in self.envs]))]
        obs, reward, done = (torch.cat([o[i] for o in outs]) for i in range(3))
        infos = [o[3] for o in outs]
        info = {"final_obs": torch.cat([i["final_obs"] for i in infos]),
                "final_bar_index": torch.cat([i["final_bar_index"] for i in infos]) + self._offsets,
                "any_done": any(i["any_done"] for i in infos),
                "terminated": torch.cat([i["terminated"] for i in infos]),
                "reward_components": {k: torch.cat([i["reward_components"][k] for i in infos])
                                      for k in infos[0]["reward_components"]}}
        return obs, reward, done, info

    def state(self) -> dict:
        return {"paths": [e.state() for e in self.envs]}

    def load_state(self, state: dict):
        obs = [e.load_state(s) for e, s in zip(self.envs, state["paths"])]
        return None if any(o is None for o in obs) else torch.cat(obs)


def training_env(features_norm, bars, schema, normaliser, train_range: tuple[int, int], paths: int, block: float,
                 *, n_envs: int, seed: int, **env_kwargs):
    """The trainer's env: a `TradingEnv` on the real bars, or with ``paths`` > 0 an
    `AugmentedEnv` of the real bars and ``paths`` resampled versions of the training segment
    (features computed from each version and normalised with the fold's ``normaliser``)."""
    from backtest.features import compute_features
    from models.env import TradingEnv

    if paths == 0:
        return TradingEnv(features_norm, bars, schema, n_envs=n_envs, train_range=train_range, seed=seed,
                          **env_kwargs)
    if n_envs % (paths + 1):
        raise ConfigError(f"augment_paths={paths} needs n_envs={n_envs} divisible by {paths + 1}")
    per = n_envs // (paths + 1)
    start, stop = train_range
    rng = np.random.default_rng([seed, 24])
    envs = [TradingEnv(features_norm, bars, schema, n_envs=per, train_range=train_range, seed=seed, **env_kwargs)]
    for k in range(1, paths + 1):
        fake = resample_bars(bars, start, stop, block, rng)
        feats = normaliser.transform(compute_features(fake, schema))
        envs.append(TradingEnv(feats, fake, schema, n_envs=per, train_range=train_range,
                               seed=seed + k * PATH_SEED_STRIDE, **env_kwargs))
    return AugmentedEnv(envs)


__all__ = ["AugmentedEnv", "resample_bars", "resample_sources", "training_env"]
