"""`Bars`: one symbol's validated OHLCV series with its session tags.

Everything downstream (features, simulator, environment) reads bars through this
type, so the session columns are computed once, by the data layer, from the real
exchange calendar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ASSET_CLASSES = ("equity", "crypto", "fx")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
SESSION_COLUMNS = ("session", "session_index", "minutes_from_open", "minutes_to_close")


def timeframe_label(timeframe: pd.Timedelta | None) -> str:
    """``15min``, ``1h``, ``1D`` (whole minutes, hours or days), ``1W`` (weeks), ``1mo``
    (`backtest.timeframes.MONTH` multiples), else pandas' text.

    >>> timeframe_label(pd.Timedelta("15min")), timeframe_label(pd.Timedelta("4h")), timeframe_label(None)
    ('15min', '4h', 'irregular')
    """
    if timeframe is None:
        return "irregular"
    from backtest.timeframes import label

    coarse = label(timeframe)  # 1W, 1mo (the mean month, 30.44 days, is no whole number of days)
    if coarse is not None:
        return coarse
    seconds = timeframe.total_seconds()
    for unit, size in (("D", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return str(timeframe)


@dataclass(frozen=True, eq=False)
class Bars:
    """One symbol's bars.

    `frame` has a tz-aware UTC `DatetimeIndex` named ``timestamp``, sorted and unique,
    float64 columns ``open high low close volume`` and the session columns:

    - ``session``: the session date (tz-naive midnight) the bar belongs to. Equities:
      the exchange session; crypto: the UTC date; FX: the New York 17:00 trading day.
    - ``session_index``: int64 ordinal of that session in the calendar, consecutive
      sessions differ by exactly 1 (holidays and weekends are skipped), so windows of
      "N business days" are differences of this column.
    - ``minutes_from_open`` / ``minutes_to_close``: float64 minutes from the session's
      open to the bar's start, and from the bar's start to the session's close
      (early closes included).
    """

    frame: pd.DataFrame
    symbol: str
    asset_class: str
    timeframe: pd.Timedelta
    calendar: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.asset_class not in ASSET_CLASSES:
            raise ValueError(f"asset_class must be one of {ASSET_CLASSES}, got {self.asset_class!r}")

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def timeframe_label(self) -> str:
        """The bar length as people write it (`timeframe_label`)."""
        return timeframe_label(self.timeframe)

    def __repr__(self) -> str:
        if len(self) == 0:
            return f"Bars({self.symbol!r}, {self.asset_class}, {self.timeframe}, empty)"
        return (
            f"Bars({self.symbol!r}, {self.asset_class}, {self.timeframe}, {len(self)} bars, "
            f"{self.index[0]} .. {self.index[-1]})"
        )

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.frame.index

    def column(self, name: str) -> np.ndarray:
        """A column as a contiguous numpy array (no copy when already contiguous)."""
        return np.ascontiguousarray(self.frame[name].to_numpy())

    @property
    def open(self) -> np.ndarray:
        return self.column("open")

    @property
    def high(self) -> np.ndarray:
        return self.column("high")

    @property
    def low(self) -> np.ndarray:
        return self.column("low")

    @property
    def close(self) -> np.ndarray:
        return self.column("close")

    @property
    def volume(self) -> np.ndarray:
        return self.column("volume")

    @property
    def session_index(self) -> np.ndarray:
        return self.column("session_index").astype(np.int64, copy=False)

    @property
    def timestamps_ns(self) -> np.ndarray:
        """Bar start times as int64 nanoseconds since the epoch (UTC)."""
        return self.index.as_unit("ns").asi8  # the index may be in us/ms (pandas 3 defaults)

    def slice(self, start: int, stop: int) -> "Bars":
        """Bars ``start:stop`` by position, keeping the metadata."""
        return Bars(
            frame=self.frame.iloc[start:stop],
            symbol=self.symbol,
            asset_class=self.asset_class,
            timeframe=self.timeframe,
            calendar=self.calendar,
            source=self.source,
        )
