"""Multi-window features (9): log return, volatility and position in the high-low range
over 20, 50 and 100 bars."""

from __future__ import annotations

import numpy as np

from backtest.features.registry import BarContext, register, safe_div
from backtest.features.schema import FeatureSpec


@register("range_position", neutral=0.5)
def range_position(ctx: BarContext, n: int) -> np.ndarray:
    hh = ctx.rolling("max", "high", ctx.high, n)
    ll = ctx.rolling("min", "low", ctx.low, n)
    return safe_div(ctx.close - ll, hh - ll, 0.5)


WINDOWS = (20, 50, 100)

SPECS = tuple(
    spec
    for n in WINDOWS
    for spec in (
        FeatureSpec(f"mw_ret_{n}", "multiwindow", "log_return", {"n": n}, n, f"log(close[t] / close[t-{n}])"),
        FeatureSpec(f"mw_vol_{n}", "multiwindow", "volatility", {"n": n}, n,
                    f"population std of the last {n} log returns"),
        FeatureSpec(f"mw_pos_{n}", "multiwindow", "range_position", {"n": n}, n - 1,
                    f"(close - min low {n}) / (max high {n} - min low {n}); 0.5 when flat"),
    )
)
