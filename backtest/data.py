"""Loading and validating bar files: `load_bars` and `DataError` (DESIGN 3.1).

What is accepted (and the choices made where files are ambiguous):

- One file per symbol, a directory of such files, a list of files, a DataFrame, or a
  long file with a ``symbol``/``ticker`` column (any header case) holding several
  symbols. A file's symbol is ``symbol=`` when given, else its stem without a trailing
  timeframe token (`backtest.timeframes.split_symbol`: ``EURUSD_1h.csv`` -> ``EURUSD``,
  ``AAPL-15min``, ``BTC-USD_1d``, ``ES_H1``, ``SPY_daily``, ``eurusd-1m``); the token's
  timeframe is used only when the bars are too few to measure theirs, and a token that
  disagrees with the bars' spacing is reported with a warning.
- CSV (also gzip/zip/bz2/xz) and parquet; headers in any case and spacing; short
  names ``o h l c v`` and ``vol`` are understood. A CSV's encoding, delimiter, decimal
  comma and header rows are sniffed (`backtest.sniff`: MetaTrader 4/5, Stooq, yfinance,
  Binance klines with or without a header); a file that still cannot be read is refused
  with how it was read and the likely cause.
- ``Adj Close``: ``close`` stays the traded price and ``Adj Close`` is ignored; it is
  used as the close only when there is no ``close`` column.
- The time is a ``timestamp``/``datetime``/``date``/``time`` column (separate ``Date``
  and ``Time`` columns are joined), else an unnamed
  first (index) column, else a parquet DatetimeIndex. ISO strings, D/M/Y or M/D/Y
  dates (decided by the whole column; an ambiguous column is refused unless
  ``date_format``/``dayfirst`` says which: `backtest.io_formats.date_order`) and
  epoch numbers (seconds, milliseconds, microseconds or nanoseconds, told apart by
  magnitude) are read. Epoch numbers and strings with an offset are UTC-exact;
  naive timestamps are wall time of the exchange (``calendar``'s time zone,
  America/New_York for XNYS) for equities and UTC for crypto and FX.
- Asset class: the ``asset_class`` argument, else the symbol's hint (`symbol_hint`:
  ``BTC-USD``, ``ETHUSDT`` -> crypto; ``EURUSD``, ``EUR/USD``, ``EURUSD=X`` -> fx)
  checked against the timing of the bars (`bar_timing`, New York wall time; naive
  stamps are read as such):

  * at least 5% of the bars on Saturdays: 24/7, crypto;
  * intraday bars over at least a day, at least 10% of them between 00:00 and 04:00 New
    York time (no US exchange session of any kind trades then) and under 5% on
    Saturdays: 24/5, fx (also futures that trade nearly round the clock, e.g. ``ES_H1``);
    over less than a week (no Saturday seen) crypto is allowed too (a crypto name wins);
  * daily bars over at least two weeks, at least 5% on Sundays and under 5% on
    Saturdays: fx;
  * no weekend bars (and, intraday, none of those night bars) over at least a week
    (intraday) or two weeks (daily): not 24/7, so equity or fx;
  * anything else, and weekly or monthly bars, say nothing.

  The hint wins when the timing allows it; without a hint the timing decides (equity
  when it allows equity or says nothing). A hint the timing rules out does not win:
  the timing's class is used and a `UserWarning` names both and the override (e.g. a
  ``LTC`` file of NYSE-hours bars is LTC Properties, an equity, not Litecoin).
- Refusal: when more than half of a file's bars (`MAX_DROP_SHARE`) would be dropped
  as outside the chosen class's regular sessions, `load_bars` raises `DataError`
  with the count, the reason, and the flags that fix it (``--asset-class`` /
  ``asset_class=`` and ``--keep-extended`` / ``keep_extended=True``); it never trims
  most of a file silently. A smaller share is dropped with a warning.
- Daily bars keep their own time stamp: a naive date is exchange-local midnight
  (05:00 UTC in winter for XNYS); a bar stamped at 00:00 UTC belongs to that UTC date.
- The timeframe is measured from the bars (`infer_timeframe`: intraday, daily, weekly,
  monthly), unless ``timeframe=`` is given (any `backtest.timeframes` token: ``15min``,
  ``1h``, ``1D``, ``1W``, ``1mo`` ...). Weekly and monthly bars are coarse bars: one
  session per bar, never dropped, sessions and impact inputs in daily terms
  (`backtest.sessions`, `backtest.costs.impact_inputs`).

Validation refuses, with file, line and data row (``line 72, data row 71``; the row
alone for parquet and DataFrames) or timestamp, what is wrong and how to fix it:
missing columns, unparsable or conflicting duplicate timestamps, text timestamps mixing rows with and without a time zone,
NaN/infinite/non-numeric values, non-positive prices, high below low, open or
close outside [low, high], negative volume, fewer than ``min_bars`` bars.
Unsorted rows are sorted and exact duplicate rows (same time and values) dropped, each
with a `UserWarning`; nothing else is repaired. Zero volume on equity or crypto bars is
warned (the square-root impact is off where volume is 0), and so is an asset class taken
from the symbol alone. Equity
bars outside regular hours (or daily bars on non-session dates) are dropped with a
warning unless ``keep_extended`` (refused when they are most of the file, above).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.bars import ASSET_CLASSES, PRICE_COLUMNS, Bars, timeframe_label
from backtest.errors import DataError
from backtest.io_formats import (
    TIME_NAMES,
    UNNAMED_NAMES,
    check_date_format,
    file_stem,
    is_bar_file,
    mixed_zone_rows,
    normalise_name,
    parse_timestamps,
    read_table,
    row_label,
    row_numbers,
)
from backtest.resample import resample as resample_bars
from backtest.sniff import describe, likely_cause, name_numbered_columns
from backtest.sessions import calendar_sessions, tag_sessions
from backtest.timeframes import DAY, MONTH, QUARTER, WEEK, is_coarse, parse_timeframe_arg, split_symbol

__all__ = ["DataError", "load_bars", "detect_asset_class", "symbol_hint", "bar_timing", "BarTiming",
           "infer_timeframe", "MAX_DROP_SHARE"]

#: A file more than this share of whose bars would be dropped as outside sessions is refused.
MAX_DROP_SHARE = 0.5
#: Timing evidence thresholds (module docstring).
WEEKEND_SHARE = 0.05
NIGHT_SHARE = 0.10

_CRYPTO = {"BTC", "XBT", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "BNB", "DOT", "AVAX", "MATIC",
           "LINK", "BCH", "TRX", "SHIB", "ATOM", "XLM", "XMR", "UNI", "ETC", "FIL", "NEAR", "APT",
           "ARB", "OP", "USDT", "USDC"}
_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "BTC", "ETH")
_FIAT = {"USD", "EUR", "JPY", "GBP", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "DKK", "HKD", "SGD",
         "MXN", "ZAR", "TRY", "CNH", "CNY", "PLN", "HUF", "CZK", "ILS", "INR", "KRW", "BRL"}


def symbol_hint(symbol: str | None) -> str | None:
    """``crypto`` or ``fx`` when the symbol names one (``BTC-USD``, ``ETHUSDT``, ``EURUSD``,
    ``EUR/USD``, ``USDJPY=X``), else None (no hint: equity unless the bars say otherwise)."""
    if not symbol:
        return None
    s = symbol.upper().replace("=X", "")
    parts = [p for p in re.split(r"[-/_:. ]", s) if p]
    if parts and (parts[0] in _CRYPTO or any(s.endswith(q) and s[: -len(q)] in _CRYPTO for q in _QUOTES)):
        return "crypto"
    if s.endswith(("USDT", "USDC", "BUSD")):
        return "crypto"
    joined = "".join(parts)
    if len(joined) == 6 and joined[:3] in _FIAT and joined[3:] in _FIAT and joined[:3] != joined[3:]:
        return "fx"
    return None


def detect_asset_class(symbol: str | None, weekday: np.ndarray | None = None) -> str:
    """Symbol hint first, then Saturday bars (crypto), else equity (the name-only rule;
    `load_bars` also weighs the bars' timing, `bar_timing`).

    ``weekday`` (Monday=0) should be New York local (wall time for naive data): FX opens
    Sunday 17:00 and equity after-hours run to Friday 20:00 there, so only crypto trades
    on a New York Saturday.
    """
    hint = symbol_hint(symbol)
    if hint is not None:
        return hint
    if weekday is not None and len(weekday) and float(np.mean(np.asarray(weekday) == 5)) >= WEEKEND_SHARE:
        return "crypto"
    return "equity"


@dataclass(frozen=True)
class BarTiming:
    """What the bars' timing says: the classes it allows (the first is its choice) and why."""

    classes: tuple[str, ...]
    reason: str


def bar_timing(ns: np.ndarray, aware: bool, timeframe: pd.Timedelta | None) -> BarTiming | None:
    """The module docstring's timing rules; None when the timing says nothing.

    ``ns``: int64 nanoseconds, UTC when ``aware``, else naive wall time (read as New York
    time). Daily bars stamped at exactly 00:00 UTC are dated by their UTC date.
    """
    if len(ns) < 2 or timeframe is None or is_coarse(timeframe):
        return None
    idx = pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).astype("datetime64[ns]"))
    daily = pd.Timedelta(timeframe) >= DAY
    if aware and not (daily and bool((idx.asi8 % DAY.value == 0).all())):
        idx = idx.tz_localize("UTC").tz_convert("America/New_York")
    dow = np.asarray(idx.day_of_week)
    span = pd.Timedelta(int(ns[-1]) - int(ns[0]), unit="ns")
    sat = float(np.mean(dow == 5))
    if sat >= WEEKEND_SHARE:
        return BarTiming(("crypto",), f"{sat:.0%} of its bars fall on Saturdays (New York time): it trades 24/7")
    if daily:
        if span < 2 * WEEK:
            return None
        sun = float(np.mean(dow == 6))
        if sun >= WEEKEND_SHARE:
            return BarTiming(("fx",), f"{sun:.0%} of its daily bars fall on Sundays and almost none on Saturdays: "
                                      f"the 24/5 FX week")
        return BarTiming(("equity", "fx"), f"its daily bars over {span.days} days skip weekends: it does not "
                                           f"trade 24/7")
    night = float(np.mean(np.asarray(idx.hour) < 4))
    if night >= NIGHT_SHARE and span >= DAY:  # under a week without a Saturday proves no 24/5 against 24/7
        return BarTiming(("fx",) if span >= WEEK else ("fx", "crypto"), f"{night:.0%} of its bars fall between 00:00 and 04:00 New York time, when no US "
                                  f"exchange session trades, and almost none on Saturdays: it trades 24/5")
    if span >= WEEK:
        return BarTiming(("equity", "fx"), f"over {span.days} days none of its bars fall on Saturdays or between "
                                           f"00:00 and 04:00 New York time: it trades exchange hours, not 24/7")
    return None


