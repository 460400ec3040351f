"""Session tagging: which trading session each bar belongs to, and where in it.

Everything is computed in UTC nanoseconds against arrays of session opens and
closes, so daylight-saving changes, early closes and holidays come straight from
the calendar and tagging a million bars is a handful of vectorised searches.

Conventions (documented in `backtest.bars.Bars`):

- equity: sessions of an `exchange_calendars` calendar (XNYS by default).
  ``session_index`` is the session's position in the calendar counted from a fixed
  anchor (the first session on or after 1990-01-01, index 0; earlier sessions are
  negative), so it is the same number whatever range of data is loaded.
  Intraday bars outside regular hours are dropped unless ``keep_extended``; kept
  extended bars belong to the session of their exchange-local date (or the next
  session when that date is not one) and have negative ``minutes_from_open``
  (pre-market) or negative ``minutes_to_close`` (after hours).
- crypto: the session is the UTC date, 24 hours; ``session_index`` is days since
  1970-01-01.
- fx: the session is the New York 17:00 trading day (Sunday 17:00 to Friday 17:00
  New York time, 24 hours each); ``session_index`` counts business days since
  1970-01-01. Bars in the weekend gap are dropped unless ``keep_extended``.
- daily (or longer) bars: the session is the bar's date (exchange-local for
  equities unless every bar is stamped at exactly 00:00 UTC, UTC otherwise), ``minutes_from_open`` is 0 and ``minutes_to_close``
  the session's length. Equity daily bars on dates that are not sessions are
  dropped unless ``keep_extended`` (then they join the next session).
- coarse bars (a ``timeframe`` longer than a day: weekly, monthly; `backtest.timeframes`):
  each bar belongs to the first session on or after its date (equities: the calendar's
  next session, so a month stamped on a holiday or a Saturday the 1st belongs to the
  next trading day; FX: the next business day; crypto: the UTC date) and is never
  dropped; ``minutes_from_open`` is 0 and ``minutes_to_close`` that session's length.
  Consecutive coarse bars are many sessions apart by design (not gaps).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

from backtest.bars import ASSET_CLASSES
from backtest.errors import DataError
from backtest.timeframes import is_coarse

#: Sessions are numbered from the first session on or after this date (index 0).
SESSION_ANCHOR = pd.Timestamp("1990-01-01")
_NS_PER_MIN = 60 * 1_000_000_000
_NS_PER_DAY = 86_400 * 1_000_000_000
_FX_ROLL = pd.Timedelta(hours=7)  # New York 17:00 + 7h = next trading day's midnight
_FX_TZ = "America/New_York"
_MIN_YEAR, _MAX_YEARS_AHEAD = 1900, 30  # calendars are built for whole years in this range


@functools.lru_cache(maxsize=16)
def _calendar(name: str, start_year: int, end_year: int):
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():  # exchange_calendars trips a pandas 3.1 deprecation
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return xcals.get_calendar(name, start=f"{start_year}-01-01", end=f"{end_year}-12-31")
    except xcals.errors.InvalidCalendarName as exc:
        raise DataError(
            f"calendar {name!r} is not a known exchange calendar; use an exchange_calendars "
            f"code such as 'XNYS', 'XNAS' or 'XLON'"
        ) from exc


def _years(first: pd.Timestamp, last: pd.Timestamp) -> tuple[int, int]:
    """Whole-year calendar bounds covering the anchor and ``[first, last]``; the end is
    rounded up to a multiple of 5 years so nearby ranges share one cache entry."""
    this_year = pd.Timestamp.now().year
    if first.year < _MIN_YEAR or last.year > this_year + _MAX_YEARS_AHEAD:
        raise DataError(
            f"equity timestamps span {first} .. {last}, outside the {_MIN_YEAR}..{this_year + _MAX_YEARS_AHEAD} "
            f"range an exchange calendar is built for; check the timestamp column and its unit"
        )
    start_year = min(SESSION_ANCHOR.year, int(first.year) - 1)
    end_year = max(this_year + 1, int(last.year) + 1)
    return start_year, end_year + (-end_year) % 5


def get_calendar(name: str, first: pd.Timestamp, last: pd.Timestamp):
    """A cached `exchange_calendars` calendar covering the anchor and ``[first, last]``."""
    return _calendar(name, *_years(first, last))


@functools.lru_cache(maxsize=16)
def _session_arrays(name: str, start_year: int, end_year: int):
    cal = _calendar(name, start_year, end_year)
    sessions = cal.sessions.as_unit("ns").asi8
    opens = pd.DatetimeIndex(cal.opens).as_unit("ns").asi8
    closes = pd.DatetimeIndex(cal.closes).as_unit("ns").asi8
    offset = int(np.searchsorted(sessions, SESSION_ANCHOR.value, side="left"))
    return sessions, opens, closes, offset, str(cal.tz)


def calendar_sessions(name: str, first: pd.Timestamp, last: pd.Timestamp):
    """``(session dates, opens, closes, anchor offset, tz)``: int64 ns arrays (UTC; dates
    tz-naive midnight) of a calendar covering ``[first, last]``; session ``k`` has
    ``session_index = k - offset``."""
    return _session_arrays(name, *_years(first, last))


def _utc_index(frame: pd.DataFrame) -> pd.DatetimeIndex:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"tag_sessions needs a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise DataError("tag_sessions needs a tz-aware (UTC) index; localise timestamps first")
    return index.tz_convert("UTC").as_unit("ns").rename("timestamp")


def _is_daily(index: pd.DatetimeIndex, tz: str, timeframe: pd.Timedelta | None) -> bool:
    if timeframe is not None:
        return pd.Timedelta(timeframe) >= pd.Timedelta(days=1)
    if len(index) < 2:
        return False
    local = index.tz_convert(tz)
    midnight = bool((local == local.normalize()).all())
    return midnight and int(np.diff(index.asi8).min()) >= _NS_PER_DAY // 2


def _finish(frame, keep, session_ns, session_index, from_open_ns, to_close_ns) -> pd.DataFrame:
    out = frame.copy() if keep is None else frame.loc[keep].copy()
    if keep is not None:
        session_ns, session_index = session_ns[keep], session_index[keep]
        from_open_ns, to_close_ns = from_open_ns[keep], to_close_ns[keep]
    out["session"] = pd.DatetimeIndex(session_ns.astype("datetime64[ns]"))
    out["session_index"] = session_index.astype(np.int64)
    out["minutes_from_open"] = from_open_ns.astype(np.float64) / _NS_PER_MIN
    out["minutes_to_close"] = to_close_ns.astype(np.float64) / _NS_PER_MIN
    return out


def _tag_equity(frame, ts, calendar, keep_extended, daily, coarse=False) -> pd.DataFrame:
    if len(ts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _finish(frame, None, empty, empty, empty, empty)
    sessions, opens, closes, offset, tz = calendar_sessions(calendar, ts[0], ts[-1])
    ns = ts.asi8
    if daily and bool((ns % _NS_PER_DAY == 0).all()):
        local_date = ns  # daily bars stamped at UTC midnight name their session by the UTC date
    else:
        local_date = ts.tz_convert(tz).tz_localize(None).normalize().asi8
    by_date = np.searchsorted(sessions, local_date, side="left")  # first session >= date
    by_date_c = np.minimum(by_date, len(sessions) - 1)
    if coarse:  # weekly/monthly: the first session on or after the bar's date, never dropped
        pos = by_date_c
        kept = by_date < len(sessions)
        keep = None if bool(kept.all()) else kept
        return _finish(frame, keep, sessions[pos], pos - offset, np.zeros(len(ns), dtype=np.int64),
                       closes[pos] - opens[pos])
    if daily:
        on_session = (by_date < len(sessions)) & (sessions[by_date_c] == local_date)
        pos = by_date_c
        from_open = np.zeros(len(ns), dtype=np.int64)
        to_close = closes[pos] - opens[pos]
        regular = on_session
    else:
        pos_reg = np.searchsorted(opens, ns, side="right") - 1
        pos_reg_c = np.maximum(pos_reg, 0)
        regular = (pos_reg >= 0) & (ns < closes[pos_reg_c])
        pos = np.where(regular, pos_reg_c, by_date_c)
        from_open = ns - opens[pos]
        to_close = closes[pos] - ns
    kept = (regular | (by_date < len(sessions))) if keep_extended else regular
    keep = None if bool(kept.all()) else kept
    return _finish(frame, keep, sessions[pos], pos - offset, from_open, to_close)


def _tag_crypto(frame, ts, daily) -> pd.DataFrame:
    ns = ts.asi8
    day = ns // _NS_PER_DAY
    session_ns = day * _NS_PER_DAY
    from_open = ns - session_ns
    to_close = np.full(len(ns), _NS_PER_DAY, dtype=np.int64) if daily else _NS_PER_DAY - from_open
    if daily:
        from_open = np.zeros(len(ns), dtype=np.int64)
    return _finish(frame, None, session_ns, day, from_open, to_close)


def _tag_fx(frame, ts, keep_extended, daily, coarse=False) -> pd.DataFrame:
    if coarse:  # weekly/monthly: the bar's UTC date, rolled forward to a business day, never dropped
        days = np.busday_offset((ts.asi8 // _NS_PER_DAY).astype("datetime64[D]"), 0, roll="forward")
        session_ns = days.astype("datetime64[ns]").astype(np.int64)
        session_index = np.busday_count(np.datetime64("1970-01-01", "D"), days)
        zero = np.zeros(len(ts), dtype=np.int64)
        return _finish(frame, None, session_ns, session_index, zero, np.full(len(ts), _NS_PER_DAY, dtype=np.int64))
    if daily:
        session_ns = (ts.asi8 // _NS_PER_DAY) * _NS_PER_DAY
        from_open = np.zeros(len(ts), dtype=np.int64)
        to_close = np.full(len(ts), _NS_PER_DAY, dtype=np.int64)
    else:
        shifted = (ts.tz_convert(_FX_TZ).tz_localize(None) + _FX_ROLL).asi8
        session_ns = (shifted // _NS_PER_DAY) * _NS_PER_DAY
        from_open = shifted - session_ns
        to_close = _NS_PER_DAY - from_open
    days = session_ns.astype("datetime64[ns]").astype("datetime64[D]")
    weekday = np.is_busday(days)
    session_index = np.busday_count(np.datetime64("1970-01-01", "D"), days)
    keep = None if (keep_extended or bool(weekday.all())) else weekday
    return _finish(frame, keep, session_ns, session_index, from_open, to_close)


def tag_sessions(
    frame: pd.DataFrame,
    asset_class: str,
    calendar: str = "XNYS",
    keep_extended: bool = False,
    timeframe: pd.Timedelta | str | None = None,
) -> pd.DataFrame:
    """Return a copy of ``frame`` with ``session session_index minutes_from_open
    minutes_to_close`` added (and out-of-session bars dropped unless ``keep_extended``).

    ``frame`` must have a sorted tz-aware DatetimeIndex. ``timeframe`` of a day or more
    selects daily tagging, longer than a day coarse tagging (module docstring); when None,
    daily is inferred from bars all stamped at local midnight at least half a day apart.
    """
    if asset_class not in ASSET_CLASSES:
        raise DataError(f"asset_class must be one of {ASSET_CLASSES}, got {asset_class!r}")
    ts = _utc_index(frame)
    frame = frame.set_axis(ts)  # always: a New York index "equals" its UTC twin by value
    tf = None if timeframe is None else pd.Timedelta(timeframe)
    coarse = is_coarse(tf)
    if asset_class == "equity":
        cal_tz = calendar_sessions(calendar, ts[0], ts[-1])[4] if len(ts) else "UTC"
        return _tag_equity(frame, ts, calendar, keep_extended, _is_daily(ts, cal_tz, tf), coarse)
    if asset_class == "crypto":
        return _tag_crypto(frame, ts, _is_daily(ts, "UTC", tf))
    return _tag_fx(frame, ts, keep_extended, _is_daily(ts, "UTC", tf), coarse)
