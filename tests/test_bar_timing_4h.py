"""Known answers for bar-timing detection on 4-hour bars (issue 26): the three calendars built
by hand, and what `bar_timing` must say of each."""

import numpy as np
import pandas as pd

from backtest.data import bar_timing, infer_timeframe

FOUR_H = pd.Timedelta(hours=4)


def _ns(stamps: pd.DatetimeIndex) -> np.ndarray:
    stamps = stamps.tz_convert("UTC") if stamps.tz is not None else stamps
    return stamps.as_unit("ns").asi8


def _fx_week_bars() -> pd.DatetimeIndex:
    """24/5: every 4 hours from Sunday 22:00 UTC to Friday 21:59 UTC, three weeks (March 2023)."""
    grid = pd.date_range("2023-03-05 22:00", "2023-03-24 18:00", freq="4h", tz="UTC")
    ny = grid.tz_convert("America/New_York")
    open_week = ~((ny.day_of_week == 5) | ((ny.day_of_week == 4) & (ny.hour >= 17)) | ((ny.day_of_week == 6) & (ny.hour < 17)))
    return grid[open_week]


def _equity_bars() -> pd.DatetimeIndex:
    """Exchange hours: two 4-hour bars a session (09:30 and 13:30 New York), weekdays, three weeks."""
    days = pd.bdate_range("2023-03-06", "2023-03-24")
    stamps = [pd.Timestamp(f"{d.date()} {t}", tz="America/New_York") for d in days for t in ("09:30", "13:30")]
    return pd.DatetimeIndex(stamps).tz_convert("UTC")


def test_four_hour_fx_bars_are_24_5():
    idx = _fx_week_bars()
    assert infer_timeframe(_ns(idx)) == FOUR_H
    # by hand: 01:00 New York (06:00 UTC, EST) is one of six 4-hour slots, and no bar on a Saturday
    timing = bar_timing(_ns(idx), aware=True, timeframe=FOUR_H)
    assert timing is not None and timing.classes == ("fx",), timing


def test_four_hour_crypto_bars_are_24_7():
    idx = pd.date_range("2023-03-05 00:00", "2023-03-26 20:00", freq="4h", tz="UTC")
    timing = bar_timing(_ns(idx), aware=True, timeframe=FOUR_H)
    # 3 weeks x 6 bars of each Saturday (New York) out of 3 weeks x 42: about 1/7
    assert timing is not None and timing.classes == ("crypto",), timing


def test_four_hour_equity_bars_keep_exchange_hours():
    idx = _equity_bars()
    assert infer_timeframe(_ns(idx)) == FOUR_H
    timing = bar_timing(_ns(idx), aware=True, timeframe=FOUR_H)
    assert timing is not None and timing.classes == ("equity", "fx"), timing
    # naive wall time is read as New York time: the same answer
    naive = idx.tz_convert("America/New_York").tz_localize(None)
    again = bar_timing(_ns(naive), aware=False, timeframe=FOUR_H)
    assert again is not None and again.classes == ("equity", "fx")