def infer_timeframe(ns: np.ndarray) -> pd.Timedelta | None:
    """The bars' timeframe from their spacing.

    Intraday: the most common positive gap. When that gap is 20 hours or more, the
    median gap decides: up to 4 days is daily (1 day; weekends and holidays are not the
    timeframe), 5-10 days weekly (`WEEK`), 26-35 days monthly (`MONTH`), 80-100 days
    quarterly; otherwise the most common gap.
    """
    if len(ns) < 2:
        return None
    diffs = np.diff(ns)
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        return None
    values, counts = np.unique(diffs, return_counts=True)
    mode = pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")
    if mode < pd.Timedelta(hours=20):
        return mode
    days = float(np.median(diffs)) / DAY.value
    for lo, hi, tf in ((0.0, 4.0, DAY), (5.0, 10.0, WEEK), (26.0, 35.0, MONTH), (80.0, 100.0, QUARTER)):
        if lo <= days <= hi:
            return tf
    return mode


# --------------------------------------------------------------------------- sources


def _expand(source) -> list[tuple[object, str]]:
    """(path or DataFrame, display name) for every input."""
    if isinstance(source, pd.DataFrame):
        return [(source, "<DataFrame>")]
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and is_bar_file(p))
            if not files:
                raise DataError(f"{path}: directory holds no .csv or .parquet bar files; point at a bar file or a folder of them")
            return [(p, str(p)) for p in files]
        if not path.exists():
            raise DataError(f"{path}: no such file or directory; check the path")
        return [(path, str(path))]
    if isinstance(source, Sequence) and len(source) > 0:
        out: list[tuple[object, str]] = []
        for item in source:
            out.extend(_expand(item))
        return out
    raise DataError(f"data source {source!r} is not a file, directory, list of files or DataFrame")


