"""What one test segment yields, whoever decided its actions (a trained model in `run`, an
actions file in `evaluate`): the baselines on the same bars and costs, the fold's CSV files
and the common part of its ``result.json``.

Both commands call these with the segment's `SimResult` and the decisions behind it, so a
rule-based strategy and an RL model are judged by exactly the same evidence (DESIGN 3.7,
3.10): buy and hold at the position cap, buy and hold matched to the decisions' average
exposure, flat, the random policy with the decisions' action frequencies and the timing
null (`backtest.baselines`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Offsets that keep the seeds of each baseline distinct within a fold.
_RANDOM_SEED_OFFSET, _NULL_SEED_OFFSET = 0, 7_919


def baseline_seed(run_seed: int, fold_id: int) -> int:
    """Distinct, reproducible seed base of one fold's random baselines."""
    return int(run_seed) * 1_000_003 + int(fold_id) * 10_007


def baselines(bars, sim_config, test: range, sim, actions: np.ndarray, *, seed: int, fold_id: int,
              n_random_seeds: int, null_draws: int, carried=None) -> dict:
    """Every baseline of one test segment, as result.json stores it.

    ``sim``: the segment's `SimResult` (its executed actions and positions feed the timing
    null and the exposure match); ``actions``: the decisions (ids) behind it. ``carried``: a
    `walkforward.fold_carry.CarriedBaselines` when the fold continues the previous fold's
    account (the random and null draws continue it; buy and hold is cut from one account over
    the whole test path); None: every baseline starts flat at the fold's first bar.
    """
    from backtest.baselines import (buy_hold_matched, exposure_fraction, random_distribution, run_baseline,
                                    timing_null)

    n_actions = sim_config.account.action_space.n
    if carried is None:
        bh = run_baseline("buy_hold", bars, sim_config, start=test.start, stop=test.stop)
        fraction = exposure_fraction(sim)
        matched = buy_hold_matched(bars, sim_config, fraction, start=test.start, stop=test.stop)
        bh = {"net_return": bh.net_return, "equity": bh.equity}
        matched = {"net_return": matched.net_return, "equity": matched.equity, "target_exposure": fraction,
                   "exposure": exposure_fraction(matched)}
        account = None
    else:
        bh, matched, account = carried.buy_and_hold, carried.matched, carried.account
    freq = np.bincount(actions, minlength=n_actions)[:n_actions].astype(np.float64)
    base = baseline_seed(seed, fold_id)
    dist = random_distribution(bars, sim_config, frequencies=freq, start=test.start, stop=test.stop,
                               seeds=range(base + _RANDOM_SEED_OFFSET, base + _RANDOM_SEED_OFFSET + n_random_seeds),
                               account=account)
    null = timing_null(bars, sim_config, sim, n_draws=null_draws, seed=base + _NULL_SEED_OFFSET, account=account)
    pf = [None if v is None else float(v) for v in dist["profit_factor"]]
    return {
        "buy_and_hold": {"net_return": float(bh["net_return"]), "equity": np.asarray(bh["equity"]).tolist(),
                         "position_cap": float(sim_config.account.max_position)},
        "buy_and_hold_matched": {"net_return": float(matched["net_return"]),
                                 "equity": np.asarray(matched["equity"]).tolist(),
                                 "target_exposure": float(matched["target_exposure"]),
                                 "exposure": float(matched["exposure"])},
        "flat": {"net_return": 0.0},
        "random": {"net_returns": dist["net_return"].tolist(), "pf": pf,
                   "trades": dist["trades"].tolist(), "frequencies": (freq / freq.sum()).tolist()},
        "timing_null": {"net_returns": null["net_return"].tolist(), "trades": null["trades"].tolist(),
                        "bars_in_position": null["bars_in_position"].tolist(),
                        "model_net_return": null["model_net_return"],
                        "arrangements_log10": null["arrangements_log10"],
                        "model_trades": int(len(sim.trades)),
                        "model_bars_in_position": int(np.count_nonzero(sim.position))},
    }


#: Cost multiples every report shows (DESIGN 3.4), and the grid each fold's net P&L curve is
#: sampled on for the stitched breakeven (the fold's own breakeven is added as a knot).
COST_MULTIPLES = (0.0, 0.5, 1.0, 2.0)
COST_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
#: Bisection stops when the bracket of the breakeven multiple is this narrow.
BREAKEVEN_TOL = 1e-4
BREAKEVEN_METHOD = ("bisection on the cost multiple between the last grid multiple with positive net P&L and the "
                    "first without, each point a re-run of the decisions with every cost scaled")


def _pnl_point(sim) -> dict:
    """Net return and P&L of a re-run, and its round trips (`SimResult.round_trip_pnl`: what every
    PF is over) with whether the first continues a position carried in and the last goes on
    into the next fold (the stitched PF joins those two pieces into one round trip)."""
    pnl = sim.round_trip_pnl()
    n = len(sim.trades)
    return {"net_return": sim.net_return, "net_pnl": float(sim.equity[-1] - sim.initial_equity) if len(sim.equity)
            else 0.0, "wins": float(pnl[pnl > 0].sum()), "losses": float(-pnl[pnl < 0].sum()),
            "trades": int(len(pnl)), "round_trips": pnl.tolist(),
            "open_in": bool(n and sim.start_position != 0.0),
            "open_out": bool(n and not sim.round_trip_ends()[-1])}


