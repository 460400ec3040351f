"""Baseline policies on the same bars, costs and account rules, all through the simulator.

- flat: always HOLD (no trades; equity stays at the initial equity);
- buy and hold: BUY_75 on the first bars until the max-position cap binds, HOLD
  after, and CLOSE at the last bar so the holding ends in one trade record.
  `buy_hold_matched` is the same at a cap equal to a policy's average exposure
  (exposure-matched buy and hold, DESIGN 3.7);
- random: actions drawn i.i.d. with given frequencies (e.g. the model's action
  shares), seeded; many seeds give the distribution the model is ranked against;
- timing null (`timing_null`): the policy's own executed decisions, cut into its
  flat-to-flat episodes (every order from the fill that opens a position to the fill
  that closes it) and the flat gaps between them; each draw permutes the episodes
  among themselves and the gap lengths among themselves, then replays the result
  through the simulator (each episode ending with a full exit where the policy's position
  became flat, and without the minimum-order rule, whose fixed amount would end
  episodes early or late at other prices). Each episode keeps its shape (holding
  period, its orders, their sizes relative to equity and position), so exposure and
  trade count are kept exactly unless a price-dependent rule binds differently at the
  new time (PDT on intraday equity bars, a volume cap); each draw's exposure and trade
  count are returned so a report can show it. What moves
  is *when* the policy is in the market: a policy whose returns come from its
  exposure alone ranks near the middle of this distribution; one with timing skill
  ranks at its top.
"""

from __future__ import annotations

import math

import numpy as np

from dataclasses import replace

from numba import njit

from backtest.errors import ConfigError
from backtest.simulator import SimConfig, SimResult, Simulator, simulate

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
    """Net return, profit factor and trade count of the random policy for each seed.

    One `Simulator` serves every seed (``reset`` + ``run``), which gives exactly what
    `run_baseline` gives per seed without recomputing the market inputs each time.
    """
    config = config if config is not None else SimConfig()
    stop = len(bars) if stop is None else stop
    n = stop - start
    if n <= 0:
        raise ConfigError(f"random baseline: empty decision range [{start}, {stop})")
    freq = default_frequencies(config) if frequencies is None else frequencies
    if len(freq) != config.account.action_space.n:
        raise ConfigError(f"random baseline: {len(freq)} frequencies for {config.account.action_space.n} actions")
    sim = Simulator(bars, config)
    rows = []
    for s in seeds:
        sim.reset(start)
        rows.append(sim.run(random_actions(n, freq, s), close_at_end=True))
    return {
        "seed": np.asarray(list(seeds), dtype=np.int64),
        "net_return": np.array([r.net_return for r in rows]),
        "profit_factor": np.array([r.profit_factor() for r in rows]),
        "trades": np.array([len(r.trades) for r in rows], dtype=np.int64),
    }


# ---- exposure-matched buy and hold ------------------------------------------------------
def exposure_fraction(result: SimResult) -> float:
    """Average share of equity in the market over the segment: mean of
    ``|position x close| / equity`` at each bar's close (0 for a flat policy)."""
    if len(result.equity) == 0:
        return 0.0
    close = result.bars.close[result.start:result.stop]
    eq = np.where(result.equity > 0, result.equity, np.nan)
    frac = np.abs(result.position * close) / eq
    return float(np.nanmean(np.where(np.isfinite(frac), frac, np.nan))) if np.isfinite(frac).any() else 0.0


def buy_hold_matched(bars, config: SimConfig | None, fraction: float, *, start: int = 0,
                     stop: int | None = None, rounds: int = 4) -> SimResult:
    """Buy and hold whose average exposure matches ``fraction`` (a policy's `exposure_fraction`).

    Buy and hold entering at a cap ``c`` drifts away from ``c`` as the price moves, so the
    cap is corrected up to ``rounds`` times, ``c <- c x fraction / exposure_fraction(run)``,
    which lands within a percent of the target on paths without a near-total loss. A fraction of 0 (a policy that never held anything) is the flat policy.
    """
    config = config if config is not None else SimConfig()
    if not (np.isfinite(fraction) and fraction >= 0):
        raise ConfigError(f"buy_hold_matched: fraction must be a number >= 0, got {fraction!r}")
    if fraction <= 0.0:
        return run_baseline("flat", bars, config, start=start, stop=stop)
    cap, result = float(min(fraction, 1.0)), None
    for _ in range(max(1, int(rounds))):
        account = replace(config.account, max_position=cap)
        result = run_baseline("buy_hold", bars, replace(config, account=account), start=start, stop=stop)
        got = exposure_fraction(result)
        if got <= 0.0 or abs(got - fraction) <= 1e-3 * fraction:
            break
        cap = float(min(max(cap * fraction / got, 1e-9), 1.0))
    return result


