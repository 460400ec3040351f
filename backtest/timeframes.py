"""Timeframes: parsing them from text and file names, coarse bars, sessions per bar.

**Timeframe tokens** (`parse_timeframe`), as vendors write them in file names and
as ``--timeframe`` accepts them:

- number + unit: ``30s``, ``1m``/``5min``/``15min``/``1T`` (minutes), ``1h``/``4H``/``1hr``,
  ``1d``/``1D``/``1day``, ``1w``/``1wk``/``1week``, ``1mo``/``1mon``/``1month``/``1M``
  (months), ``1q`` (quarter), ``1y`` (year). Units are case-insensitive except a lone
  ``m``/``M``: lower case is minutes, upper case months (the Binance/TradingView
  convention: ``1m`` is a minute, ``1M`` a month);
- unit + number, the MetaTrader form: ``M1 M5 M15 M30`` (minutes), ``H1 H4`` (hours),
  ``D1``, ``W1``, ``MN``/``MN1`` (month), any case;
- words: ``minute``/``minutely``, ``hourly``/``hour``, ``daily``/``day``/``eod``,
  ``weekly``/``week``, ``monthly``/``month``, ``quarterly``, ``yearly``/``annual``.

A month is `MONTH`, the mean Gregorian month (365.2425 / 12 days), so that
`timeframe_label` shows ``1mo`` and a year of monthly bars spans 12 timeframes.

**File names** (`split_symbol`): when the last ``_``- or ``-``-separated token of a
file stem is a timeframe token and something is left before it, that part is the
symbol and the token the timeframe: ``EURUSD_1h`` -> (``EURUSD``, 1 hour),
``AAPL-15min``, ``BTC-USD_1d`` -> ``BTC-USD``, ``ES_H1`` -> ``ES``, ``SPY_daily``,
``eurusd-1m`` -> ``eurusd`` (1 minute). Only one trailing token is read
(``AAPL_15min_2023`` keeps its name: ``2023`` is not a timeframe).

**Coarse bars** are bars longer than a day (weekly, monthly). Each is its own
session group, and the square-root law converts their figures to daily terms with
`sessions_per_bar`: the bar's length in days times the sessions per calendar day of
the asset class (`SESSIONS_PER_DAY`: equity 252 / 365.25, fx 5 / 7, crypto 1), so a
week is 4.83 equity sessions, 5 FX sessions, 7 crypto days; a month 21.0, 21.7 and
30.4. Daily and intraday bars have one session per session (1.0).
"""

from __future__ import annotations

import re

import pandas as pd

#: One day, one week, the mean Gregorian month (365.2425 / 12 days = 30 d 10 h 29 min 6 s).
DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
MONTH = pd.Timedelta(seconds=2_629_746)
QUARTER = 3 * MONTH
YEAR = 12 * MONTH

#: Trading sessions per calendar day: XNYS ~252 sessions a year, FX 5 days a week, crypto 7.
SESSIONS_PER_DAY = {"equity": 252.0 / 365.25, "fx": 5.0 / 7.0, "crypto": 1.0}

_UNITS = {
    "s": pd.Timedelta(seconds=1), "sec": pd.Timedelta(seconds=1), "secs": pd.Timedelta(seconds=1),
    "second": pd.Timedelta(seconds=1), "seconds": pd.Timedelta(seconds=1),
    "min": pd.Timedelta(minutes=1), "mins": pd.Timedelta(minutes=1), "minute": pd.Timedelta(minutes=1),
    "minutes": pd.Timedelta(minutes=1), "t": pd.Timedelta(minutes=1),
    "h": pd.Timedelta(hours=1), "hr": pd.Timedelta(hours=1), "hrs": pd.Timedelta(hours=1),
    "hour": pd.Timedelta(hours=1), "hours": pd.Timedelta(hours=1),
    "d": DAY, "day": DAY, "days": DAY,
    "w": WEEK, "wk": WEEK, "week": WEEK, "weeks": WEEK,
    "mo": MONTH, "mon": MONTH, "month": MONTH, "months": MONTH,
    "q": QUARTER, "y": YEAR, "yr": YEAR, "year": YEAR,
}
_MT_UNITS = {"m": pd.Timedelta(minutes=1), "h": pd.Timedelta(hours=1), "d": DAY, "w": WEEK, "mn": MONTH}
_WORDS = {
    "minute": pd.Timedelta(minutes=1), "minutely": pd.Timedelta(minutes=1),
    "hour": pd.Timedelta(hours=1), "hourly": pd.Timedelta(hours=1),
    "day": DAY, "daily": DAY, "eod": DAY,
    "week": WEEK, "weekly": WEEK,
    "month": MONTH, "monthly": MONTH,
    "quarterly": QUARTER, "yearly": YEAR, "annual": YEAR,
}
_NUMBER_UNIT = re.compile(r"^(\d{1,4})([A-Za-z]{1,7})$")
_UNIT_NUMBER = re.compile(r"^(MN|[MHDW])(\d{0,4})$", re.IGNORECASE)


