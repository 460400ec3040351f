"""Calendar features (7) from the session columns: time of day, day of week and month
as sin/cos pairs, and time to the session close; plus ``last_bar`` (`EXTRA_SPECS`, for
named feature sets), which marks the bar after which the next fill is a session's open."""

from __future__ import annotations

import numpy as np

from backtest.features.registry import BarContext, register
from backtest.features.schema import FeatureSpec

_NS_PER_DAY = 86_400 * 1_000_000_000
_MINUTES_PER_DAY = 1440.0


def _trig(angle: np.ndarray, fn: str) -> np.ndarray:
    if fn == "sin":
        return np.sin(angle)
    if fn == "cos":
        return np.cos(angle)
    raise ValueError(f"calendar feature fn must be 'sin' or 'cos', got {fn!r}")


@register("time_of_day", neutral=0.0)
def time_of_day(ctx: BarContext, fn: str) -> np.ndarray:
    """Angle 2*pi*minutes_from_open/1440: session time (0 at the open; UTC midnight for crypto)."""
    return _trig(2.0 * np.pi * ctx.minutes_from_open / _MINUTES_PER_DAY, fn)


@register("day_of_week", neutral=0.0)
def day_of_week(ctx: BarContext, fn: str) -> np.ndarray:
    """Angle 2*pi*weekday/7 of the session date (Monday 0)."""
    weekday = ctx.memo("weekday", lambda: (np.floor_divide(ctx.session_ns, _NS_PER_DAY) + 3) % 7)  # 1970-01-01: Thu
    return _trig(2.0 * np.pi * weekday / 7.0, fn)


@register("month_of_year", neutral=0.0)
def month_of_year(ctx: BarContext, fn: str) -> np.ndarray:
    """Angle 2*pi*(month-1)/12 of the session date."""
    month = ctx.memo("month", lambda: ctx.session_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64) % 12)
    return _trig(2.0 * np.pi * month / 12.0, fn)


@register("time_to_close", neutral=0.0)
def time_to_close(ctx: BarContext) -> np.ndarray:
    """minutes_to_close / 1440, clipped to [0, 1] (early closes shorten it)."""
    return np.clip(ctx.minutes_to_close / _MINUTES_PER_DAY, 0.0, 1.0)


@register("last_bar", neutral=0.0)
def last_bar(ctx: BarContext) -> np.ndarray:
    """1 on a session's last regular-hours bar (its close is the session's close), else 0.

    The decision that sees this bar fills at the next session's open, after the overnight
    gap. In time of day and time to close the last bar is the neighbour of the bars before
    it, where an opening effect does not hold, so a small policy generalises across the
    boundary (issue 24: on a world with an opening effect it learned to buy *less* when the
    next bar opened a session); this flag makes the boundary one input. Daily and coarser
    bars are each their session's last (a constant 1: the normaliser maps it to 0)."""
    minutes_per_bar = ctx.timeframe_ns / 60e9
    m = ctx.minutes_to_close
    return ((m > 0.0) & (m <= minutes_per_bar + 1e-6)).astype(np.float64)


SPECS = (
    FeatureSpec("tod_sin", "calendar", "time_of_day", {"fn": "sin"}, 0, "sin(2pi * minutes_from_open / 1440)"),
    FeatureSpec("tod_cos", "calendar", "time_of_day", {"fn": "cos"}, 0, "cos(2pi * minutes_from_open / 1440)"),
    FeatureSpec("dow_sin", "calendar", "day_of_week", {"fn": "sin"}, 0, "sin(2pi * session weekday / 7), Monday 0"),
    FeatureSpec("dow_cos", "calendar", "day_of_week", {"fn": "cos"}, 0, "cos(2pi * session weekday / 7), Monday 0"),
    FeatureSpec("month_sin", "calendar", "month_of_year", {"fn": "sin"}, 0, "sin(2pi * (session month - 1) / 12)"),
    FeatureSpec("month_cos", "calendar", "month_of_year", {"fn": "cos"}, 0, "cos(2pi * (session month - 1) / 12)"),
    FeatureSpec("to_close", "calendar", "time_to_close", {}, 0, "minutes to the session close / 1440, in [0, 1]"),
)

#: Calendar features outside the 58 defaults, available to named feature sets
#: (`backtest.features.pipeline.FEATURE_SETS`).
EXTRA_SPECS = (
    FeatureSpec("last_bar", "calendar", "last_bar", {}, 0,
                "1 on a session's last regular-hours bar (the next fill is the next session's open), else 0"),
)
