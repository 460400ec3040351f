"""Baseline policies on the same bars, costs and account rules, all through the simulator.

- flat: always HOLD (no trades; equity stays at the initial equity);
- buy and hold: BUY_75 on the first bars until the max-position cap binds, HOLD
  after, and CLOSE at the last bar so the holding ends in one trade record.
  `buy_hold_matched` is the same at a cap equal to a policy's signed average exposure
  (exposure-matched buy and hold, DESIGN 3.7): short buy and hold for a policy that is
  short on average;
- random: actions drawn i.i.d. with given frequencies (e.g. the model's action
  shares), seeded; many seeds give the distribution the model is ranked against;
- timing null (`timing_null`): the policy's own executed decisions rearranged in time.

What the timing null keeps and what it removes. The position path is cut into flat-to-flat
episodes (from the fill that opens a position to the fill that closes it) and the flat gaps
between them. Each episode is cut once more: its *head* (the entry and every order up to
the first fill that reduces the position), its *resizing part* (from that fill to the bar
before the exit, cut into blocks of `inner_block_length` bars) and its *exit*. A draw
permutes the episodes among themselves, the gap lengths among themselves and, inside each
episode, the resizing blocks among themselves; the head and the exit stay where they are in
the episode. It keeps: the number of episodes, each one's holding period, entry and exit,
the multiset of orders (so the turnover in orders) and their sizes relative to equity and
position, the bars in the market exactly (unless a price-dependent rule binds differently at
the new time: PDT, a volume cap, the minimum order), and the exposure up to how the resized
levels are ordered inside an episode. It removes: *when* the policy is in the market and,
inside an episode, *when* it adds and reduces, i.e. the alignment of its entries, exits and
resizing with future prices. A policy whose returns come from exposure alone ranks near the
middle of the draws; one with timing skill (entering, exiting or resizing ahead of moves)
ranks at their top.

Every draw and the policy's own path (`timing_null`'s ``model_net_return``: the pieces in
their own order) are replayed through the same simulator under the same rules, the model's
minimum order included, each episode ending with a full exit at its last bar; the p-value
compares the draws with that replay with a tie tolerance (`NULL_TIE_TOL`), never with the
model's return compounded another way. `arrangements_log10` counts the distinct paths the
null can lay out: with fewer than about 1/alpha (a policy in the market throughout without
resizing, or one episode per segment and nothing to move) it cannot separate the policy
from its draws, and the verdict says so instead of reading a p-value.
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
                        start: int = 0, stop: int | None = None, account=None) -> dict[str, np.ndarray]:
    """Net return, profit factor and trade count of the random policy for each seed.

    One `Simulator` serves every seed (``reset`` + ``run``), which gives exactly what
    `run_baseline` gives per seed without recomputing the market inputs each time.
    ``account``: a `Simulator.snapshot` at bar ``start`` that every draw continues (a position
    carried into the segment; its return is measured from that account's equity), instead of
    a fresh, flat account. Every draw's position is closed at the segment's last bar.
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
        _begin(sim, start, account)
        rows.append(sim.run(random_actions(n, freq, s), close_at_end=True))
    return {
        "seed": np.asarray(list(seeds), dtype=np.int64),
        "net_return": np.array([r.net_return for r in rows]),
        "profit_factor": np.array([r.profit_factor() for r in rows]),
        "trades": np.array([len(r.trades) for r in rows], dtype=np.int64),
    }


# ---- exposure-matched buy and hold ------------------------------------------------------
def exposure_fraction(result: SimResult) -> float:
    """Signed average share of equity in the market over the segment: mean of
    ``position x close / equity`` at each bar's close (0 for a flat policy, negative when the
    policy is short on average). A mixed path is matched by this signed average."""
    if len(result.equity) == 0:
        return 0.0
    close = result.bars.close[result.start:result.stop]
    eq = np.where(result.equity > 0, result.equity, np.nan)
    frac = (result.position * close) / eq
    return float(np.nanmean(np.where(np.isfinite(frac), frac, np.nan))) if np.isfinite(frac).any() else 0.0


def _short_hold(bars, config: SimConfig, *, start: int, stop: int | None) -> SimResult:
    """Short buy and hold: SELL_75 (with shorting allowed) until the cap binds, HOLD, and the
    short covered at the last bar."""
    stop = len(bars) if stop is None else stop
    acct = replace(config.account, allow_short=True)
    cfg = replace(config, account=acct)
    acts = buy_hold_actions(stop - start, cfg)
    acts[acts != 0] = acct.action_space.id_of("SELL_75")
    return simulate(bars, acts, cfg, start=start, close_at_end=True)


def buy_hold_matched(bars, config: SimConfig | None, fraction: float, *, start: int = 0,
                     stop: int | None = None, rounds: int = 4) -> SimResult:
    """Buy and hold whose signed average exposure matches ``fraction`` (a policy's
    `exposure_fraction`): long buy and hold for a positive fraction, short buy and hold (a
    short sale held to the end, shorting allowed for it) for a negative one.

    Buy and hold entering at a cap ``c`` drifts away from ``c`` as the price moves, so the
    cap is corrected up to ``rounds`` times, ``c <- c x |fraction| / |exposure_fraction(run)|``,
    which lands within a percent of the target on paths without a near-total loss. A fraction
    of 0 (a policy that never held anything, or as long as short on average) is the flat policy.
    """
    config = config if config is not None else SimConfig()
    if not np.isfinite(fraction):
        raise ConfigError(f"buy_hold_matched: fraction must be a finite number, got {fraction!r}")
    if fraction == 0.0:
        return run_baseline("flat", bars, config, start=start, stop=stop)
    target = abs(float(fraction))
    cap, result = float(min(target, 1.0)), None
    for _ in range(max(1, int(rounds))):
        cfg = replace(config, account=replace(config.account, max_position=cap))
        result = (run_baseline("buy_hold", bars, cfg, start=start, stop=stop) if fraction > 0
                  else _short_hold(bars, cfg, start=start, stop=stop))
        got = abs(exposure_fraction(result))
        if got <= 0.0 or abs(got - target) <= 1e-3 * target:
            break
        cap = float(min(max(cap * target / got, 1e-9), 1.0))
    return result


def _begin(sim: Simulator, start: int, account) -> None:
    """Start ``sim`` at bar ``start``: a fresh, flat account, or the `Simulator.snapshot` ``account``."""
    if account is None:
        sim.reset(start)
        return
    if int(account[0][0]["t"]) != int(start):
        raise ConfigError(f"the carried account decides next at bar {int(account[0][0]['t'])}, not at {start}")
    sim.restore(account)


# ---- the timing null ----------------------------------------------------------------------
def position_episodes(position: np.ndarray, initial: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)``: bar offsets of the flat-to-flat episodes of a position path
    (position after each bar's fill). An episode starts at the fill that opens a position from
    flat and ends, inclusive, at the fill that makes it flat again (a position still open at
    the last bar ends there). A fill never flips long to short, so episodes never touch.
    ``initial``: the position held before the first bar (carried into the segment); when it
    is not 0 the first episode starts at bar 0, the bar it was carried into (it may end there)."""
    held = np.asarray(position, dtype=np.float64) != 0.0
    if held.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    carried = float(initial) != 0.0
    before = np.r_[carried, held[:-1]]
    starts = np.flatnonzero(held & ~before)
    ends = np.flatnonzero(~held & before)
    if carried:
        starts = np.r_[0, starts]
    if held[-1]:
        ends = np.r_[ends, held.size - 1]
    return starts.astype(np.int64), ends.astype(np.int64)


def inner_block_length(n_bars: int) -> int:
    """Length of the blocks an episode's resizing part is cut into: ``round(sqrt(n))`` bars
    of the segment (16 for 250 bars): long enough to keep a policy's short-range order
    patterns, short enough that a path in the market throughout still has many arrangements."""
    return max(1, int(round(math.sqrt(max(int(n_bars), 1)))))


def episode_blocks(position: np.ndarray, block: int | None = None, initial: float = 0.0):
    """The pieces a timing-null draw rearranges, from a position path (module doc); ``initial``:
    the position carried in before the first bar (`position_episodes`).

    Returns ``(starts, ends, blocks)``: the episodes (`position_episodes`) and, per bar
    range, blocks ``[(episode, first, stop, movable)]`` covering every episode bar in order:
    an episode's *head* (its entry up to its first reducing fill, not movable), its resizing
    part cut into `inner_block_length` blocks (movable within the episode) and its last bar
    (the exit, not movable)."""
    pos = np.abs(np.asarray(position, dtype=np.float64))
    starts, ends = position_episodes(pos, initial)
    block = inner_block_length(pos.size) if block is None else int(block)
    prev = np.r_[abs(float(initial)), pos[:-1]]
    reducing = pos < prev
    out = []
    for e, (s, t) in enumerate(zip(starts, ends)):
        if t == s:
            out.append((e, int(s), int(s) + 1, False))
            continue
        red = np.flatnonzero(reducing[s + 1:t]) if t > s + 1 else np.zeros(0, np.int64)
        h = int(s + 1 + red[0]) if red.size else int(t)
        out.append((e, int(s), h, False))
        for b in range(h, int(t), block):
            out.append((e, b, min(b + block, int(t)), True))
        out.append((e, int(t), int(t) + 1, False))
    return starts, ends, out


def _log_multinomial(keys) -> float:
    """log of the number of distinct orderings of ``keys`` (equal keys are interchangeable)."""
    keys = list(keys)
    if not keys:
        return 0.0
    _, counts = np.unique(np.asarray([hash(k) for k in keys], dtype=np.int64), return_counts=True)
    return math.lgamma(len(keys) + 1) - float(sum(math.lgamma(c + 1) for c in counts))


def arrangements_log10(actions: np.ndarray, position: np.ndarray, block: int | None = None,
                       initial: float = 0.0) -> float:
    """log10 of the number of distinct action paths the timing null can lay out for this
    policy: orderings of its episodes (equal episodes count once), of its flat-gap lengths and
    of each episode's movable blocks. Below ``log10(1/alpha)`` no p-value of the null can reach
    alpha however many draws are made: the null cannot separate the policy from its draws.
    A position carried in (``initial`` not 0) pins the first episode and the empty gap before
    it: only the others are counted as movable."""
    actions = np.asarray(actions, dtype=np.int64)
    starts, ends, blocks = episode_blocks(position, block, initial)
    n = actions.size
    gaps = (np.r_[starts[0], starts[1:] - ends[:-1] - 1, n - 1 - ends[-1]] if starts.size else np.array([n]))
    pinned = 1 if float(initial) != 0.0 and starts.size else 0
    total = _log_multinomial(tuple(actions[s:t + 1]) for s, t in list(zip(starts, ends))[pinned:])
    total += _log_multinomial(int(g) for g in gaps[pinned:])
    for e in range(starts.size):
        total += _log_multinomial(tuple(actions[b0:b1]) for ep, b0, b1, mov in blocks if ep == e and mov)
    return total / math.log(10.0)


@njit(cache=True)
def _lay_out(content, starts, lengths, gaps, block_order, gap_order, hold, out):
    """Row d of ``out``: gap, episode, gap, ..., episode, gap with episodes in ``block_order[d]``
    (episode b's actions are ``content[d, starts[b]:starts[b] + lengths[b]]``) and gap
    lengths in ``gap_order[d]``; gap bars are ``hold``."""
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
                    out[d, t + j] = content[d, starts[b] + j]
                t += lengths[b]


@njit(cache=True)
def _fill_content(actions, b_first, b_len, order, out):
    """Row d of ``out``: the episode bars' actions with the blocks in ``order[d]`` (every
    block keeps its episode: the order only moves movable blocks among themselves)."""
    for d in range(out.shape[0]):
        t = 0
        for k in range(order.shape[1]):
            b = order[d, k]
            for j in range(b_len[b]):
                out[d, t + j] = actions[b_first[b] + j]
            t += b_len[b]


#: Timing-null paths laid out at a time: bounded memory on long segments (64 x n bars of int64).
NULL_CHUNK = 64


def _null_layout(actions: np.ndarray, position: np.ndarray, n_draws: int, seed: int, close_id: int | None,
                 block: int | None = None, identity: bool = False, initial: float = 0.0):
    """What every draw is made of: the executed actions (each episode's last order replaced by
    ``close_id``), the blocks of the episodes (`episode_blocks`), the gap lengths, and each
    draw's orders of blocks within episodes, of episodes and of gaps (drawn all at once, so a
    path does not depend on how draws are chunked). ``identity``: one draw, nothing moved
    (the policy's own replay under the draws' rules). ``initial``: a position carried in; its
    episode (the first, from bar 0) and the empty gap before it stay in place."""
    actions = np.array(actions, dtype=np.int64)
    n = actions.size
    if int(n_draws) < 1:
        raise ConfigError(f"timing null: n_draws must be >= 1, got {n_draws!r}")
    starts, ends, blocks = episode_blocks(position, block, initial)
    if close_id is not None:
        actions[ends] = close_id
    lengths = ends - starts + 1
    # episode b's actions start at offset cstart[b] of a draw's content row (episodes in their own order)
    cstart = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64) if starts.size else np.zeros(0, np.int64)
    if starts.size:
        gaps = np.r_[starts[0], starts[1:] - ends[:-1] - 1, n - 1 - ends[-1]].astype(np.int64)
    else:
        gaps = np.array([n], dtype=np.int64)
    m, n_draws = starts.size, int(n_draws)
    b_first = np.array([b[1] for b in blocks], dtype=np.int64)
    b_len = np.array([b[2] - b[1] for b in blocks], dtype=np.int64)
    if identity:
        return (actions, cstart, lengths, gaps, np.arange(m, dtype=np.int64)[None, :],
                np.arange(m + 1, dtype=np.int64)[None, :], b_first, b_len,
                np.arange(len(blocks), dtype=np.int64)[None, :])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x7141]))
    if float(initial) != 0.0 and m:  # the carried episode can only be where it was carried in: at bar 0
        block_order = np.c_[np.zeros((n_draws, 1), np.int64), 1 + np.argsort(rng.random((n_draws, m - 1)), axis=1)]
        gap_order = np.c_[np.zeros((n_draws, 1), np.int64), 1 + np.argsort(rng.random((n_draws, m)), axis=1)]
    else:
        block_order = np.argsort(rng.random((n_draws, m)), axis=1)
        gap_order = np.argsort(rng.random((n_draws, m + 1)), axis=1)
    block_order, gap_order = block_order.astype(np.int64), gap_order.astype(np.int64)
    # a sort key per block: 3 x episode, + 0 head, + 1..2 movable (random), + 2.5 exit
    ep = np.array([b[0] for b in blocks], dtype=np.float64)
    movable = np.array([b[3] for b in blocks], dtype=bool)
    fixed = np.where(b_first == np.array([starts[int(e)] for e in ep], dtype=np.int64), 0.0, 2.5) \
        if blocks else np.zeros(0)
    u = rng.random((n_draws, len(blocks)))
    keys = 3.0 * ep[None, :] + np.where(movable[None, :], 1.0 + u, fixed[None, :])
    inner_order = np.argsort(keys, axis=1, kind="stable").astype(np.int64)
    return actions, cstart, lengths, gaps, block_order, gap_order, b_first, b_len, inner_order


def _null_paths(layout, d0: int, d1: int) -> np.ndarray:
    """Action paths of draws ``[d0, d1)``."""
    actions, cstart, lengths, gaps, block_order, gap_order, b_first, b_len, inner_order = layout
    content = np.empty((d1 - d0, int(lengths.sum())), dtype=np.int64)
    _fill_content(actions, b_first, b_len, inner_order[d0:d1], content)
    out = np.empty((d1 - d0, actions.size), dtype=np.int64)
    _lay_out(content, cstart, lengths, gaps, block_order[d0:d1], gap_order[d0:d1], 0, out)
    return out


def timing_null_actions(actions: np.ndarray, position: np.ndarray, n_draws: int, seed: int,
                        close_id: int | None = None, block: int | None = None) -> np.ndarray:
    """``[n_draws, n]`` action paths: the episodes of ``(actions, position)`` (executed actions and
    the position after each) permuted among themselves, the flat gaps likewise, and each
    episode's resizing blocks permuted within it (module doc).

    ``close_id`` (the simulator's internal CLOSE) replaces each episode's last order, the one
    that made the policy flat: a partial SELL that emptied a small position through the
    minimum-order rule might leave a little at another price, and the episode must end where
    it ended."""
    layout = _null_layout(actions, position, n_draws, seed, close_id, block)
    return _null_paths(layout, 0, int(n_draws))


#: Two net returns closer than this (absolute) are a tie: the model's and a draw's returns are
#: products of hundreds of factors, and the same path compounded two ways differs in the last bits.
NULL_TIE_TOL = 1e-9


def timing_null(bars, config: SimConfig | None, result: SimResult, *, n_draws: int = 1000,
                seed: int = 0, block: int | None = None, account=None) -> dict:
    """Net return, trade count and bars in position of ``n_draws`` timing-null replays of a
    policy's simulation ``result`` (its executed actions and position path; module doc), laid
    out `NULL_CHUNK` draws at a time, plus ``model_net_return``: the policy's own path replayed
    under exactly the draws' rules (the value its p-value is computed at) and
    ``arrangements_log10`` (`arrangements_log10`).

    ``account``: the `Simulator.snapshot` ``result`` started from when a position was carried
    into the segment; every draw and the replay continue it, and the carried episode stays at
    the segment's start (it cannot move: the position is held when the segment begins)."""
    config = config if config is not None else SimConfig()
    close_id = config.account.action_space.n
    initial = 0.0 if account is None else float(account[0][0]["position"])
    layout = _null_layout(result.actions, result.position, n_draws, seed, close_id, block, initial=initial)
    # the replay keeps every rule of the model's run (the minimum order included): the draws and
    # the model's own replay below differ only in where the pieces are
    sim = Simulator(bars, config)
    n = int(n_draws)
    net, trades, held = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
    for d0 in range(0, n, NULL_CHUNK):
        for d, acts in enumerate(_null_paths(layout, d0, min(n, d0 + NULL_CHUNK)), start=d0):
            _begin(sim, result.start, account)
            r = sim.run(acts, close_at_end=True, internal_close=True)
            net[d], trades[d], held[d] = r.net_return, len(r.trades), np.count_nonzero(r.position)
    own = _null_paths(_null_layout(result.actions, result.position, 1, seed, close_id, block, identity=True,
                                   initial=initial), 0, 1)
    _begin(sim, result.start, account)
    model = sim.run(own[0], close_at_end=True, internal_close=True)
    return {"net_return": net, "trades": trades, "bars_in_position": held,
            "model_net_return": float(model.net_return),
            "arrangements_log10": float(arrangements_log10(result.actions, result.position, block, initial))}
