"""The observable account state: what the policy sees of its own account.

A decision for bar t is taken after the close of bar t-1, so the state holds the
account after every fill up to bar t-1, marked at ``close[t-1]`` (``mark_price``).
The simulator, the training environment and the observation builder all exchange
this record; the account features are a pure function of it
(`backtest.account_features`).
"""

from __future__ import annotations

import numpy as np

ACCOUNT_STATE_DTYPE = np.dtype(
    [
        ("cash", np.float64),  # cash after all fills so far
        ("position", np.float64),  # signed quantity held (negative = short)
        ("entry_price", np.float64),  # average entry price of the open position, 0 when flat
        ("mark_price", np.float64),  # close of the last completed bar
        ("bars_in_position", np.int64),  # completed bars since the position was opened, 0 flat
        ("day_trades_left", np.int64),  # PDT day trades left in the window; 3 when the rule does not bind
    ]
)

#: Day trades allowed in a rolling 5-session window before the 4th is refused.
PDT_MAX_DAY_TRADES = 3


def account_state(
    cash: float,
    position: float = 0.0,
    entry_price: float = 0.0,
    mark_price: float = 0.0,
    bars_in_position: int = 0,
    day_trades_left: int = PDT_MAX_DAY_TRADES,
) -> np.ndarray:
    """One account state record (a 0-d structured array)."""
    rec = np.zeros((), dtype=ACCOUNT_STATE_DTYPE)
    rec["cash"] = cash
    rec["position"] = position
    rec["entry_price"] = entry_price
    rec["mark_price"] = mark_price
    rec["bars_in_position"] = bars_in_position
    rec["day_trades_left"] = day_trades_left
    return rec


def equity(state: np.ndarray) -> np.ndarray:
    """Cash plus the position marked at ``mark_price`` (works on one record or an array)."""
    return state["cash"] + state["position"] * state["mark_price"]
