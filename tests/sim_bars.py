"""Hand-built bars for the simulator tests (`make_bars`, `session_bars`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.bars import Bars
from backtest.sessions import tag_sessions


def make_bars(times, open_, close=None, volume=None, asset_class="equity", timeframe="30min") -> Bars:
    """Bars at UTC ``times`` with the given opens/closes (high/low enclose them)."""
    index = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True), name="timestamp")
    o = np.asarray(open_, dtype=np.float64)
    c = o.copy() if close is None else np.asarray(close, dtype=np.float64)
    v = np.full(len(o), 1e6) if volume is None else np.asarray(volume, dtype=np.float64)
    frame = pd.DataFrame({"open": o, "high": np.maximum(o, c) * 1.001, "low": np.minimum(o, c) * 0.999,
                          "close": c, "volume": v}, index=index)
    tf = pd.Timedelta(timeframe)
    tagged = tag_sessions(frame, asset_class, timeframe=tf)
    if len(tagged) != len(frame):
        raise ValueError("make_bars: some times fall outside sessions")
    return Bars(tagged, symbol="TEST", asset_class=asset_class, timeframe=tf,
                calendar="XNYS" if asset_class == "equity" else None, source="test")


def session_bars(dates, price=100.0, per_session=2, asset_class="equity") -> Bars:
    """``per_session`` 30-minute bars from 15:00 UTC on each date (inside NYSE hours), flat price."""
    times = [pd.Timestamp(d) + pd.Timedelta(hours=15, minutes=30 * k) for d in dates for k in range(per_session)]
    return make_bars(times, np.full(len(times), price), asset_class=asset_class)
