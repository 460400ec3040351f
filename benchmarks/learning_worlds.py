"""Synthetic worlds with a planted, tradable edge and a known oracle rule (issue 24).

Every world is XNYS bars from `backtest.sample_data.generate_equity_bars` (GARCH returns,
Student-t shocks, volatility regimes, no drift unless named), with an effect added to each
bar's open-to-close log return ``r_t``. Decisions follow the simulator's timing: the
decision at bar t sees rows up to t-1 and fills at ``open[t]``, the position is marked at
``close[t]``, so an effect on ``r_t`` known from bars up to t-1 (or from the clock) is
tradable. Strength ``s`` is in units of the bar's volatility:

- ``lag1``: ``r_t += s * sigma_t * sign(r_{t-1})`` (the generator's own ``signal``);
- ``meanrev``: after ``K`` bars in a row in one direction, ``r_t -= s * sigma * sign``;
- ``tod`` (15-minute bars only): the first two bars of each session get ``+s * sigma``,
  the last two ``-s * sigma``;
- ``volreg``: lag-1 persistence ``s`` only while the last 20 bars' volatility is above
  its median over the whole series (a regime effect), none otherwise;
- ``null`` / ``nulldrift``: a driftless random walk / +20% a year.

`oracle_actions` gives the rule that knows the effect (BUY_75 up to the cap when it
predicts a rise, CLOSE otherwise; the CLOSE action must be enabled). World names:
``<effect>_<daily|15m>_<strength x 100>``, e.g. ``lag1_daily_030``.
"""

from __future__ import annotations

import numpy as np

from backtest.errors import ConfigError

EFFECTS = ("lag1", "meanrev", "tod", "volreg", "null", "nulldrift")
SPAN = {"daily": ("2014-01-01", "2023-07-01", "1D"), "15m": ("2022-01-03", "2023-01-01", "15min")}
ANNUAL_VOL = 0.19  # about 1.2% a day
K_RUN = 3
BUY75, CLOSE = 3, 7


def parse(name: str) -> tuple[str, str, float]:
    parts = name.split("_")
    if len(parts) != 3 or parts[0] not in EFFECTS or parts[1] not in SPAN or not parts[2].isdigit():
        raise ConfigError(f"world {name!r}: use <effect>_<daily|15m>_<strength x 100> with effect in {EFFECTS}, "
                          "e.g. lag1_daily_030")
    if parts[0] == "tod" and parts[1] != "15m":
        raise ConfigError(f"world {name!r}: the time-of-day effect needs intraday bars (15m)")
    return parts[0], parts[1], int(parts[2]) / 100.0


def _rebuild(bars, log_ret):
    """The same bars with new open-to-close log returns (gaps, wicks and volume kept)."""
    import pandas as pd

    from backtest.bars import Bars

    o, h, lo, c = bars.open, bars.high, bars.low, bars.close
    gap = np.r_[0.0, np.log(o[1:] / c[:-1])]
    log_open = np.log(o[0]) + np.cumsum(log_ret + gap) - log_ret
    new_o, new_c = np.exp(log_open), np.exp(log_open + log_ret)
    up = np.maximum(o, c)
    dn = np.minimum(o, c)
    frame = pd.DataFrame({"open": new_o, "high": np.maximum(new_o, new_c) * h / up,
                          "low": np.minimum(new_o, new_c) * lo / dn, "close": new_c,
                          "volume": bars.frame["volume"].to_numpy()}, index=bars.frame.index)
    extra = [col for col in bars.frame.columns if col not in frame.columns]
    for col in extra:
        frame[col] = bars.frame[col].to_numpy()
    return Bars(frame, symbol=bars.symbol, asset_class=bars.asset_class, timeframe=bars.timeframe,
                calendar=bars.calendar, source="synthetic")


def _first_last(bars) -> tuple[np.ndarray, np.ndarray]:
    """Position of each bar in its session from the start and from the end (0 = first/last)."""
    ts = bars.frame.index.tz_convert("America/New_York")
    day = np.asarray(ts.normalize().asi8)
    new = np.r_[True, day[1:] != day[:-1]]
    sid = np.cumsum(new) - 1
    first_idx = np.flatnonzero(new)
    size = np.diff(np.r_[first_idx, len(day)])
    pos = np.arange(len(day)) - first_idx[sid]
    return pos, size[sid] - 1 - pos


def make_world(name: str, seed: int):
    """The world's bars (see the module doc)."""
    from backtest.sample_data import generate_equity_bars

    effect, span, s = parse(name)
    start, end, tf = SPAN[span]
    drift = 0.20 if effect == "nulldrift" else 0.0
    signal = s if effect == "lag1" else 0.0
    bars = generate_equity_bars(f"W{seed}", start, end, seed=seed, timeframe=tf, annual_vol=ANNUAL_VOL,
                                signal=signal, annual_drift=drift)
    if effect in ("lag1", "null", "nulldrift"):
        return bars
    r = np.log(bars.close / bars.open)
    sigma = float(np.std(r))
    if effect == "tod":
        pos, back = _first_last(bars)
        r = r + s * sigma * ((pos < 2).astype(float) - (back < 2).astype(float))
    elif effect == "meanrev":
        r = r.copy()
        run = 0
        for t in range(len(r)):
            if abs(run) >= K_RUN:
                r[t] -= s * sigma * np.sign(run)
            sg = 1 if r[t] > 0 else -1
            run = run + sg if run * sg > 0 else sg
    elif effect == "volreg":
        r = r.copy()
        vol = np.full(len(r), np.nan)
        for t in range(20, len(r)):
            vol[t] = np.std(r[t - 20:t])
        hi = vol > np.nanmedian(vol)
        for t in range(1, len(r)):
            if hi[t]:
                r[t] += s * sigma * np.sign(r[t - 1])
    return _rebuild(bars, r)


def oracle_actions(name: str, bars) -> np.ndarray:
    """One action per bar: BUY_75 where the planted effect predicts a rise (known at the
    decision), CLOSE elsewhere (the null worlds' oracle stays flat)."""
    effect, _span, _s = parse(name)
    r = np.log(bars.close / bars.open)
    prev = np.r_[0.0, r[:-1]]
    n = len(r)
    if effect in ("null", "nulldrift"):
        long = np.zeros(n, dtype=bool)
    elif effect == "lag1":
        long = prev > 0
    elif effect == "tod":
        pos, _back = _first_last(bars)
        long = pos < 2
    elif effect == "meanrev":
        long = np.zeros(n, dtype=bool)
        run = 0
        for t in range(n):
            long[t] = run <= -K_RUN
            sg = 1 if r[t] > 0 else -1
            run = run + sg if run * sg > 0 else sg
    else:  # volreg: the regime is known from the last 20 bars; the threshold from the world's law
        vol = np.full(n, np.nan)
        for t in range(20, n):
            vol[t] = np.std(r[t - 20:t])
        long = (vol > np.nanmedian(vol)) & (prev > 0)
    return np.where(long, BUY75, CLOSE).astype(np.int64)


__all__ = ["EFFECTS", "make_world", "oracle_actions", "parse"]