def parse_timeframe(text: object) -> pd.Timedelta | None:
    """The timeframe a token names (module docstring), or None when it names none."""
    token = str(text).strip()
    if not token:
        return None
    low = token.lower()
    if low in _WORDS:
        return _WORDS[low]
    m = _NUMBER_UNIT.match(token)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n == 0:
            return None
        if unit == "M":
            return n * MONTH
        if unit == "m":
            return n * pd.Timedelta(minutes=1)
        step = _UNITS.get(unit.lower())
        return None if step is None else n * step
    m = _UNIT_NUMBER.match(token)
    if m:
        unit, digits = m.group(1).lower(), m.group(2)
        if not digits and unit != "mn":
            return None  # a lone letter is a share class or a suffix, not a timeframe
        n = int(digits) if digits else 1
        return None if n == 0 else n * _MT_UNITS[unit]
    return None


def parse_timeframe_arg(text: object) -> pd.Timedelta:
    """``--timeframe``/``timeframe=``: a token of the module docstring, else anything
    `pandas.Timedelta` reads (``'90min'``); raises ``ValueError`` otherwise."""
    if isinstance(text, pd.Timedelta):
        return text
    tf = parse_timeframe(text)
    if tf is None:
        tf = pd.Timedelta(text)
    if tf <= pd.Timedelta(0):
        raise ValueError(f"timeframe must be positive, got {text!r}")
    return tf


_BINANCE_NAME = re.compile(r"^([A-Za-z0-9]+)-(\w+)-(\d{4}-\d{2}(?:-\d{2})?)$")
_MT4_NAME = re.compile(r"^([A-Za-z]{6})(1|5|15|30|60|240|1440|10080|43200)$")


def split_symbol(stem: str) -> tuple[str, pd.Timedelta | None]:
    """``(symbol, timeframe)`` of a file stem with a trailing timeframe token, else ``(stem, None)``.

    Also Binance's data-dump names ``BTCUSDT-1m-2024-01(-15)`` (symbol, interval, month or day;
    ``1m`` a minute, ``1M`` a month) and MetaTrader 4's ``EURUSD60`` (a six-letter pair and the
    period in minutes: 1, 5, 15, 30, 60, 240, 1440, 10080, 43200)."""
    m = _BINANCE_NAME.match(stem)
    if m and parse_timeframe(m.group(2)) is not None:
        return m.group(1), parse_timeframe(m.group(2))
    m = _MT4_NAME.match(stem)
    if m:
        minutes = int(m.group(2))
        return m.group(1), (MONTH if minutes == 43200 else pd.Timedelta(minutes=minutes))
    m = re.match(r"^(.*[^_\-])[_\-]+([^_\-]+)$", stem)
    if m is None:
        return stem, None
    tf = parse_timeframe(m.group(2))
    return (m.group(1), tf) if tf is not None else (stem, None)


def is_coarse(timeframe: pd.Timedelta | None) -> bool:
    """Bars longer than a day (weekly, monthly ...): one session group per bar."""
    return timeframe is not None and pd.Timedelta(timeframe) > DAY


def sessions_per_bar(timeframe: pd.Timedelta | None, asset_class: str) -> float:
    """Trading sessions one bar covers: 1 for daily and shorter bars; for coarse bars the
    length in days times `SESSIONS_PER_DAY` of the class (module docstring)."""
    if not is_coarse(timeframe):
        return 1.0
    return (pd.Timedelta(timeframe) / DAY) * SESSIONS_PER_DAY[asset_class]


def label(timeframe: pd.Timedelta) -> str | None:
    """``1mo``/``3mo``/``12mo`` for whole multiples of `MONTH`, ``1W`` for weeks, else None."""
    td = pd.Timedelta(timeframe)
    if td >= MONTH and td.value % MONTH.value == 0:
        return f"{td.value // MONTH.value}mo"
    if td >= WEEK and td.value % WEEK.value == 0:
        return f"{td.value // WEEK.value}W"
    return None