def _columns(raw: pd.DataFrame, name: str) -> dict[str, str]:
    """Map canonical name -> raw column name, refusing ambiguous or missing columns."""
    mapping: dict[str, str] = {}
    for col in raw.columns:
        key = normalise_name(col)
        if key in mapping:
            raise DataError(f"{name}: columns {mapping[key]!r} and {col!r} both mean {key!r}; keep one of them")
        mapping[key] = col
    time_col = next((mapping[k] for k in TIME_NAMES if k in mapping), None)
    if time_col is None:
        time_col = next((mapping[k] for k in UNNAMED_NAMES if k in mapping), None)
    if time_col is None and len(raw.columns) and str(raw.columns[0]).lower().startswith("unnamed"):
        time_col = raw.columns[0]
    if "close" not in mapping and "adj_close" in mapping:
        mapping["close"] = mapping["adj_close"]
    if "volume" not in mapping and "tickvol" in mapping:  # MetaTrader exports with tick volume only
        mapping["volume"] = mapping["tickvol"]
    missing = [c for c in PRICE_COLUMNS if c not in mapping]
    if time_col is None:
        missing.insert(0, "timestamp")
    if missing:
        how = describe(raw)
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, raw.columns))}"
            f"{'; ' + how if how else ''}); "
            f"a bar file needs a date/timestamp column and open, high, low, close, volume "
            f"(data without volume: add a volume column of 0){likely_cause(list(map(str, raw.columns)))}"
        )
    out = {c: mapping[c] for c in PRICE_COLUMNS}
    out["timestamp"] = time_col
    if "symbol" in mapping:
        out["symbol"] = mapping["symbol"]
    return out