# ---- the timing null ----------------------------------------------------------------------
def position_episodes(position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)``: bar offsets of the flat-to-flat episodes of a position path
    (position after each bar's fill). An episode starts at the fill that opens a position from
    flat and ends, inclusive, at the fill that makes it flat again (a position still open at
    the last bar ends there). A fill never flips long to short, so episodes never touch."""
    held = np.asarray(position, dtype=np.float64) != 0.0
    if held.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    before = np.r_[False, held[:-1]]
    starts = np.flatnonzero(held & ~before)
    ends = np.flatnonzero(~held & before)
    if held[-1]:
        ends = np.r_[ends, held.size - 1]
    return starts.astype(np.int64), ends.astype(np.int64)


@njit(cache=True)
def _lay_out(actions, starts, lengths, gaps, block_order, gap_order, hold, out):
    """Row d of ``out``: gap, block, gap, ..., block, gap with blocks in ``block_order[d]``
    and gap lengths in ``gap_order[d]``; gap bars are ``hold``."""
    for d in range(out.shape[0]):
        t = 0
        m = block_order.shape[1]
        for k in range(m + 1):
            g = gaps[gap_order[d, k]]
            for j in range(g):
                out[d, t + j] = hold
            t += g
            if k < m:
                b = block_order[d, k]
                for j in range(lengths[b]):
                    out[d, t + j] = actions[starts[b] + j]
                t += lengths[b]


#: Timing-null paths laid out at a time: bounded memory on long segments (64 x n bars of int64).
NULL_CHUNK = 64


def _null_layout(actions: np.ndarray, position: np.ndarray, n_draws: int, seed: int, close_id: int | None):
    """What every draw is made of: the executed actions (each episode's last order replaced by
    ``close_id``), the episodes' starts and lengths, the gap lengths, and each draw's orders of
    blocks and of gaps (drawn all at once, so a path does not depend on how draws are chunked)."""
    actions = np.array(actions, dtype=np.int64)
    n = actions.size
    if int(n_draws) < 1:
        raise ConfigError(f"timing null: n_draws must be >= 1, got {n_draws!r}")
    starts, ends = position_episodes(position)
    if close_id is not None:
        actions[ends] = close_id
    lengths = ends - starts + 1
    # gaps[k]: flat bars before block k (k < m), and after the last block (k = m)
    if starts.size:
        gaps = np.r_[starts[0], starts[1:] - ends[:-1] - 1, n - 1 - ends[-1]].astype(np.int64)
    else:
        gaps = np.array([n], dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x7141]))
    m = starts.size
    block_order = np.argsort(rng.random((int(n_draws), m)), axis=1).astype(np.int64)
    gap_order = np.argsort(rng.random((int(n_draws), m + 1)), axis=1).astype(np.int64)
    return actions, starts, lengths, gaps, block_order, gap_order


def _null_paths(layout, d0: int, d1: int) -> np.ndarray:
    """Action paths of draws ``[d0, d1)``."""
    actions, starts, lengths, gaps, block_order, gap_order = layout
    out = np.empty((d1 - d0, actions.size), dtype=np.int64)
    _lay_out(actions, starts, lengths, gaps, block_order[d0:d1], gap_order[d0:d1], 0, out)
    return out


def timing_null_actions(actions: np.ndarray, position: np.ndarray, n_draws: int, seed: int,
                        close_id: int | None = None) -> np.ndarray:
    """``[n_draws, n]`` action paths: the episodes of ``(actions, position)`` (executed actions and
    the position after each) permuted among themselves, the flat gaps likewise (module doc).

    ``close_id`` (the simulator's internal CLOSE) replaces each episode's last order, the one
    that made the policy flat: a partial SELL that emptied a small position through the
    minimum-order rule might leave a little at another price, and the episode must end where
    it ended."""
    layout = _null_layout(actions, position, n_draws, seed, close_id)
    return _null_paths(layout, 0, int(n_draws))


def timing_null(bars, config: SimConfig | None, result: SimResult, *, n_draws: int = 1000,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Net return, trade count and bars in position of ``n_draws`` timing-null replays of a
    policy's simulation ``result`` (its executed actions and position path; module doc), laid
    out `NULL_CHUNK` draws at a time."""
    config = config if config is not None else SimConfig()
    layout = _null_layout(result.actions, result.position, n_draws, seed, config.account.action_space.n)
    # the minimum-order rule compares a position's value with a fixed amount, so at other prices
    # it would end an episode early or late; the replay ends each one with a full exit instead
    sim = Simulator(bars, replace(config, account=replace(config.account, min_order_notional=0.0)))
    n = int(n_draws)
    net, trades, held = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
    for d0 in range(0, n, NULL_CHUNK):
        for d, acts in enumerate(_null_paths(layout, d0, min(n, d0 + NULL_CHUNK)), start=d0):
            sim.reset(result.start)
            r = sim.run(acts, close_at_end=True, internal_close=True)
            net[d], trades[d], held[d] = r.net_return, len(r.trades), np.count_nonzero(r.position)
    return {"net_return": net, "trades": trades, "bars_in_position": held}
