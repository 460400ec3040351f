"""Reading bar files into raw tables and parsing their timestamps.

Every failure of a reader (empty file, header only, binary garbage, a corrupt
parquet file) becomes a `DataError` naming the file, never a pandas/pyarrow
exception (CSV layouts are sniffed by `backtest.sniff`). Timestamps accept ISO strings
(with or without offsets), D/M/Y or M/D/Y dates (`date_order`), MetaTrader and Stooq dates,
datetime columns, and epoch numbers whose unit (s, ms, us, ns) is told by their
magnitude (whole numbers that all read as YYYYMMDD are dates); they are returned as int64 nanoseconds plus a flag saying whether the
source carried a time zone (naive ones are localised later, once the asset class
is known).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.errors import DataError

CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")

#: Header names (lower case, spaces/underscores/dashes removed) that hold the bar time.
TIME_NAMES = ("timestamp", "datetime", "date", "time", "ts", "timeutc", "datetimeutc", "dateutc", "opentime")
UNNAMED_NAMES = ("", "unnamed0", "index", "indexlevel0")
_ALIASES = {
    "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "vol": "volume",
    "adjclose": "adj_close", "adjustedclose": "adj_close", "closeadj": "adj_close",
    "ticker": "symbol", "sym": "symbol", "instrument": "symbol", "tickvolume": "tickvol",
}
_NS_MIN_TIME, _NS_MAX_TIME = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-04-01")
#: An offset after a time of day (a date alone such as 01-02-2020 ends in digits, not an offset).
_OFFSET_RE = r":\d\d(?:\.\d+)?\s*(?:Z|[+-]\d\d:?\d\d)$"
_OFFSET = re.compile(_OFFSET_RE)
_OTHER_FORMATS = ("%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S",
                  "%Y.%m.%d", "%Y.%m.%d %H:%M", "%Y.%m.%d %H:%M:%S",  # MetaTrader
                  "%Y%m%d %H%M%S", "%Y%m%d %H:%M:%S", "%Y%m%d %H:%M")  # Stooq, compact dates


def is_bar_file(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def file_stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(CSV_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


class RowNumbers(np.ndarray):
    """1-based data row numbers that remember how many lines precede the first data row of
    the file (``offset``; None for parquet files and DataFrames), so messages can give the
    line a text editor shows (`row_label`)."""

    def __new__(cls, n: int, offset: int | None):
        obj = np.arange(1, n + 1, dtype=np.int64).view(cls)
        obj.offset = offset
        return obj

    def __array_finalize__(self, obj) -> None:
        self.offset = getattr(obj, "offset", None)


def row_numbers(frame: pd.DataFrame) -> RowNumbers:
    return RowNumbers(len(frame), frame.attrs.get("header_lines"))


def row_label(rows, *positions: int) -> str:
    """``line 72, data row 71`` / ``lines 3 and 4, data rows 2 and 3`` for positions into ``rows``
    (``row 71`` alone where the source has no lines)."""
    numbers = [int(rows[p]) for p in positions]
    offset = getattr(rows, "offset", None)
    plural = "s" if len(numbers) > 1 else ""
    text = f"row{plural} {' and '.join(map(str, numbers))}"
    if offset is None:
        return text
    return f"line{plural} {' and '.join(str(n + offset) for n in numbers)}, data {text}"


def normalise_name(name: object) -> str:
    key = re.sub(r"[\s_\-.:<>]+", "", str(name).strip().lower())
    return _ALIASES.get(key, key)


def read_table(path: Path) -> pd.DataFrame:
    """The file as a DataFrame (index reset into columns), or `DataError`."""
    name = path.name.lower()
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; expected a header row and bar rows")
    try:
        if name.endswith(PARQUET_SUFFIXES):
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):
                frame = frame.reset_index()
        else:
            from backtest.sniff import read_csv

            frame = read_csv(path)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader failure is the user's file
        kind = "parquet" if name.endswith(PARQUET_SUFFIXES) else "CSV"
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataError(f"{path}: cannot be read as {kind} ({detail}); check the file is a valid {kind} bar file") from exc
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no data rows; add bars or remove the file")
    return frame


def _epoch_ns(values: np.ndarray) -> np.ndarray:
    """Epoch numbers to ns, unit by magnitude: <1e11 s, <1e14 ms, <1e17 us, else ns."""
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    scale = 1e9 if top < 1e11 else 1e6 if top < 1e14 else 1e3 if top < 1e17 else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.round(values * scale)
    out = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)
    ok = np.isfinite(scaled) & (np.abs(scaled) < 9.2e18)
    out[ok] = scaled[ok].astype(np.int64)
    return out


#: ``date_format`` values besides an explicit strptime format (one holding ``%``).
DATE_ORDERS = ("auto", "dayfirst", "monthfirst")
_NUMERIC_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{2}|\d{4})(?:[ T]+(.*))?$"
_TIMES = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", "T%H:%M", "T%H:%M:%S")


def check_date_format(value) -> str:
    """``date_format`` as given (``auto``, ``dayfirst``, ``monthfirst`` or a strptime format with
    ``%``), or `DataError` naming the fix."""
    if value is None:
        return "auto"
    if isinstance(value, str) and (value in DATE_ORDERS or "%" in value):
        return value
    raise DataError(f"date_format {value!r} is unknown; use auto, dayfirst (31/12/2024), monthfirst (12/31/2024) "
                    f"or a strptime format such as '%d.%m.%Y %H:%M'")


def date_order(text: pd.Series, date_format: str = "auto") -> str | None:
    """``dayfirst``/``monthfirst`` for a column of D/M/Y or M/D/Y dates, decided by the whole
    column: a first field above 12 anywhere means day-first, a second field above 12 means
    month-first. None when the column is not of that shape. A column where both readings are
    valid and differ (every day <= 12) is refused unless ``date_format`` says which, never
    guessed; so is one that contradicts a given order."""
    parts = text.dropna().str.extract(_NUMERIC_DATE)
    if len(parts) == 0 or parts[0].isna().any():
        return None
    first, second = parts[0].astype(int).to_numpy(), parts[2].astype(int).to_numpy()
    day_ok, month_ok = bool((second <= 12).all()), bool((first <= 12).all())
    if date_format in ("dayfirst", "monthfirst"):
        if not (day_ok if date_format == "dayfirst" else month_ok):
            k = int(np.flatnonzero((second if date_format == "dayfirst" else first) > 12)[0])
            raise DataError(f"date_format={date_format} but {text.dropna().iloc[k]!r} "
                            f"has a month above 12 in that reading; the dates are "
                            f"{'month' if date_format == 'dayfirst' else 'day'}-first: pass --date-format "
                            f"{'monthfirst' if date_format == 'dayfirst' else 'dayfirst'}")
        return date_format
    if day_ok and month_ok and bool((first != second).any()):
        k = int(np.flatnonzero(first != second)[0])
        sample = text.dropna().iloc[k]
        raise DataError(f"dates like {sample!r} can be read day-first or month-first (no day above 12 in the whole "
                        f"column tells which); pass --date-format dayfirst or monthfirst (TOML date_format = "
                        f"\"dayfirst\", Python date_format=\"dayfirst\")")
    if day_ok and not month_ok:
        return "dayfirst"
    return "monthfirst" if month_ok else None


def _order_formats(text: pd.Series, order: str) -> tuple[str, ...]:
    """strptime formats for D/M/Y (or M/D/Y) text with its separator and year width."""
    parts = text.dropna().str.extract(_NUMERIC_DATE)
    sep = str(parts[1].iloc[0])
    year = "%Y" if len(str(parts[3].iloc[0])) == 4 else "%y"
    date = f"%d{sep}%m{sep}{year}" if order == "dayfirst" else f"%m{sep}%d{sep}{year}"
    return tuple(date + t for t in _TIMES)


def _strings_to_datetime(text: pd.Series, date_format: str = "auto") -> pd.Series:
    text = text.str.replace(r"\s*(?:UTC|GMT)$", "+00:00", regex=True, case=False)
    first = text.dropna()
    aware = bool(len(first)) and bool(_OFFSET.search(str(first.iloc[0]).strip()))
    if "%" in date_format:
        formats: tuple[str, ...] = (date_format,)
    else:
        order = date_order(text, date_format)
        formats = _order_formats(text, order) if order else ("ISO8601",) + _OTHER_FORMATS
    best, best_bad = None, None
    for fmt in formats:  # no "mixed": it reads words like "now"
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=aware)
        except (ValueError, TypeError, OverflowError):
            continue
        bad = int((parsed.isna() & text.notna()).sum())
        if best is None or bad < best_bad:
            best, best_bad = parsed, bad
        if bad == 0:
            break
    if best is None:
        raise DataError(f"date_format {date_format!r} is not a valid strptime format; e.g. '%d.%m.%Y %H:%M'")
    return best


def mixed_zone_rows(column: pd.Series) -> tuple[int, int] | None:
    """Positions ``(without zone, with zone)`` of the first text timestamps of each kind when a
    column mixes both, else None: a naive row among offset rows would silently be read as UTC
    (or fail every row), so the file is refused instead of guessed."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype) or (
            pd.api.types.is_numeric_dtype(column.dtype)):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc  # RE2 over the whole column: no per-row Python regex on big files

    text = pc.utf8_trim_whitespace(pa.array(column.astype("string"), type=pa.string(), from_pandas=True))
    text = pc.replace_substring_regex(text, r"(?i)\s*(?:UTC|GMT)$", "+00:00")
    zoned = pc.match_substring_regex(text, _OFFSET_RE).to_numpy(zero_copy_only=False)
    datelike = pc.fill_null(pc.match_substring_regex(text, r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"), False)
    zoned = np.where(datelike.to_numpy(zero_copy_only=False), zoned, None)  # unparsable text: the parser's case
    has, lacks = zoned == True, zoned == False  # noqa: E712 - element-wise; None marks empty cells
    if not (has.any() and lacks.any()):
        return None
    return int(np.flatnonzero(lacks)[0]), int(np.flatnonzero(has)[0])


def _numeric_times(values: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    """Numbers are epoch times, except whole numbers that all read as YYYYMMDD dates
    (19000101..21001231; as epoch seconds they would all fall in August 1970)."""
    finite = values[np.isfinite(values)]
    if finite.size and (finite == np.round(finite)).all() and finite.min() >= 19000101 and finite.max() <= 21001231:
        text = pd.Series(values).map(lambda v: f"{int(v)}" if np.isfinite(v) else None)
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        if parsed.notna().sum() == finite.size:
            bad = parsed.isna().to_numpy()
            ns = parsed.astype("datetime64[ns]").to_numpy().view(np.int64).copy()
            ns[bad] = np.iinfo(np.int64).min
            return ns, False, bad
    ns = _epoch_ns(values)
    return ns, True, ns == np.iinfo(np.int64).min


def parse_timestamps(column: pd.Series, date_format: str = "auto") -> tuple[np.ndarray, bool, np.ndarray]:
    """``(ns, aware, bad)``: int64 ns (UTC when aware, wall time when naive), whether the
    source had a time zone, and a mask of rows that could not be parsed. ``date_format``:
    `check_date_format`; D/M/Y against M/D/Y is decided by `date_order`."""
    values = column
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed, aware = values.dt.tz_convert("UTC"), True
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed, aware = values, False
    elif pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return _numeric_times(values.to_numpy(dtype=np.float64, na_value=np.nan))
    else:
        text = values.astype("string").str.strip()
        text = text.mask(text == "")
        numeric = pd.to_numeric(text, errors="coerce")
        if numeric.notna().all() and len(text):
            return _numeric_times(numeric.to_numpy(dtype=np.float64))
        parsed = _strings_to_datetime(text, check_date_format(date_format))
        aware = isinstance(parsed.dtype, pd.DatetimeTZDtype)
        if aware:
            parsed = parsed.dt.tz_convert("UTC")
    filled = parsed.dt.tz_localize(None) if aware else parsed
    with np.errstate(all="ignore"):  # nanoseconds cover 1677-09 .. 2262-04
        filled = filled.where((filled > _NS_MIN_TIME) & (filled < _NS_MAX_TIME))
    bad = filled.isna().to_numpy()
    ns = filled.astype("datetime64[ns]").to_numpy().view(np.int64).copy()
    ns[bad] = np.iinfo(np.int64).min
    return ns, aware, bad