def _join_date_time(raw: pd.DataFrame) -> pd.DataFrame:
    """Separate ``Date`` and ``Time`` columns (and no timestamp/datetime column) become one."""
    keys = {normalise_name(c): c for c in raw.columns}
    if "date" not in keys or "time" not in keys or "timestamp" in keys or "datetime" in keys:
        return raw
    date, time = raw[keys["date"]], raw[keys["time"]].astype("string").str.strip()
    time = time.where(~time.str.fullmatch(r"\d{1,6}").fillna(False), time.str.zfill(6))  # Stooq: 0 = 000000
    joined = date.astype("string").str.strip() + " " + time
    return raw.drop(columns=[keys["date"], keys["time"]]).assign(timestamp=joined)


def _split(raw: pd.DataFrame, name: str, default_symbol: str, symbol: str | None, many: bool, stem: str | None = None):
    """[(symbol, frame, 1-based data rows)] for one table (long or single-symbol)."""
    raw = _join_date_time(raw)
    cols = _columns(raw, name)
    rows = row_numbers(raw)
    if "symbol" not in cols:
        if symbol is not None and many and symbol.upper() not in {default_symbol.upper(), (stem or "").upper()}:
            return []  # several sources: ``symbol`` picks the file named after it
        return [(default_symbol if many else (symbol or default_symbol), raw, rows, cols)]
    sym = raw[cols["symbol"]].astype("string").str.strip()
    codes, names = pd.factorize(sym.mask(sym == ""))
    if (codes < 0).any():
        row = row_label(rows, int(np.flatnonzero(codes < 0)[0]))
        raise DataError(f"{name}: {row}: symbol is empty; fill the {cols['symbol']!r} column on every row")
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    out = []
    for k, value in enumerate(names):
        if symbol is not None and str(value).upper() != symbol.upper():
            continue
        idx = order[bounds[k] : bounds[k + 1]]
        out.append((str(value), raw.iloc[idx], rows[idx], cols))
    return out


