"""Hourly context (7): the last complete clock hour and short intra-session context.

Bars are grouped by (session, clock hour ``floor('h')`` of the bar's start, UTC;
equal to exchange-local hours wherever the UTC offset is whole hours), so no group
ever holds bars of two sessions. At bar t the last complete clock hour is t's own
hour when t ends at or after the hour's end (t is its last bar), else the previous
hour group of the same session; with none (first hour of a session) the features
hold their neutral value 0. Aggregates are running sums up to the group's last bar,
all at or before t. The bar-window features (trend, momentum, up share) use only
bars of t's session: a window reaching before the session open is cut at the open,
with the session's first open as the reference price.

Within-session bar return ``r``: log(close / previous close), or log(close / open)
on a session's first bar.
"""

from __future__ import annotations

import numpy as np

from backtest.features import kernels as K
from backtest.features.registry import _NS_PER_HOUR, BarContext, register, safe_div
from backtest.features.schema import FeatureSpec


def last_complete_hour(ctx: BarContext):
    """(j, valid, aggregates): j[t] is the bar whose running group aggregates describe the
    last complete clock hour at t; valid is False where there is none in t's session."""

    def make():
        gstart, g_open, g_high, g_low, g_r2 = K.hour_groups(
            ctx.hour_key, ctx.session_index, ctx.high, ctx.low, ctx.open, ctx.close, ctx.session_ret
        )
        hour_end = (ctx.hour_key + 1) * _NS_PER_HOUR
        complete_now = ctx.ts_ns + ctx.timeframe_ns >= hour_end
        idx = np.arange(ctx.n, dtype=np.int64)
        j = np.where(complete_now, idx, gstart - 1)
        jc = np.maximum(j, 0)
        valid = complete_now | ((j >= 0) & (ctx.session_index[jc] == ctx.session_index))
        return jc, valid, (g_open, g_high, g_low, g_r2)

    return ctx.memo("last_complete_hour", make)


@register("last_hour", neutral=0.0)
def last_hour(ctx: BarContext, stat: str) -> np.ndarray:
    j, valid, (g_open, g_high, g_low, g_r2) = last_complete_hour(ctx)
    if stat == "ret":
        value = ctx.log_close[j] - np.log(np.maximum(g_open[j], 1e-300))
    elif stat == "vol":
        value = np.sqrt(g_r2[j])
    elif stat == "range":
        value = safe_div(g_high[j] - g_low[j], g_open[j], 0.0)
    else:
        raise ValueError(f"last_hour stat must be ret, vol or range, got {stat!r}")
    return np.where(valid, value, 0.0)


def _window_start(ctx: BarContext, n: int) -> np.ndarray:
    """First bar of the window of up to ``n`` bars ending at t, cut at the session open."""
    return np.maximum(np.arange(ctx.n, dtype=np.int64) - (n - 1), ctx.session_start)


@register("session_trend", neutral=0.0)
def session_trend(ctx: BarContext, n: int) -> np.ndarray:
    return K.session_ols_slope(ctx.log_close, ctx.session_start, int(n))


@register("session_momentum", neutral=0.0)
def session_momentum(ctx: BarContext, n: list) -> np.ndarray:
    """Mean over the windows in ``n`` of the sum of within-session returns over that window."""
    out = np.zeros(ctx.n)
    idx = np.arange(ctx.n, dtype=np.int64)
    ss = ctx.session_start
    log_open = np.log(np.maximum(ctx.open, 1e-300))
    for k in n:
        back = idx - int(k)
        inside = back >= ss  # bar t-k is in t's session: reference is its close
        out += ctx.log_close - np.where(inside, ctx.log_close[np.maximum(back, 0)], log_open[ss])
    return out / len(n)


@register("session_up_share", neutral=0.5)
def session_up_share(ctx: BarContext, n: int) -> np.ndarray:
    up = np.concatenate([[0], np.cumsum(ctx.session_ret > 0.0)])
    lo = _window_start(ctx, int(n))
    hi = np.arange(ctx.n, dtype=np.int64) + 1
    return (up[hi] - up[lo]) / (hi - lo)


@register("position_in_hour", neutral=0.0)
def position_in_hour(ctx: BarContext) -> np.ndarray:
    return np.remainder(ctx.ts_ns, _NS_PER_HOUR) / float(_NS_PER_HOUR)


SPECS = (
    FeatureSpec("hr_last_ret", "hourly", "last_hour", {"stat": "ret"}, 0,
                "log(last close / first open) of the last complete clock hour in the session; 0 if none"),
    FeatureSpec("hr_last_vol", "hourly", "last_hour", {"stat": "vol"}, 0,
                "sqrt(sum r^2) over the last complete clock hour's bars; 0 if none"),
    FeatureSpec("hr_last_range", "hourly", "last_hour", {"stat": "range"}, 0,
                "(max high - min low) / first open of the last complete clock hour; 0 if none"),
    FeatureSpec("hr_trend_16", "hourly", "session_trend", {"n": 16}, 0,
                "OLS slope of log close per bar over the last <=16 bars of the session; 0 below 3 bars"),
    FeatureSpec("hr_mom_4_8", "hourly", "session_momentum", {"n": [4, 8]}, 0,
                "mean of the 4- and 8-bar log momentum, windows cut at the session open"),
    FeatureSpec("hr_up_share_16", "hourly", "session_up_share", {"n": 16}, 0,
                "share of bars with r > 0 among the last <=16 bars of the session"),
    FeatureSpec("hr_pos_in_hour", "hourly", "position_in_hour", {}, 0,
                "minutes past the clock hour at the bar's start / 60"),
)
