"""Shared hypothesis strategies for bars.

`bars_strategy` draws a handful of scalars (seed, length, timeframe, start, flags)
and builds the series with numpy from that seed, so examples are cheap and shrink
well (shrinking moves the length and flags, not thousands of prices).

Equity examples start near early closes, holidays and DST changes often, so every
property gets to see short sessions and calendar gaps; all examples may contain
random missing bars, flat stretches (open = high = low = close) and zero volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from backtest.bars import Bars
from backtest.sessions import calendar_sessions, tag_sessions

_NS_MIN = 60 * 1_000_000_000
_FIRST = pd.Timestamp("2015-01-01")
_LAST = pd.Timestamp("2025-06-30")
_EQUITY_TIMEFRAMES = ("5min", "15min", "30min", "1h", "1D")
_DAY_TIMEFRAMES = ("1min", "15min", "1h", "4h", "1D")


def _special_starts(sessions, opens, closes) -> np.ndarray:
    """Session positions just before early closes, holidays (gaps > 1 weekday) and DST shifts."""
    length = closes - opens
    early = np.flatnonzero(length < np.median(length))
    days = np.diff(sessions) // (86_400 * 10**9)
    holiday = np.flatnonzero((days > 1) & ~np.isin(days, (3,)))
    utc_open_min = (opens % (86_400 * 10**9)) // _NS_MIN
    dst = np.flatnonzero(np.diff(utc_open_min) != 0)
    return np.unique(np.concatenate([early, holiday, dst]))


def _equity_times(rng, tf: pd.Timedelta, n: int, special: bool, calendar: str) -> np.ndarray:
    sessions, opens, closes, _, tz = calendar_sessions(calendar, _FIRST, _LAST)
    lo, hi = np.searchsorted(sessions, [_FIRST.value, _LAST.value])
    if special:
        marks = _special_starts(sessions[lo:hi], opens[lo:hi], closes[lo:hi]) + lo
        start = int(max(lo, rng.choice(marks) - rng.integers(0, 3)))
    else:
        start = int(rng.integers(lo, hi - 10))
    if tf >= pd.Timedelta(days=1):
        sel = sessions[start : start + n]
        return pd.DatetimeIndex(sel.astype("datetime64[ns]")).tz_localize(tz).tz_convert("UTC").asi8
    per = max(1, int((closes[start] - opens[start]) // tf.value))
    k_sessions = n // max(1, per // 2) + 2
    o, c = opens[start : start + k_sessions], closes[start : start + k_sessions]
    count = np.maximum((c - o) // tf.value, 1)
    first = np.repeat(np.cumsum(count) - count, count)
    k = np.arange(int(count.sum())) - first
    return (np.repeat(o, count) + k * tf.value)[:n]


def _day_times(rng, tf: pd.Timedelta, n: int, asset_class: str) -> np.ndarray:
    start = _FIRST + pd.Timedelta(days=int(rng.integers(0, 3000)))
    if asset_class == "fx":  # start on a Monday..Wednesday so short grids are not all weekend
        start = start - pd.Timedelta(days=start.day_of_week) + pd.Timedelta(days=int(rng.integers(0, 3)))
    step = tf.value
    grid = start.value + step * np.arange(n * 3 if asset_class == "fx" else n, dtype=np.int64)
    if asset_class == "fx" and tf < pd.Timedelta(days=1):
        frame = pd.DataFrame(index=pd.DatetimeIndex(grid.astype("datetime64[ns]")).tz_localize("UTC"))
        grid = tag_sessions(frame, "fx", timeframe=tf).index.asi8
    elif asset_class == "fx":
        days = grid.astype("datetime64[ns]").astype("datetime64[D]")
        grid = grid[np.is_busday(days)]
    return grid[:n]


def _prices(rng, n: int, flat: bool, zero_volume: bool) -> dict[str, np.ndarray]:
    sigma = float(rng.uniform(0.0005, 0.03))
    log_ret = rng.standard_normal(n) * sigma
    gap = rng.standard_normal(n) * sigma * 0.3
    if flat and n > 2:
        a = int(rng.integers(0, n - 1))
        b = int(min(n, a + rng.integers(1, max(2, n // 3))))
        log_ret[a:b] = 0.0
        gap[a:b] = 0.0
    price0 = float(np.exp(rng.uniform(np.log(0.5), np.log(5000.0))))
    log_open = np.log(price0) + np.cumsum(log_ret + gap) - log_ret
    open_ = np.exp(log_open)
    close = np.exp(log_open + log_ret)
    wick = np.abs(rng.standard_normal((2, n))) * sigma * 0.5
    if flat and n > 2:
        wick[:, a:b] = 0.0
        close[a:b] = open_[a:b]
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = np.round(rng.lognormal(8.0, 1.0, n))
    if zero_volume:
        volume[rng.random(n) < 0.2] = 0.0
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


@st.composite
def bars_strategy(
    draw,
    asset_class: str | None = None,
    min_bars: int = 2,
    max_bars: int = 300,
    timeframes: tuple[str, ...] | None = None,
    calendar: str = "XNYS",
) -> Bars:
    """Valid random `Bars` (session-tagged, sorted, unique, OHLC consistent).

    ``asset_class`` None draws one of equity/crypto/fx. Bars may be missing at random
    (gaps), so the series is not a perfect grid, but it always has at least ``min_bars``.
    """
    ac = asset_class or draw(st.sampled_from(("equity", "crypto", "fx")))
    choices = timeframes or (_EQUITY_TIMEFRAMES if ac == "equity" else _DAY_TIMEFRAMES)
    tf = pd.Timedelta(draw(st.sampled_from(choices)))
    seed = draw(st.integers(0, 2**32 - 1))
    n_target = draw(st.integers(min_bars, max_bars))
    gap_p = draw(st.sampled_from((0.0, 0.0, 0.05, 0.3)))
    flat = draw(st.booleans())
    zero_volume = draw(st.booleans())
    special = draw(st.booleans())
    rng = np.random.default_rng(seed)
    extra = int(n_target * gap_p * 1.6) + 4
    if ac == "equity":
        times = _equity_times(rng, tf, n_target + extra, special, calendar)
    else:
        times = _day_times(rng, tf, n_target + extra, ac)
    drop = rng.random(len(times)) < gap_p
    keep = np.flatnonzero(~drop)
    if len(keep) < min_bars:
        keep = np.arange(len(times))
    times = times[keep][: max(n_target, min_bars)]
    data = _prices(rng, len(times), flat, zero_volume)
    index = pd.DatetimeIndex(times.astype("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    frame = tag_sessions(pd.DataFrame(data, index=index), ac, calendar=calendar, timeframe=tf)
    return Bars(frame, symbol=f"HYP{ac[:2].upper()}", asset_class=ac, timeframe=tf,
                calendar=calendar if ac == "equity" else None, source="hypothesis")


@st.composite
def near_pdt_accounts(draw, include_close: bool | None = None):
    """Accounts that straddle the PDT threshold (DESIGN 3.5: equity at the PREVIOUS close below
    25,000): 24,000-26,000 of equity, all of it tradable (``max_position=1.0``, no safety
    buffer, full base allocation), so a few bars' moves carry the equity across 25,000 and
    the previous close, the current equity and the open's equity fall on different sides.
    Policies fed accounts always under (1k-3k) or always over (30k+) cannot tell them apart.
    """
    from backtest.account import AccountConfig

    close = draw(st.booleans()) if include_close is None else include_close
    return AccountConfig(initial_equity=draw(st.sampled_from([24_000.0, 24_800.0, 25_000.0, 25_100.0, 25_600.0])),
                         safety_buffer=0.0, base_allocation=1.0, max_position=1.0,
                         allow_short=draw(st.booleans()), include_close_action=close,
                         min_order_notional=draw(st.sampled_from([0.0, 1.0])))


@st.composite
def pdt_straddle_bars(draw, min_sessions: int = 3, max_sessions: int = 8) -> Bars:
    """Equity bars that carry an account near 25,000 across the PDT threshold: 30-minute bars
    from the open of 3-8 consecutive XNYS sessions (3-7 a session: an early close still fits),
    moves of 1-4% a bar and opening gaps twice that, so a position of most of the equity
    puts the previous close, the last mark and the open's equity on different sides of it."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_sessions = draw(st.integers(min_sessions, max_sessions))
    per = draw(st.integers(3, 7))
    rng = np.random.default_rng(seed)
    sessions, opens, _, _, _ = calendar_sessions("XNYS", _FIRST, _LAST)
    lo, hi = np.searchsorted(sessions, [_FIRST.value, _LAST.value])
    k0 = int(rng.integers(lo, hi - n_sessions))
    times = (opens[k0:k0 + n_sessions, None] + np.arange(per)[None, :] * 30 * _NS_MIN).reshape(-1)
    n = len(times)
    sigma = float(rng.uniform(0.01, 0.04))
    log_ret = rng.standard_normal(n) * sigma
    gap = np.where(np.arange(n) % per == 0, rng.standard_normal(n) * 2 * sigma, 0.0)
    log_open = np.log(100.0) + np.cumsum(log_ret + gap) - log_ret
    open_, close = np.exp(log_open), np.exp(log_open + log_ret)
    data = {"open": open_, "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998,
            "close": close, "volume": np.round(rng.lognormal(10.0, 1.0, n))}
    index = pd.DatetimeIndex(times.astype("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    frame = tag_sessions(pd.DataFrame(data, index=index), "equity", timeframe=pd.Timedelta("30min"))
    return Bars(frame, symbol="HYPPDT", asset_class="equity", timeframe=pd.Timedelta("30min"), calendar="XNYS",
                source="hypothesis")


#: Action probabilities of a day trader (7 actions; CLOSE, when present, shares SELL_75's): few
#: HOLDs, large buys and full or large sells, so round trips within a session are frequent.
DAY_TRADER = (0.1, 0.05, 0.1, 0.3, 0.05, 0.1, 0.3)


def day_trader_probs(n_actions: int) -> list[float]:
    p = list(DAY_TRADER)
    if n_actions == 8:
        p[6] /= 2
        p.append(p[6])
    return p