# --------------------------------------------------------------------------- validation


def _where(name: str, rows: np.ndarray, ts_text, i: int) -> str:
    stamp = f" ({ts_text(i)})" if ts_text is not None else ""
    return f"{name}: {row_label(rows, i)}{stamp}"


def _first_bad(mask: np.ndarray) -> tuple[int, int]:
    bad = np.flatnonzero(mask)
    return int(bad[0]), len(bad)


def _stamp(ns: int, aware: bool) -> str:
    return str(pd.Timestamp(int(ns), unit="ns", tz="UTC" if aware else None))


def _numeric(frame: pd.DataFrame, cols: dict, name: str, rows: np.ndarray, ts_text) -> dict[str, np.ndarray]:
    values = {}
    for c in PRICE_COLUMNS:
        raw = frame[cols[c]]
        num = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw.dtype) else raw
        arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
        text_bad = (num.isna() & raw.notna()).to_numpy()
        if text_bad.any():
            i, n = _first_bad(text_bad)
            raise DataError(f"{_where(name, rows, ts_text, i)}: {c} is not a number ({raw.iloc[i]!r}; {n} such row(s)); "
                            f"fix or remove those rows")
        for mask, what in ((np.isnan(arr), "missing (NaN/empty)"), (np.isinf(arr), "infinite")):
            if mask.any():
                i, n = _first_bad(mask)
                raise DataError(f"{_where(name, rows, ts_text, i)}: {c} is {what} ({n} such row(s)); "
                                f"fill or remove those rows in the source, they are not repaired automatically")
        values[c] = arr
    return values


def _check_prices(v: dict[str, np.ndarray], name: str, rows: np.ndarray, ts_text) -> None:
    o, h, l, c, vol = (v[k] for k in PRICE_COLUMNS)
    checks = (
        (np.minimum(np.minimum(o, h), np.minimum(l, c)) <= 0, "has a non-positive price",
         "prices must be > 0; remove the row or fix the price"),
        (h < l, "has high below low", "swap or fix high/low"),
        ((c < l) | (c > h), "has close outside [low, high]", "fix close, high or low"),
        ((o < l) | (o > h), "has open outside [low, high]", "fix open, high or low"),
        (vol < 0, "has negative volume", "volume must be >= 0"),
    )
    for mask, what, fix in checks:
        if mask.any():
            i, n = _first_bad(mask)
            vals = ", ".join(f"{k}={v[k][i]:g}" for k in PRICE_COLUMNS)
            raise DataError(f"{_where(name, rows, ts_text, i)} {what} ({vals}; {n} such row(s)); {fix}")


def _timestamps(frame, cols, name, rows, date_format="auto"):
    mixed = mixed_zone_rows(frame[cols["timestamp"]])
    if mixed is not None:
        (i, j), column = mixed, frame[cols["timestamp"]]
        raise DataError(f"{name}: {row_label(rows, i)} ({column.iloc[i]!r}) has no time zone but {row_label(rows, j)} "
                        f"({column.iloc[j]!r}) has one; give every timestamp an offset (e.g. +00:00) or none")
    try:
        ns, aware, bad = parse_timestamps(frame[cols["timestamp"]], date_format)
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from exc
    if bad.any():
        i, n = _first_bad(bad)
        value = frame[cols["timestamp"]].iloc[i]
        raise DataError(f"{_where(name, rows, None, i)}: timestamp {value!r} cannot be parsed or is out of range ({n} such row(s)); "
                        f"use ISO 8601 (2023-11-24 14:30:00), D/M/Y or M/D/Y dates or epoch seconds/milliseconds, "
                        f"or give the format: --date-format '%d.%m.%Y %H:%M' (date_format=)")
    return ns, aware


