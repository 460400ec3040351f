"""Test folds as one continuous account (`walkforward evaluate`'s default, ``fold_start = "carry"``).

With ``carry`` the stitched test path is one account: fold k starts with the position, cash,
lots (cost basis) and PDT history the account had after fold k-1's last bar, and only the
last fold's position is closed at its last bar. Each fold's figures are still measured from
its own first bar: its ``SimResult.initial_equity`` is the equity carried in, so its net
return, drawdown and P&L are the fold's own, and compounding the folds' bar returns gives the
continuous account's equity exactly. A round trip held across a boundary is a trade of the
fold it ends in. With ``flat`` every fold starts flat with the initial equity and is closed at
its last bar (what `walkforward run` does with the trained policy of each fold).

The evidence of a carried fold is laid out to match (`walkforward.fold_evidence.baselines`):

- the timing null's draws and the model's replay continue the account carried in, whose
  episode stays at the fold's start (`backtest.baselines.timing_null`, ``account``);
- the random policy's draws continue it too, each closed at the fold's end;
- buy and hold (at the cap) is one account over the whole test path, entered on the first test
  bars and closed at the last; the exposure-matched buy and hold likewise, matched to the
  signed average exposure of the whole carried path; a fold's piece of each is its bars
  (scaled to the model's equity at the fold's start, which leaves its returns unchanged).

Test segments of consecutive folds are consecutive (`walkforward.folds`); bars between two
segments, were there any, would be held through (HOLD).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from backtest.errors import ConfigError

#: How test folds start: carried over from the previous fold's account, or flat.
FOLD_STARTS = ("carry", "flat")


def check_fold_start(value) -> str:
    """``value`` if it is one of `FOLD_STARTS`, else a `ConfigError` naming it and the fix."""
    if value not in FOLD_STARTS:
        raise ConfigError(f"fold_start={value!r} is unknown; use one of {list(FOLD_STARTS)} "
                          "(carry: the position carries from one test fold into the next; flat: each starts flat)")
    return value


def _advance(sim, t: int) -> None:
    """HOLD the account of ``sim`` up to bar ``t`` (bars between two test segments)."""
    if sim.t > t:
        raise ConfigError(f"test segments overlap: the account is at bar {sim.t}, the next segment starts at {t}")
    if sim.t < t:
        sim.run(np.zeros(t - sim.t, dtype=np.int64))


def carried_segment(bars, sim_config, actions: np.ndarray, tests, k: int):
    """``(result, account)``: test segment ``tests[k]`` simulated on the account carried through
    ``tests[:k]`` from a fresh account at ``tests[0].start`` (``actions``: one id per bar of
    ``bars``; only the test bars' are read), and the `Simulator.snapshot` it started from.
    Only the last segment's position is closed at its last bar."""
    from backtest.simulator import Simulator

    sim = Simulator(bars, sim_config)
    sim.reset(tests[0].start)
    for seg in tests[:k]:
        _advance(sim, seg.start)
        sim.run(actions[seg.start:seg.stop])
    _advance(sim, tests[k].start)
    account = sim.snapshot()
    seg = tests[k]
    result = sim.run(np.ascontiguousarray(actions[seg.start:seg.stop], dtype=np.int64),
                     close_at_end=k == len(tests) - 1)
    return result, account


def whole_path(bars, sim_config, actions: np.ndarray, tests):
    """The carried account over every test segment in one run (HOLD between segments, the
    position closed at the last bar): what `carried_segment` gives fold by fold."""
    from backtest.simulator import simulate

    lo, hi = tests[0].start, tests[-1].stop
    acts = np.zeros(hi - lo, dtype=np.int64)
    for seg in tests:
        acts[seg.start - lo:seg.stop - lo] = actions[seg.start:seg.stop]
    return simulate(bars, acts, sim_config, start=lo, close_at_end=True)


def piece(result, seg: range, model_start_equity: float) -> dict:
    """Segment ``seg`` of a run over the whole test path: ``equity`` (scaled to start at
    ``model_start_equity``, so its bar returns are the run's), ``net_return`` over the segment
    and ``exposure`` (signed average share of equity in the market, as
    `backtest.baselines.exposure_fraction`)."""
    from backtest.baselines import exposure_fraction

    a, b = seg.start - result.start, seg.stop - result.start
    before = float(result.equity[a - 1]) if a > 0 else result.initial_equity
    part = replace(result, start=seg.start, stop=seg.stop, equity=result.equity[a:b], cash=result.cash[a:b],
                   position=result.position[a:b], actions=result.actions[a:b], start_equity=before,
                   fills=result.fills[(result.fills["bar"] >= seg.start) & (result.fills["bar"] < seg.stop)],
                   trades=result.trades[(result.trades["exit_bar"] >= seg.start)
                                        & (result.trades["exit_bar"] < seg.stop)])
    return {"equity": part.equity * (float(model_start_equity) / before), "net_return": part.net_return,
            "exposure": exposure_fraction(part)}


@dataclass(frozen=True)
class CarriedBaselines:
    """What a carried fold's baselines start from or are cut out of (module doc)."""

    account: tuple  # `Simulator.snapshot` the fold started from
    buy_and_hold: dict  # `piece` of buy and hold at the cap over the whole test path
    matched: dict  # `piece` of the exposure-matched buy and hold, plus ``target_exposure``


def carried_baselines(bars, sim_config, actions: np.ndarray, tests, k: int, account, start_equity: float):
    """`CarriedBaselines` of fold ``k`` (``account``: its `carried_segment` snapshot)."""
    from backtest.baselines import buy_hold_matched, exposure_fraction, run_baseline

    lo, hi = tests[0].start, tests[-1].stop
    bh = run_baseline("buy_hold", bars, sim_config, start=lo, stop=hi)
    target = exposure_fraction(whole_path(bars, sim_config, actions, tests))
    matched = buy_hold_matched(bars, sim_config, target, start=lo, stop=hi)
    return CarriedBaselines(account, piece(bh, tests[k], start_equity),
                            {**piece(matched, tests[k], start_equity), "target_exposure": target})


__all__ = ["FOLD_STARTS", "CarriedBaselines", "carried_baselines", "carried_segment", "check_fold_start", "piece",
           "whole_path"]
