"""Seeded synthetic bars that look like real markets: the bundled sample data.

Equity bars sit on the real exchange calendar (XNYS by default): 26 fifteen-minute
bars per full session, 14 on early closes, no bars on holidays, overnight and weekend
gaps in price. Returns follow a GARCH(1,1) with Student-t shocks (volatility
clustering, fat tails) on top of a Markov regime (calm/normal/stressed, each with its
own drift and volatility), scaled by a U-shaped intraday volatility profile; volume
is U-shaped within the session and rises with volatility. Crypto bars run 24/7; FX
bars 24/5 (Sunday 17:00 to Friday 17:00 New York), their volume a tick count.
`coarsen` aggregates any of them into weekly or monthly bars.

``signal`` plants a learnable effect (default 0, off): each bar's return gets
``signal * sigma_t * sign(previous bar's return)`` added, so the sign of the next
return is partly predictable from the last one. The trainer's learning test uses it.

The same seed always gives the same bars (numpy ``SeedSequence`` per symbol).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from backtest.bars import Bars
from backtest.errors import ConfigError
from backtest.sessions import calendar_sessions, tag_sessions

_NS_PER_MIN = 60 * 1_000_000_000
_TRADING_DAYS = 252
#: Regimes: (annual drift, volatility multiplier); switch probability per session.
_REGIMES = ((0.15, 0.75), (0.05, 1.0), (-0.30, 1.9))
_REGIME_P = (0.45, 0.4, 0.15)
_SWITCH_P = 1.0 / 40.0
_GARCH = (0.06, 0.92)  # alpha, beta; omega = 1 - alpha - beta (unit long-run variance)


@njit(cache=True)
def _garch_returns(z, scale, drift, alpha, beta, signal):
    """Log returns ``drift + scale * sqrt(h_t) * (z_t + signal * sign(r_{t-1}))``, GARCH(1,1) h."""
    n = z.shape[0]
    out = np.empty(n)
    omega = 1.0 - alpha - beta
    h = 1.0
    prev_r = 0.0
    prev_e = 0.0
    for t in range(n):
        if t > 0:
            h = omega + alpha * prev_e * prev_e + beta * h
            h = min(h, 25.0)
        sgn = 1.0 if prev_r > 0.0 else (-1.0 if prev_r < 0.0 else 0.0)
        e = np.sqrt(h) * z[t]
        r = drift[t] + scale[t] * (e + signal * np.sqrt(h) * sgn)
        out[t] = r
        prev_r = r
        prev_e = e
    return out


def _rng(seed: int, symbol: str) -> np.random.Generator:
    key = [int(seed) & 0xFFFFFFFF] + [ord(c) for c in symbol]
    return np.random.default_rng(np.random.SeedSequence(key))


def _check(timeframe, start, end) -> tuple[pd.Timedelta, pd.Timestamp, pd.Timestamp]:
    try:
        tf = pd.Timedelta(timeframe)
        t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"sample data: bad timeframe/start/end ({timeframe!r}, {start!r}, {end!r}): {exc}") from exc
    if tf <= pd.Timedelta(0):
        raise ConfigError(f"sample data: timeframe must be positive, got {timeframe!r}")
    if t1 <= t0:
        raise ConfigError(f"sample data: end ({end}) must be after start ({start})")
    return tf, t0.tz_localize(None) if t0.tz else t0, t1.tz_localize(None) if t1.tz else t1


def _regime_per_session(rng: np.random.Generator, n_sessions: int) -> np.ndarray:
    switches = rng.random(n_sessions) < _SWITCH_P
    switches[0] = True
    segment = np.cumsum(switches) - 1
    regimes = rng.choice(len(_REGIMES), size=int(segment[-1]) + 1, p=_REGIME_P)
    return regimes[segment]


def _ohlcv(rng, log_ret, open_gap, sigma, volume_shape, start_price, base_volume):
    """OHLCV from bar log returns; ``open_gap`` is the log gap between last close and open."""
    n = log_ret.shape[0]
    log_open = np.log(start_price) + np.cumsum(log_ret + open_gap) - log_ret
    log_close = log_open + log_ret
    wick = np.abs(rng.standard_normal((2, n))) * sigma * 0.6
    open_, close = np.exp(log_open), np.exp(log_close)
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    vol_ratio = np.abs(log_ret) / np.maximum(sigma, 1e-12)
    noise = np.exp(0.35 * rng.standard_normal(n))
    volume = np.round(base_volume * volume_shape * noise * (0.6 + 0.4 * vol_ratio))
    return open_, high, low, close, volume


def _bars(frame_data, index, symbol, asset_class, tf, calendar) -> Bars:
    frame = pd.DataFrame(
        dict(zip(("open", "high", "low", "close", "volume"), frame_data)),
        index=pd.DatetimeIndex(index.astype("datetime64[ns]"), name="timestamp").tz_localize("UTC"),
    )
    tagged = tag_sessions(frame, asset_class, calendar=calendar or "XNYS", timeframe=tf)
    return Bars(tagged, symbol=symbol, asset_class=asset_class, timeframe=tf, calendar=calendar, source="sample")


def generate_equity_bars(
    symbol: str = "SMPA",
    start: str = "2022-01-03",
    end: str = "2024-01-01",
    seed: int = 0,
    timeframe: str = "15min",
    calendar: str = "XNYS",
    start_price: float = 100.0,
    annual_vol: float = 0.25,
    base_volume: float = 50_000.0,
    signal: float = 0.0,
    annual_drift: float | None = None,
) -> Bars:
    """Bars on the sessions of ``calendar`` in ``[start, end)``; see the module docstring.

    ``annual_drift`` replaces the regimes' drifts by one expected annual return (0.0: a
    driftless random walk, volatility regimes kept), for markets with a known answer."""
    tf, t0, t1 = _check(timeframe, start, end)
    rng = _rng(seed, symbol)
    sessions, opens, closes, _, tz = calendar_sessions(calendar, t0, t1)
    sel = (sessions >= t0.value) & (sessions < t1.value)
    sessions, opens, closes = sessions[sel], opens[sel], closes[sel]
    if len(sessions) == 0:
        raise ConfigError(f"sample data: no {calendar} sessions between {start} and {end}")
    tf_ns = tf.value
    if tf >= pd.Timedelta(days=1):
        times = pd.DatetimeIndex(sessions.astype("datetime64[ns]")).tz_localize(tz).tz_convert("UTC").asi8
        per_session = np.ones(len(sessions), dtype=np.int64)
        bars_per_day = 1.0
    else:
        per_session = np.maximum((closes - opens) // tf_ns, 1)
        starts = np.repeat(np.cumsum(per_session) - per_session, per_session)
        k = np.arange(int(per_session.sum())) - starts
        times = np.repeat(opens, per_session) + k * tf_ns
        bars_per_day = float(np.median(per_session))
    n = len(times)
    first = np.zeros(n, dtype=bool)
    first[np.cumsum(per_session) - per_session] = True
    frac = (k + 0.5) / np.repeat(per_session, per_session) if n > len(sessions) else np.full(n, 0.5)
    u_shape = 1.0 + 1.6 * (2.0 * frac - 1.0) ** 2  # high at open and close, low at midday
    regime = np.repeat(_regime_per_session(rng, len(sessions)), per_session)
    drift_a = np.array([r[0] for r in _REGIMES])[regime] if annual_drift is None else np.full(n, float(annual_drift))
    vol_m = np.array([r[1] for r in _REGIMES])[regime]
    bar_sigma = annual_vol / np.sqrt(_TRADING_DAYS * bars_per_day)
    scale = bar_sigma * vol_m * np.sqrt(u_shape / u_shape.mean())
    drift = drift_a / (_TRADING_DAYS * bars_per_day) - 0.5 * scale**2
    z = rng.standard_t(5, n) / np.sqrt(5.0 / 3.0)
    log_ret = _garch_returns(z, scale, drift, _GARCH[0], _GARCH[1], float(signal))
    # overnight/weekend gap at each session open: variance grows with calendar days closed
    gap_days = np.diff(sessions, prepend=sessions[0] - 86_400 * 10**9) / (86_400 * 10**9)
    gap_sigma = annual_vol / np.sqrt(_TRADING_DAYS) * 0.35 * np.sqrt(gap_days) * (bars_per_day > 1)
    open_gap = np.zeros(n)
    open_gap[first] = gap_sigma * rng.standard_normal(len(sessions))
    open_gap[0] = 0.0
    data = _ohlcv(rng, log_ret, open_gap, scale, u_shape, start_price, base_volume)
    return _bars(data, times, symbol, "equity", tf, calendar)


def generate_crypto_bars(
    symbol: str = "SMPX-USD",
    start: str = "2022-01-01",
    end: str = "2024-01-01",
    seed: int = 0,
    timeframe: str = "15min",
    start_price: float = 20_000.0,
    annual_vol: float = 0.6,
    base_volume: float = 20.0,
    signal: float = 0.0,
) -> Bars:
    """24/7 bars in ``[start, end)`` (UTC) with the same return model, no gaps."""
    tf, t0, t1 = _check(timeframe, start, end)
    rng = _rng(seed, symbol)
    times = np.arange(t0.value, t1.value, tf.value, dtype=np.int64)
    n = len(times)
    bars_per_day = 86_400 * 10**9 / tf.value
    day = (times - times[0]) // (86_400 * 10**9)
    regime = _regime_per_session(rng, int(day[-1]) + 1)[day]
    hour = (times // (3_600 * 10**9)) % 24
    daily_shape = 1.0 + 0.5 * np.cos((hour - 15) / 24.0 * 2 * np.pi)  # busiest in US afternoon
    drift_a = np.array([r[0] for r in _REGIMES])[regime]
    vol_m = np.array([r[1] for r in _REGIMES])[regime]
    scale = annual_vol / np.sqrt(365.0 * bars_per_day) * vol_m * np.sqrt(daily_shape / daily_shape.mean())
    drift = drift_a / (365.0 * bars_per_day) - 0.5 * scale**2
    z = rng.standard_t(4, n) / np.sqrt(2.0)
    log_ret = _garch_returns(z, scale, drift, _GARCH[0], _GARCH[1], float(signal))
    data = _ohlcv(rng, log_ret, np.zeros(n), scale, daily_shape, start_price, base_volume)
    return _bars(data, times, symbol, "crypto", tf, None)


def generate_fx_bars(
    symbol: str = "SMPEURUSD",
    start: str = "2022-01-03",
    end: str = "2024-01-01",
    seed: int = 0,
    timeframe: str = "1h",
    start_price: float = 1.08,
    annual_vol: float = 0.07,
    base_volume: float = 2_000.0,
    signal: float = 0.0,
) -> Bars:
    """24/5 bars in ``[start, end)`` (UTC grid; bars of the New York 17:00 trading days
    Monday to Friday, none over the weekend) with the same return model; volume is a tick
    count (busiest in the London/New York overlap)."""
    tf, t0, t1 = _check(timeframe, start, end)
    rng = _rng(seed, symbol)
    grid = np.arange(t0.value, t1.value, tf.value, dtype=np.int64)
    if tf >= pd.Timedelta(days=1):
        day = grid.astype("datetime64[ns]").astype("datetime64[D]")
    else:  # the trading day of a bar: its New York wall time plus 7 hours (17:00 rolls the day)
        ny = pd.DatetimeIndex(grid.astype("datetime64[ns]")).tz_localize("UTC").tz_convert("America/New_York")
        day = (ny.tz_localize(None) + pd.Timedelta(hours=7)).normalize().asi8.astype("datetime64[ns]").astype(
            "datetime64[D]")
    times = grid[np.is_busday(day)]
    if len(times) == 0:
        raise ConfigError(f"sample data: no FX trading hours between {start} and {end}")
    n = len(times)
    bars_per_day = 86_400 * 10**9 / tf.value if tf < pd.Timedelta(days=1) else 1.0
    session = (times - times[0]) // (86_400 * 10**9)
    regime = _regime_per_session(rng, int(session[-1]) + 1)[session]
    hour = (times // (3_600 * 10**9)) % 24
    daily_shape = 1.0 + 0.8 * np.exp(-0.5 * ((hour - 14.0) / 3.0) ** 2)  # London/New York overlap
    drift_a = np.array([r[0] for r in _REGIMES])[regime] * 0.1
    vol_m = np.array([r[1] for r in _REGIMES])[regime]
    scale = annual_vol / np.sqrt(260.0 * bars_per_day) * vol_m * np.sqrt(daily_shape / daily_shape.mean())
    drift = drift_a / (260.0 * bars_per_day) - 0.5 * scale**2
    z = rng.standard_t(5, n) / np.sqrt(5.0 / 3.0)
    log_ret = _garch_returns(z, scale, drift, _GARCH[0], _GARCH[1], float(signal))
    data = _ohlcv(rng, log_ret, np.zeros(n), scale, daily_shape, start_price, base_volume)
    return _bars(data, times, symbol, "fx", tf, None)


def coarsen(bars: Bars, timeframe) -> Bars:
    """Weekly (``1W``) or monthly (``1mo``) bars from finer ones: each calendar week (Monday
    start) or month of the bars' sessions becomes one bar stamped at its first bar (first
    open, highest high, lowest low, last close, summed volume), tagged as a coarse bar."""
    from backtest.timeframes import MONTH, WEEK, parse_timeframe_arg

    tf = parse_timeframe_arg(timeframe)
    if tf not in (WEEK, MONTH):
        raise ConfigError(f"coarsen: timeframe must be a week (1W) or a month (1mo), got {timeframe!r}")
    sessions = pd.DatetimeIndex(bars.frame["session"])
    key = sessions.to_period("W-SUN" if tf == WEEK else "M").asi8
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    f = bars.frame
    data = (f["open"].to_numpy()[starts], np.maximum.reduceat(f["high"].to_numpy(), starts),
            np.minimum.reduceat(f["low"].to_numpy(), starts), f["close"].to_numpy()[np.r_[starts[1:], len(f)] - 1],
            np.add.reduceat(f["volume"].to_numpy(), starts))
    return _bars(data, bars.timestamps_ns[starts], bars.symbol, bars.asset_class, tf, bars.calendar)


def sample_bars(
    seed: int = 0,
    symbols: tuple[str, ...] = ("SMPA", "SMPB", "SMPC"),
    start: str = "2022-01-03",
    end: str = "2024-01-01",
    timeframe: str = "15min",
    calendar: str = "XNYS",
    signal: float = 0.0,
) -> list[Bars]:
    """The bundled sample: one equity `Bars` per symbol, deterministic for ``seed``.

    Symbols get different start prices and volatilities so they are not clones.
    """
    if len(symbols) == 0:
        raise ConfigError("sample_bars: symbols is empty; pass at least one symbol name")
    out = []
    for i, symbol in enumerate(symbols):
        out.append(
            generate_equity_bars(
                symbol, start, end, seed=seed, timeframe=timeframe, calendar=calendar,
                start_price=50.0 + 40.0 * i, annual_vol=0.2 + 0.08 * (i % 3), signal=signal,
            )
        )
    return out