def _localise(ns: np.ndarray, tz: str, name: str, rows: np.ndarray) -> np.ndarray:
    idx = pd.DatetimeIndex(ns.astype("datetime64[ns]"))
    local = idx.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    bad = np.asarray(local.isna())
    if bad.any():
        i, n = _first_bad(bad)
        raise DataError(f"{name}: {row_label(rows, i)}: naive timestamp {idx[i]} does not exist or is ambiguous in {tz} "
                        f"(daylight-saving change; {n} such row(s)); give timestamps in UTC or with an offset")
    return local.tz_convert("UTC").as_unit("ns").asi8


def _refuse_duplicates(ns: np.ndarray, rows: np.ndarray, name: str) -> None:
    """Sorted ``ns`` with two rows at one time stamp (that differ: exact repeats are gone) is refused."""
    dup = np.diff(ns) == 0
    if dup.any():
        i, n = _first_bad(dup)
        stamp = pd.Timestamp(int(ns[i]), unit="ns")
        raise DataError(f"{name}: {row_label(rows, i, i + 1)} have the same timestamp {stamp} "
                        f"({n} duplicate(s)); keep one bar per timestamp")


def _drop_exact_duplicates(ns, rows, values, name):
    """Sorted bars without repeated rows: a row equal to the one before it in time and every
    price and volume is dropped with a warning (a file exported twice into one); rows that share
    a time stamp but differ are left for `_refuse_duplicates`."""
    same = np.diff(ns) == 0
    for v in values.values():
        same &= v[1:] == v[:-1]
    if not same.any():
        return ns, rows, values
    first = int(np.flatnonzero(same)[0])
    keep = np.r_[True, ~same]
    warnings.warn(f"{name}: dropped {int(same.sum())} exact duplicate row(s) (same time stamp and values; first: "
                  f"{row_label(rows, first + 1)} repeats {row_label(rows, first)})", UserWarning, stacklevel=4)
    return ns[keep], rows[keep], {k: v[keep] for k, v in values.items()}


# --------------------------------------------------------------------------- assembly


def _timeframe(ns, timeframe, name_tf, name, symbol) -> pd.Timedelta:
    """``timeframe=`` if given, else measured (`infer_timeframe`), else the file name's."""
    if timeframe is not None:
        return timeframe
    tf = infer_timeframe(ns)
    if tf is None:
        if name_tf is not None:
            return name_tf
        raise DataError(f"{name}: {symbol} has {len(ns)} bar(s), too few to infer the timeframe; pass timeframe=")
    if name_tf is not None and name_tf != tf:
        warnings.warn(f"{name}: the file name says {timeframe_label(name_tf)} bars but {symbol}'s bars are "
                      f"{timeframe_label(tf)} apart; using {timeframe_label(tf)}", UserWarning, stacklevel=4)
    return tf


def _asset_class(symbol, ns, aware, tf, name) -> tuple[str, str]:
    """(class, how it was decided) from the symbol's hint and the bars' timing (module docstring)."""
    hint = symbol_hint(symbol)
    timing = bar_timing(ns, aware, tf)
    if hint is not None and (timing is None or (hint in timing.classes and len(timing.classes) > 1)):
        others = "|".join(c for c in ASSET_CLASSES if c != hint)
        warnings.warn(f"{name}: {symbol} loaded as {hint}, guessed from its name "
                      f"({'its bars do not tell' if timing is None else timing.reason}); if it is not {hint}, pass "
                      f"--asset-class {others} (asset_class=)", UserWarning, stacklevel=4)
    if timing is None:
        return (hint, "from its name") if hint else ("equity", "the default: neither its name nor its timing "
                                                               "names a class")
    if hint in timing.classes:
        return hint, f"from its name, and {timing.reason}"
    ac = timing.classes[0]
    if hint is not None:
        warnings.warn(f"{name}: {symbol} looks like {hint} by its name, but {timing.reason}; loaded as {ac}. "
                      f"If it is {hint}, pass --asset-class {hint} (asset_class={hint!r})", UserWarning, stacklevel=4)
        return ac, f"from its timing ({timing.reason}), not its name ({hint})"
    return ac, f"from its timing: {timing.reason}"


