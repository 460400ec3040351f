"""Base features (6): normalised price, return, log return, volatility, momentum, RSI."""

from __future__ import annotations

import numpy as np

from backtest.features.registry import BarContext, register, safe_div
from backtest.features.schema import FeatureSpec


@register("price_vs_sma", neutral=0.0)
def price_vs_sma(ctx: BarContext, n: int) -> np.ndarray:
    sma = ctx.rolling("mean", "close", ctx.close, n)
    return safe_div(ctx.close, sma, 1.0) - 1.0


@register("simple_return", neutral=0.0)
def simple_return(ctx: BarContext, n: int) -> np.ndarray:
    return safe_div(ctx.close, ctx.lagged(ctx.close, n), 1.0) - 1.0


@register("log_return", neutral=0.0)
def log_return(ctx: BarContext, n: int) -> np.ndarray:
    return np.log(ctx.close / ctx.lagged(ctx.close, n))


@register("volatility", neutral=0.0)
def volatility(ctx: BarContext, n: int) -> np.ndarray:
    return ctx.vol(n)


@register("range_volatility", neutral=0.0)
def range_volatility(ctx: BarContext, n: int) -> np.ndarray:
    """Parkinson estimator: sqrt(mean over n bars of log(high/low)^2 / (4 ln 2))."""
    hl = np.log(safe_div(ctx.high, ctx.low, 1.0).clip(1.0, None))
    return np.sqrt(ctx.rolling("mean", "hl2", hl * hl, n) / (4.0 * np.log(2.0)))


def rsi_series(ctx: BarContext, n: int) -> np.ndarray:
    """Wilder RSI in [0, 1]: smoothed gains / (gains + losses), alpha = 1/n from the first bar."""

    def make():
        d = np.zeros(ctx.n)
        d[1:] = np.diff(ctx.close)
        gain = ctx.ema("gain", np.maximum(d, 0.0), 1.0 / n)
        loss = ctx.ema("loss", np.maximum(-d, 0.0), 1.0 / n)
        return safe_div(gain, gain + loss, 0.5)

    return ctx.memo(("rsi", n), make)


@register("rsi", neutral=0.5)
def rsi(ctx: BarContext, n: int) -> np.ndarray:
    return rsi_series(ctx, n)


SPECS = (
    FeatureSpec("price_norm", "base", "price_vs_sma", {"n": 20}, 19,
                "close / SMA(close, 20) - 1"),
    FeatureSpec("ret_1", "base", "simple_return", {"n": 1}, 1, "close[t] / close[t-1] - 1"),
    FeatureSpec("logret_1", "base", "log_return", {"n": 1}, 1, "log(close[t] / close[t-1])"),
    FeatureSpec("vol_20", "base", "range_volatility", {"n": 20}, 19,
                "Parkinson high-low volatility over 20 bars: sqrt(mean(log(h/l)^2) / (4 ln 2))"),
    FeatureSpec("mom_10", "base", "log_return", {"n": 10}, 10, "log(close[t] / close[t-10])"),
    FeatureSpec("rsi_14", "base", "rsi", {"n": 14}, 14,
                "Wilder RSI(14) / 100: EMA(gains) / (EMA(gains) + EMA(losses)), alpha 1/14; 0.5 when flat"),
)
