"""Resampling bars to a coarser timeframe without crossing sessions.

Bins are clock-aligned in the session's local time (exchange time zone for
equities, New York for FX, UTC for crypto) and never span two sessions: 15-minute
XNYS bars resampled to ``1h`` give a 09:30 bar (09:30 and 09:45), then 10:00, 11:00
... 15:00; on an early close the last bin is 12:00. A bin is labelled by its clock
start, or by the session open when the session opens inside the bin. Rules of a
day or more give one bar per session. OHLCV aggregation: first open, max high,
min low, last close, summed volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.bars import Bars
from backtest.errors import ConfigError
from backtest.sessions import calendar_sessions, tag_sessions

_NS_MIN = 60 * 1_000_000_000
_NS_DAY = 86_400 * 1_000_000_000


def _local_tz(bars: Bars) -> str:
    if bars.asset_class == "equity":
        return calendar_sessions(bars.calendar or "XNYS", bars.index[0], bars.index[-1])[4]
    return "America/New_York" if bars.asset_class == "fx" else "UTC"


def _parse_rule(rule, timeframe: pd.Timedelta) -> pd.Timedelta:
    try:
        step = pd.Timedelta(rule)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"resample rule {rule!r} is not a duration; use e.g. '30min', '1h', '1D'") from exc
    if step < timeframe or step.value % timeframe.value != 0:
        raise ConfigError(
            f"resample rule {rule!r} must be a whole multiple of the bars' timeframe {timeframe}; "
            f"pick a coarser rule such as {timeframe * 2}"
        )
    if step > pd.Timedelta(days=1):
        raise ConfigError(f"resample rule {rule!r} is longer than a day; rules up to '1D' are supported")
    return step


def _labels(bars: Bars, step: pd.Timedelta, tz: str) -> np.ndarray:
    """UTC ns bin label of every bar (clock-aligned in ``tz``, clipped to the session open)."""
    ts = bars.index.tz_convert("UTC").as_unit("ns")
    if step >= pd.Timedelta(days=1):
        session = bars.frame["session"].to_numpy().astype("datetime64[ns]")
        if bars.asset_class == "equity":
            return pd.DatetimeIndex(session).tz_localize(tz).tz_convert("UTC").asi8
        return session.view(np.int64)
    local = ts.tz_convert(tz).tz_localize(None).asi8
    offset = local - ts.asi8
    bin_utc = (local // step.value) * step.value - offset
    from_open = bars.frame["minutes_from_open"].to_numpy()
    session_open = ts.asi8 - np.round(from_open * _NS_MIN).astype(np.int64)
    # extended-hours bars (negative minutes_from_open) keep their clock bins
    return np.where(from_open >= 0, np.maximum(bin_utc, session_open), bin_utc)


def resample(bars: Bars, rule: str | pd.Timedelta) -> Bars:
    """``bars`` aggregated to ``rule`` (see the module docstring); returns new `Bars`."""
    step = _parse_rule(rule, bars.timeframe)
    if step == bars.timeframe or len(bars) == 0:
        return bars
    labels = _labels(bars, step, _local_tz(bars))
    sidx = bars.session_index
    start = np.flatnonzero(np.r_[True, (np.diff(labels) != 0) | (np.diff(sidx) != 0)])
    end = np.r_[start[1:], len(bars)] - 1
    frame = pd.DataFrame(
        {
            "open": bars.open[start],
            "high": np.maximum.reduceat(bars.high, start),
            "low": np.minimum.reduceat(bars.low, start),
            "close": bars.close[end],
            "volume": np.add.reduceat(bars.volume, start),
        },
        index=pd.DatetimeIndex(labels[start].astype("datetime64[ns]"), name="timestamp").tz_localize("UTC"),
    )
    tagged = tag_sessions(frame, bars.asset_class, calendar=bars.calendar or "XNYS", keep_extended=True, timeframe=step)
    return Bars(tagged, symbol=bars.symbol, asset_class=bars.asset_class, timeframe=step,
                calendar=bars.calendar, source=bars.source)