def _refuse_if_mostly_dropped(name, symbol, ac, how, calendar, n, dropped, keep_extended) -> None:
    if dropped <= MAX_DROP_SHARE * n:
        return
    where = {"equity": f"{calendar} regular hours and sessions", "crypto": "24/7 days",
             "fx": "the 24/5 FX week (Sunday 17:00 to Friday 17:00 New York)"}[ac]
    others = [c for c in ("equity", "crypto", "fx") if c != ac]
    fixes = f"if it is not {ac}, pass --asset-class {others[0]} or {others[1]} (asset_class=...)"
    if ac == "equity" and not keep_extended:
        fixes += "; to keep extended-hours equity bars, pass --keep-extended (keep_extended=True)"
    raise DataError(f"{name}: {symbol}: {dropped} of {n} bars ({dropped / n:.0%}) fall outside {where} and "
                    f"would be dropped (asset class {ac}: {how}); refusing rather than trimming most of the file. "
                    f"Fix: {fixes}")


#: Share of zero-volume bars from which `load_bars` warns (equities and crypto).
ZERO_VOLUME_SHARE = 0.01


def _warn_zero_volume(volume: np.ndarray, ac: str, name: str, symbol: str) -> None:
    """Zero volume is accepted but said: the square-root impact needs traded volume (ADV), so
    fills whose trailing volume is 0 pay no impact (FX has no impact anyway)."""
    zero = float(np.mean(volume == 0)) if len(volume) else 0.0
    if ac == "fx" or zero < ZERO_VOLUME_SHARE:
        return
    warnings.warn(f"{name}: {symbol}: volume is 0 on {zero:.0%} of the bars; the square-root market impact needs "
                  f"traded volume, so fills where the trailing 20-session volume is 0 pay no impact (recorded as "
                  f"no_history): impact is off there. Give the traded volume if the source has it",
                  UserWarning, stacklevel=4)


