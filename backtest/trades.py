"""Fill and trade records, their DataFrames, and the profit factor of a trade set.

The records are numpy structured dtypes (events as typed records, DESIGN 4) that the
simulator kernel (`backtest.kernel`) writes directly; at the edge they become the
DataFrame behind ``trades.csv`` (the file format itself, its columns and writing, is
`backtest.result_files`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.account import KIND_NAMES, REASON_NAMES
from backtest.costs import IMPACT_NAMES
from backtest.result_files import EQUITY_CSV_COLUMNS, TRADES_CSV_COLUMNS

#: Fill status codes.
STATUS_HOLD, STATUS_FILLED, STATUS_REJECTED = 0, 1, 2
STATUS_NAMES = ("hold", "filled", "rejected")

FILL_DTYPE = np.dtype(
    [
        ("bar", np.int64),  # bar index of the fill (decision and fill at this bar's open)
        ("time", "datetime64[ns]"),  # bar start time, UTC
        ("action", np.int64),  # action id
        ("side", np.int64),  # +1 buy, -1 sell, 0 none
        ("status", np.int64),  # STATUS_*: hold, filled (possibly clipped, see reason), rejected
        ("reason", np.int64),  # backtest.account.REASON_*: why rejected or clipped, 0 none
        ("requested_qty", np.float64),  # quantity before caps
        ("qty", np.float64),  # filled quantity (>= 0)
        ("ref_price", np.float64),  # the bar's open
        ("exec_price", np.float64),  # open * (1 + side * (slip + half spread + impact))
        ("slippage", np.float64),  # cash cost of each component
        ("spread", np.float64),
        ("impact", np.float64),
        ("commission", np.float64),
        ("impact_model", np.int64),  # backtest.costs.IMPACT_*: none, sqrt, portfolio, no_history (auto mode
        # where the square-root law lacked history: no impact paid)
        ("day_trade", np.bool_),  # counted as a PDT day trade
        ("cash_after", np.float64),
        ("position_after", np.float64),
    ]
)

TRADE_DTYPE = np.dtype(
    [
        ("entry_bar", np.int64),  # bar of the first FIFO lot consumed
        ("exit_bar", np.int64),
        ("entry_time", "datetime64[ns]"),
        ("exit_time", "datetime64[ns]"),
        ("side", np.int64),  # +1 long, -1 short
        ("quantity", np.float64),
        ("entry_price", np.float64),  # quantity-weighted execution price of the lots consumed
        ("exit_price", np.float64),  # execution price of the exit fill
        ("entry_ref", np.float64),  # same at reference prices (opens, before friction)
        ("exit_ref", np.float64),
        ("gross_pnl", np.float64),  # side * quantity * (exit_ref - entry_ref): before all costs
        ("slippage", np.float64),  # entry share + exit, cash
        ("spread", np.float64),
        ("impact", np.float64),
        ("commission", np.float64),
        ("net_pnl", np.float64),  # gross - slippage - spread - impact - commission
        ("return", np.float64),  # net_pnl / entry notional at execution prices
    ]
)

COST_COMPONENTS = ("slippage", "spread", "impact", "commission")


def trades_frame(trades: np.ndarray) -> pd.DataFrame:
    """The trades.csv table: one row per exit fill, times in UTC, side as long/short."""
    out = {c: trades[c] for c in TRADES_CSV_COLUMNS}
    out["entry_time"] = pd.DatetimeIndex(trades["entry_time"]).tz_localize("UTC")
    out["exit_time"] = pd.DatetimeIndex(trades["exit_time"]).tz_localize("UTC")
    out["side"] = np.where(trades["side"] > 0, "long", "short")
    return pd.DataFrame(out, columns=list(TRADES_CSV_COLUMNS))


def fills_frame(fills: np.ndarray) -> pd.DataFrame:
    """Fills with readable codes (status, reason, impact model)."""
    df = pd.DataFrame(fills)
    df["time"] = pd.DatetimeIndex(fills["time"]).tz_localize("UTC")
    df["status"] = np.asarray(STATUS_NAMES, dtype=object)[fills["status"]]
    df["reason"] = np.asarray(REASON_NAMES, dtype=object)[fills["reason"]]
    df["impact_model"] = np.asarray(IMPACT_NAMES, dtype=object)[fills["impact_model"]]
    return df


def round_trip_ids(ends_episode) -> np.ndarray:
    """Round-trip number of each trade record (in exit order): a round trip runs from the fill
    that opens a position from flat to the fill that makes it flat again, and every partial
    exit in between belongs to it. ``ends_episode[i]``: the position is flat after trade i's
    exit. The records after the last flat exit (a position still open) form one round trip."""
    ends = np.asarray(ends_episode, dtype=bool)
    return np.r_[0, np.cumsum(ends[:-1])].astype(np.int64) if ends.size else np.zeros(0, np.int64)


def round_trip_pnl(pnl, ends_episode) -> np.ndarray:
    """Net P&L per round trip (`round_trip_ids`): what every profit factor the user reads is over."""
    ids = round_trip_ids(ends_episode)
    pnl = np.asarray(pnl, dtype=np.float64)
    return np.bincount(ids, weights=pnl, minlength=int(ids.max()) + 1) if ids.size else np.zeros(0)


def profit_factor(pnl) -> float | None:
    """THE profit factor (DESIGN 3.8), used by checkpoint selection, the fold records, the
    baselines and the reports: sum of winning P&L over |sum of losing P&L|, inf with no
    losers, None with no trades (or no P&L at all). Pass net P&L per round trip
    (`round_trip_pnl`): partial exits of one position are one trade."""
    pnl = np.asarray(pnl, dtype=np.float64)
    wins = pnl[pnl > 0].sum()
    losses = -pnl[pnl < 0].sum()
    if losses > 0:
        return float(wins / losses)
    return float("inf") if wins > 0 else None


__all__ = ["FILL_DTYPE", "TRADE_DTYPE", "TRADES_CSV_COLUMNS", "EQUITY_CSV_COLUMNS", "COST_COMPONENTS",
           "STATUS_HOLD", "STATUS_FILLED", "STATUS_REJECTED", "KIND_NAMES", "trades_frame", "fills_frame",
           "profit_factor", "round_trip_ids", "round_trip_pnl"]
