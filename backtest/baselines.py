"""Baseline policies on the same bars, costs and account rules, all through `simulate`.

- flat: always HOLD (no trades; equity stays at the initial equity);
- buy and hold: BUY_75 on the first bars until the max-position cap binds, HOLD
  after, and CLOSE at the last bar so the holding ends in one trade record;
- random: actions drawn i.i.d. with given frequencies (e.g. the model's action
  shares), seeded; many seeds give the distribution the model is ranked against.
"""

from __future__ import annotations

import math

import numpy as np

from backtest.errors import ConfigError
from backtest.simulator import SimConfig, SimResult, simulate

BASELINES = ("buy_hold", "flat", "random")


def flat_actions(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def buy_hold_actions(n: int, config: SimConfig) -> np.ndarray:
    """BUY_75 until the position reaches ``max_position`` (ceil of their ratio), then HOLD."""
    acct = config.account
    space = acct.action_space
    buy = space.id_of("BUY_75")
    n_buys = max(1, math.ceil(acct.max_position / (acct.buy_fraction * 0.75) - 1e-12))
    out = np.zeros(n, dtype=np.int64)
    out[: min(n, n_buys)] = buy
    return out


def random_actions(n: int, frequencies, seed: int) -> np.ndarray:
    """``n`` i.i.d. action ids with the given frequencies (normalised), seeded."""
    p = np.asarray(frequencies, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ConfigError(f"random baseline: frequencies must be non-negative with a positive sum, got {p!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0xBA5E]))
    return rng.choice(p.size, size=n, p=p / p.sum()).astype(np.int64)


def default_frequencies(config: SimConfig, hold_share: float = 0.9) -> np.ndarray:
    """HOLD with ``hold_share``, the rest spread evenly over the other actions."""
    n = config.account.action_space.n
    p = np.full(n, (1.0 - hold_share) / (n - 1))
    p[0] = hold_share
    return p


def run_baseline(name: str, bars, config: SimConfig | None = None, *, start: int = 0, stop: int | None = None,
                 seed: int = 0, frequencies=None) -> SimResult:
    """One baseline over decisions at bars ``[start, stop)``; positions are closed at the end."""
    config = config if config is not None else SimConfig()
    stop = len(bars) if stop is None else stop
    n = stop - start
    if n <= 0:
        raise ConfigError(f"baseline {name!r}: empty decision range [{start}, {stop})")
    if name == "flat":
        acts = flat_actions(n)
    elif name == "buy_hold":
        acts = buy_hold_actions(n, config)
    elif name == "random":
        freq = default_frequencies(config) if frequencies is None else frequencies
        if len(freq) != config.account.action_space.n:
            raise ConfigError(f"random baseline: {len(freq)} frequencies for "
                              f"{config.account.action_space.n} actions")
        acts = random_actions(n, freq, seed)
    else:
        raise ConfigError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    return simulate(bars, acts, config, start=start, close_at_end=name != "flat")


def random_distribution(bars, config: SimConfig | None = None, *, frequencies=None, seeds=range(100),
                        start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Net return, profit factor and trade count of the random policy for each seed."""
    rows = [run_baseline("random", bars, config, start=start, stop=stop, seed=s, frequencies=frequencies)
            for s in seeds]
    return {
        "seed": np.asarray(list(seeds), dtype=np.int64),
        "net_return": np.array([r.net_return for r in rows]),
        "profit_factor": np.array([r.profit_factor() for r in rows]),
        "trades": np.array([len(r.trades) for r in rows], dtype=np.int64),
    }


def percentile_of(value: float, distribution: np.ndarray) -> float:
    """Share (0..100) of the distribution strictly below ``value``, ties counted half."""
    d = np.asarray(distribution, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan")
    return float(100.0 * ((d < value).sum() + 0.5 * (d == value).sum()) / d.size)