def _build(symbol, frame, rows, cols, name, asset_class, timeframe, calendar, keep_extended, name_tf=None,
           date_format="auto") -> Bars:
    ns, aware = _timestamps(frame, cols, name, rows, date_format)
    values = _numeric(frame, cols, name, rows, lambda i: _stamp(ns[i], aware))
    if len(ns) > 1 and bool((np.diff(ns) < 0).any()):
        order = np.argsort(ns, kind="stable")
        ns, rows, values = ns[order], rows[order], {k: v[order] for k, v in values.items()}
        warnings.warn(f"{name}: rows are not in time order; sorted them by timestamp", UserWarning, stacklevel=3)
    ns, rows, values = _drop_exact_duplicates(ns, rows, values, name)
    _refuse_duplicates(ns, rows, name)
    tf = _timeframe(ns, timeframe, name_tf, name, symbol)
    if asset_class is not None:
        ac, how = asset_class, "given"
    else:
        ac, how = _asset_class(symbol, ns, aware, tf, name)
    if not aware and ac == "equity":
        try:
            tz = calendar_sessions(calendar, pd.Timestamp(int(ns[0])), pd.Timestamp(int(ns[-1])))[4]
        except DataError as exc:
            raise DataError(f"{name}: {symbol}: {exc}") from exc
        ns = _localise(ns, tz, name, rows) if tz != "UTC" else ns
    index = pd.DatetimeIndex(ns.astype("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    _check_prices(values, name, rows, lambda i: str(index[i]))
    try:
        tagged = tag_sessions(pd.DataFrame(values, index=index), ac, calendar=calendar,
                              keep_extended=keep_extended, timeframe=tf)
    except DataError as exc:
        raise DataError(f"{name}: {symbol}: {exc}") from exc
    _warn_zero_volume(values["volume"], ac, name, symbol)
    dropped = len(index) - len(tagged)
    _refuse_if_mostly_dropped(name, symbol, ac, how, calendar, len(index), dropped, keep_extended)
    if dropped:  # what an actions file naming a dropped bar is told (`backtest.actions_file`)
        tagged.attrs["dropped_outside_sessions"] = (dropped, int(index.min().value), int(index.max().value))
        warnings.warn(f"{name}: dropped {dropped} {symbol} bar(s) outside regular {ac} sessions"
                      f"{' (' + calendar + ')' if ac == 'equity' else ''}; pass --keep-extended "
                      f"(keep_extended=True) to keep them",
                      UserWarning, stacklevel=3)
    return Bars(tagged, symbol=symbol, asset_class=ac, timeframe=tf,
                calendar=calendar if ac == "equity" else None, source=name)


def load_bars(
    source,
    symbol: str | None = None,
    asset_class: str | None = None,
    timeframe: str | pd.Timedelta | None = None,
    calendar: str = "XNYS",
    keep_extended: bool = False,
    resample: str | pd.Timedelta | None = None,
    min_bars: int = 2,
    date_format: str = "auto",
    dayfirst: bool | None = None,
) -> list[Bars]:
    """Load, validate and session-tag bars: one `Bars` per symbol, in file order.

    See the module docstring for accepted layouts and conventions; every problem with
    the input raises `DataError`. ``date_format``: ``auto`` (D/M/Y or M/D/Y decided by the
    whole column, an ambiguous one refused), ``dayfirst``, ``monthfirst`` or a strptime
    format; ``dayfirst=True/False`` is short for the first two.
    """
    if dayfirst is not None:
        if date_format not in ("auto", "dayfirst" if dayfirst else "monthfirst"):
            raise DataError(f"dayfirst={dayfirst!r} contradicts date_format={date_format!r}; give one of them")
        date_format = "dayfirst" if dayfirst else "monthfirst"
    date_format = check_date_format(date_format)
    if asset_class is not None and asset_class not in ASSET_CLASSES:
        raise DataError(f"asset_class must be one of {ASSET_CLASSES} or None (auto), got {asset_class!r}")
    if timeframe is not None:
        try:
            timeframe = parse_timeframe_arg(timeframe)
        except (ValueError, TypeError) as exc:
            raise DataError(f"timeframe {timeframe!r} is not a positive duration; use e.g. '15min', '1h', '1D', "
                            f"'1W', '1mo'") from exc
    if int(min_bars) < 1:
        raise DataError(f"min_bars must be >= 1, got {min_bars!r}")
    out: list[Bars] = []
    seen: dict[str, str] = {}
    sources = _expand(source)
    for item, name in sources:
        raw = item if isinstance(item, pd.DataFrame) else read_table(item)
        if isinstance(item, pd.DataFrame) and not isinstance(raw.index, pd.RangeIndex):
            raw = raw.reset_index()
        if isinstance(item, pd.DataFrame):
            raw = name_numbered_columns(raw, name)
        if len(raw) == 0:
            raise DataError(f"{name}: has no data rows; add bars")
        stem = "DATA" if isinstance(item, pd.DataFrame) else file_stem(item)
        base, name_tf = split_symbol(stem) if not isinstance(item, pd.DataFrame) else (stem, None)
        for sym, frame, rows, cols in _split(raw, name, base, symbol, len(sources) > 1, stem):
            if sym in seen:
                raise DataError(f"{name}: symbol {sym!r} also comes from {seen[sym]}; give each symbol one source "
                                f"(load files of other timeframes separately)")
            seen[sym] = name
            bars = _build(sym, frame, rows, cols, name, asset_class, timeframe, calendar, keep_extended,
                          name_tf if "symbol" not in cols else None, date_format)
            if resample is not None:
                bars = resample_bars(bars, resample)
            if len(bars) < int(min_bars):
                raise DataError(f"{name}: {sym} has {len(bars)} bar(s) after validation, fewer than the {min_bars} "
                                f"needed; supply a longer history or ask for fewer/shorter folds")
            out.append(bars)
    if not out:
        where = sources[0][1] if len(sources) == 1 else f"{len(sources)} files"
        raise DataError(f"{where}: symbol {symbol!r} not found (neither a file name nor a symbol column value); "
                        f"check the symbol")
    return out
