"""Pattern-day-trader rule (DESIGN 3.5): FINRA 4210(f)(8)(B) until its repeal (2026-06-04).

In a margin account whose equity at the previous session's close is below 25,000,
a fill that would make the 4th day trade within 5 business days is rejected.
Business days are exchange sessions: the window for a fill in session ``s`` is
sessions ``s-4 .. s`` by ``Bars.session_index`` (holidays and weekends skipped).

A day trade is counted when a fill reduces a position that was opened or added to
earlier in the same session and not yet matched by a reduction that day (FINRA's
sequence counting: buy, buy, sell = 1; buy, sell, buy, sell = 2). The state needed
is the session of the last unmatched increase (``pending``) and the sessions of the
last 3 day trades (``dt0 <= dt1 <= dt2``), all int64, so the torch environment
mirrors it exactly. The functions below are plain integer arithmetic, usable from
Python, numpy/torch (elementwise) and numba.

Modes: ``auto`` applies the rule to equity bars whose session is before 2026-06-04,
``on`` to every equity bar, ``off`` to none; crypto and FX are always exempt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba.extending import register_jitable

from backtest.errors import ConfigError
from backtest.state import PDT_MAX_DAY_TRADES

PDT_MODES = ("auto", "on", "off")
#: Equity threshold (previous close) below which the rule binds.
PDT_EQUITY_THRESHOLD = 25_000.0
#: Window length in sessions (the current one included).
PDT_WINDOW_SESSIONS = 5
#: The first session the repealed rule no longer applies to (mode ``auto``).
PDT_REPEAL_DATE = pd.Timestamp("2026-06-04")
#: Sentinel session index meaning "none" (no pending increase / no day trade).
NO_SESSION = -(1 << 62)


def check_mode(mode: str) -> str:
    if mode not in PDT_MODES:
        raise ConfigError(f"pdt mode must be one of {PDT_MODES}, got {mode!r}")
    return mode


def pdt_applies(bars, mode: str = "auto") -> np.ndarray:
    """Per-bar bool: does the rule apply to a fill at this bar (mode, asset class, date)."""
    check_mode(mode)
    n = len(bars)
    if mode == "off" or bars.asset_class != "equity":
        return np.zeros(n, dtype=np.bool_)
    if mode == "on":
        return np.ones(n, dtype=np.bool_)
    session = pd.DatetimeIndex(bars.frame["session"]).tz_localize(None) if n else pd.DatetimeIndex([])
    return np.asarray(session < PDT_REPEAL_DATE, dtype=np.bool_)


@register_jitable
def day_trades_in_window(session, dt0, dt1, dt2):
    """How many of the last 3 day trades fall in the 5-session window ending at ``session``."""
    lo = session - (PDT_WINDOW_SESSIONS - 1)
    return (dt0 >= lo) * 1 + (dt1 >= lo) * 1 + (dt2 >= lo) * 1


@register_jitable
def is_day_trade(increase, session, pending):
    """A reducing fill in the session of the last unmatched increase is a day trade."""
    return (not increase) and pending == session


@register_jitable
def pdt_blocks(binding, session, dt0, dt1, dt2):
    """Would one more day trade now break the rule (given it binds)?"""
    return binding and day_trades_in_window(session, dt0, dt1, dt2) >= PDT_MAX_DAY_TRADES


@register_jitable
def day_trades_left(binding, session, dt0, dt1, dt2):
    """Day trades left in the window; ``PDT_MAX_DAY_TRADES`` when the rule does not bind."""
    if not binding:
        return PDT_MAX_DAY_TRADES
    left = PDT_MAX_DAY_TRADES - day_trades_in_window(session, dt0, dt1, dt2)
    return left if left > 0 else 0
