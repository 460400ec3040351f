"""A synthetic but realistic run directory, written in the documented results format.

Prices are a seeded random walk; the "policy" opens and closes long positions at random
bars; trades, equity, costs and baselines are mutually consistent (equity = cash +
position x close, trade net P&L = gross - costs). Used by the report tests and the report
benchmark. Includes a hostile symbol name to test escaping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from backtest.result_files import TRADES_CSV_COLUMNS, safe_name, write_json

HOSTILE = "<script>alert(1)</script>"
MEANINGS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]
BARS_PER_YEAR = 6552.0  # 26 fifteen-minute bars x 252 sessions


def _fold_records(rng: np.random.Generator, start: pd.Timestamp, n_bars: int, price0: float,
                  drift: float, skill: float = 0.0, init: float = 1000.0):
    """(trades, equity, buy-and-hold curve, last price) of one synthetic test fold."""
    close = price0 * np.exp(np.cumsum(rng.normal(drift, 0.004, n_bars)))
    ts = start + pd.to_timedelta(15 * np.arange(n_bars), unit="min")
    cash, pos, entry_i, entry_px, qty = init, 0.0, -1, 0.0, 0.0
    eq, cashs, poss, acts, rows = [], [], [], [], []
    for t in range(n_bars):
        action = 0
        if pos == 0 and rng.random() < 0.08 and t < n_bars - 1:
            action = int(rng.integers(1, 4))
            qty = init * 0.7 * 0.15 * (action / 4) / close[t]
            fee = qty * close[t] * 0.0004
            cash -= qty * close[t] + fee
            pos, entry_i, entry_px, entry_fee = qty, t, close[t], fee
        elif pos > 0 and (t == n_bars - 1 or (rng.random() < 0.15 and close[t] >= entry_px * (1 + skill))):
            action = 6
            slip, spread = qty * close[t] * 0.0002, qty * close[t] * 0.0002
            impact, comm = qty * close[t] * 0.0001, 0.0
            cash += qty * close[t] - slip - spread - impact
            gross = qty * (close[t] - entry_px)
            net = gross - slip - spread - impact - entry_fee
            rows.append((ts[entry_i], ts[t], "long", qty, entry_px, close[t], gross,
                         slip + entry_fee / 2, spread + entry_fee / 2, impact, comm, net,
                         net / (qty * entry_px)))
            pos = 0.0
        eq.append(cash + pos * close[t]); cashs.append(cash); poss.append(pos); acts.append(action)
    trades = pd.DataFrame(rows, columns=list(TRADES_CSV_COLUMNS))
    equity = pd.DataFrame({"timestamp": ts, "equity": eq, "cash": cashs, "position": poss,
                           "close": close, "action": acts})
    return trades, equity, init * close / price0, float(close[-1])


def _costs(net: float, trades: pd.DataFrame) -> dict:
    """A cost-sensitivity record consistent with the fold: net return falls linearly with costs."""
    cost = float(trades[["slippage", "spread", "impact", "commission"]].to_numpy().sum()) / 1000
    grid = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]
    curve = [net + cost * (1 - m) for m in grid]
    wins = float(trades["net_pnl"].clip(lower=0).sum())
    losses = float(-trades["net_pnl"].clip(upper=0).sum())
    roots = [m for m, a, b in zip(grid[1:], curve, curve[1:]) if a > 0 >= b]
    return {"multiples": grid[:4], "net_return": curve[:4], "net_pnl": [1000 * c for c in curve[:4]],
            "wins": [wins] * 4, "losses": [losses + 1000 * cost * m for m in grid[:4]], "trades": [len(trades)] * 4,
            "curve_multiples": grid, "curve_net_return": curve,
            "breakeven_multiple": 0.0 if curve[0] <= 0 else ((1 + net / cost) if roots else None),
            "breakeven_above": None if curve[0] <= 0 or roots else 8.0, "method": "synthetic"}


def _training_log(rng: np.random.Generator, n: int = 12) -> tuple[list, list]:
    log = [{"update": u, "global_step": 2048 * u, "policy_loss": float(-0.01 + rng.normal(0, 0.003)),
            "value_loss": float(1.0 / u + rng.normal(0, 0.01)), "entropy": float(1.9 - 0.05 * u),
            "explained_variance": float(min(0.9, 0.07 * u)), "approx_kl": float(abs(rng.normal(0.01, 0.003))),
            "clip_fraction": float(abs(rng.normal(0.1, 0.02))), "steps_per_s": float(5000 + rng.normal(0, 100))}
           for u in range(1, n + 1)]
    val = [{"update": u, "global_step": 2048 * u, "pf": float(abs(rng.normal(1.1, 0.2))),
            "net_return": float(rng.normal(0.002, 0.01)), "trades": int(rng.integers(5, 40)),
            "hold_share": float(rng.uniform(0.6, 0.95)), "score": float(rng.normal(0, 1))}
           for u in range(3, n + 1, 3)]
    return log, val


def make_run(run_dir: Path, symbols=("AAPL", "BTC/USD", HOSTILE), n_folds: int = 3,
             bars: int = 260, seed: int = 0, random_seeds: int = 64) -> Path:
    """Write manifest.json and every fold's trades.csv, equity.csv and result.json.

    The first symbol's policy only takes profits (a synthetic "edge", so reports show a
    good verdict too); the others trade at random.
    """
    run_dir = Path(run_dir)
    rng = np.random.default_rng(seed)
    entries = []
    for k_sym, symbol in enumerate(symbols):
        d = safe_name(symbol)
        start, price = pd.Timestamp("2024-01-02 14:30", tz="UTC"), 100.0 + 20 * k_sym
        drift = 0.0001 * (1 - k_sym % 3)
        for k in range(n_folds):
            trades, equity, bh, price = _fold_records(rng, start, bars, price, drift,
                                                      skill=0.004 if k_sym == 0 else -1.0)
            fold_dir = run_dir / d / f"fold_{k}"
            fold_dir.mkdir(parents=True, exist_ok=True)
            trades.to_csv(fold_dir / "trades.csv", index=False)
            equity.to_csv(fold_dir / "equity.csv", index=False)
            log, val = _training_log(rng)
            write_json(fold_dir / "result.json", {
                "format_version": 1, "symbol": symbol, "fold": k,
                "test_start": equity["timestamp"].iloc[0].isoformat(),
                "test_end": equity["timestamp"].iloc[-1].isoformat(),
                "initial_equity": 1000.0, "pdt_rejections": int(rng.integers(0, 3)),
                "training_log": log, "validation_history": val,
                "cost_sensitivity": _costs(float(equity["equity"].iloc[-1] / 1000 - 1), trades),
                "baselines": {
                    "buy_and_hold": {"net_return": float(bh[-1] / 1000 - 1), "equity": bh.tolist(),
                                     "position_cap": 0.2},
                    "buy_and_hold_matched": {"net_return": float(0.1 * (bh[-1] / 1000 - 1)),
                                             "equity": (1000 + 0.1 * (bh - 1000)).tolist(), "target_exposure": 0.1},
                    "flat": {"net_return": 0.0},
                    "random": {"net_returns": rng.normal(0.0, 0.002, random_seeds).tolist(),
                               "pf": np.abs(rng.normal(1.0, 0.2, random_seeds)).tolist()},
                    "timing_null": {"net_returns": rng.normal(0.0, 0.003, 4 * random_seeds).tolist()},
                },
            })
            start = equity["timestamp"].iloc[-1] + pd.Timedelta(days=3)
        entries.append({"symbol": symbol, "dir": d, "asset_class": "crypto" if "/" in symbol else "equity",
                        "timeframe": "15min", "bars_per_year": BARS_PER_YEAR,
                        "data": {"source": f"sample/{symbol}.csv", "sha256": "0" * 64, "bars": bars * n_folds}})
    write_json(run_dir / "manifest.json", {
        "format_version": 1, "created": "2026-11-22T06:00:00+00:00",
        "command": "walkforward run --mode smoke", "seed": seed,
        "config": {"mode": "smoke", "folds": n_folds, "scheme": "rolling", "note": HOSTILE},
        "versions": {"python": "3.11", "torch": "2.13"}, "initial_equity": 1000.0,
        "action_meanings": MEANINGS, "configurations_tried": 1, "symbols": entries,
    })
    return run_dir