def cost_sensitivity(rerun) -> dict:
    """How the result moves with costs: ``rerun(multiple) -> SimResult`` re-runs the segment's
    decision maker with every cost scaled (a policy re-decides on its own account at each
    multiple; fixed decisions are re-simulated).

    Returns net return, net P&L, winning and losing P&L and the round trips' P&L (with
    ``open_in``/``open_out``, see `_pnl_point`) at `COST_MULTIPLES`, net return on `COST_GRID`
    (cut where a scaled cost leaves its model's bounds), and ``breakeven_multiple``: the
    smallest multiple at which net P&L reaches zero (0 when it is not positive even without
    costs; None with ``breakeven_above`` when still positive at the grid's end), found by
    `BREAKEVEN_METHOD` to `BREAKEVEN_TOL`.
    """
    from backtest.errors import ConfigError

    points: dict[float, dict] = {}

    def at(m: float) -> dict:
        if m not in points:
            points[m] = _pnl_point(rerun(m))
        return points[m]

    grid = []
    for m in COST_GRID:
        try:
            at(m)
        except ConfigError:
            break  # a scaled cost beyond its model's bound: the grid ends here
        grid.append(m)
    breakeven, above = None, None
    losing = [m for m in grid if at(m)["net_pnl"] <= 0]
    if at(0.0)["net_pnl"] <= 0:
        breakeven = 0.0
    elif not losing:
        above = grid[-1]
    else:
        hi = losing[0]  # the first grid multiple without positive net P&L; the one before has it
        lo = max(m for m in grid if m < hi)
        while hi - lo > BREAKEVEN_TOL:
            mid = 0.5 * (lo + hi)
            if at(mid)["net_pnl"] > 0:
                lo = mid
            else:
                hi = mid
        breakeven = hi
    fixed = [at(m) for m in COST_MULTIPLES if m in grid]
    knots = sorted(points)
    return {
        "multiples": [m for m in COST_MULTIPLES if m in grid],
        "net_return": [p["net_return"] for p in fixed], "net_pnl": [p["net_pnl"] for p in fixed],
        "wins": [p["wins"] for p in fixed], "losses": [p["losses"] for p in fixed],
        "trades": [p["trades"] for p in fixed], "round_trips": [p["round_trips"] for p in fixed],
        "open_in": [p["open_in"] for p in fixed], "open_out": [p["open_out"] for p in fixed],
        "curve_multiples": knots, "curve_net_return": [points[m]["net_return"] for m in knots],
        "breakeven_multiple": breakeven, "breakeven_above": above, "method": BREAKEVEN_METHOD,
    }


def scaled_config(sim_config, asset_class: str, multiple: float):
    """``sim_config`` with every cost times ``multiple``."""
    import dataclasses

    return dataclasses.replace(sim_config, friction=sim_config.friction_for(asset_class).scaled(multiple))


def write_fold_files(store, symbol: str, fold_id: int, bars, sim, actions: np.ndarray) -> None:
    """``trades.csv`` and ``equity.csv`` of one fold (`backtest.result_files`: the decisions as ids)."""
    from backtest.result_files import equity_frame

    rel = Path(store.fold_dir(symbol, int(fold_id))).relative_to(store.root)
    store.write_csv(rel / "trades.csv", sim.trades_frame())
    store.write_csv(rel / "equity.csv", equity_frame(bars, sim, actions))


def segment_record(fold: dict, bars, sim, baselines_: dict, meanings, bars_per_year: float, data_hash: str,
                   costs: dict | None = None, fold_start: str = "flat") -> dict:
    """The part of ``result.json`` every fold has: segment times, account, baselines, test
    figures, the `cost_sensitivity` of the decisions (``costs``) and how the fold's account
    started (``fold_start``: flat, or carried from the previous fold, `walkforward.fold_carry`, with
    ``start_position`` units held before its first bar)."""
    idx = bars.index
    train, val, test = (range(*fold[k]) for k in ("train", "val", "test"))
    return {
        "test_start": idx[test.start].isoformat(), "test_end": idx[test.stop - 1].isoformat(),
        "test_stop": idx[test.stop].isoformat() if test.stop < len(idx) else None,
        "train_start": idx[train.start].isoformat(), "train_end": idx[train.stop - 1].isoformat(),
        "val_start": idx[val.start].isoformat(), "val_end": idx[val.stop - 1].isoformat(),
        "segments": {k: list(fold[k]) for k in ("train", "val", "test", "warmup")},
        "initial_equity": float(sim.initial_equity), "fold_start": fold_start,
        "start_position": float(sim.start_position),
        "bars_per_year": float(bars_per_year),
        "pdt_rejections": int(sim.pdt_rejections), "action_meanings": list(meanings),
        "baselines": baselines_,
        "cost_sensitivity": costs,
        "test": {"net_return": sim.net_return, "trades": int(len(sim.round_trip_pnl())),
                 "exit_fills": int(len(sim.trades)), "pf": sim.profit_factor(),
                 "costs": sim.costs(), "max_drawdown": sim.max_drawdown()},
        "data_hash": data_hash,
    }


__all__ = ["COST_GRID", "COST_MULTIPLES", "baseline_seed", "baselines", "cost_sensitivity", "scaled_config",
           "segment_record", "write_fold_files"]
