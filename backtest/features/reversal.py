"""Reversal features (3): up/down streak, volatility-scaled 5-bar stretch, candle wicks."""

from __future__ import annotations

import numpy as np

from backtest.features import kernels as K
from backtest.features.registry import BarContext, register, safe_div
from backtest.features.schema import FeatureSpec


@register("streak", neutral=0.0)
def streak(ctx: BarContext, cap: int) -> np.ndarray:
    return K.streak(ctx.logret, float(cap)) / float(cap)


@register("stretch", neutral=0.0)
def stretch(ctx: BarContext, n: int, vol_n: int) -> np.ndarray:
    move = ctx.log_close - ctx.lagged(ctx.log_close, n)
    return np.clip(safe_div(move, ctx.vol(vol_n) * np.sqrt(n), 0.0), -10.0, 10.0)


@register("wick_balance", neutral=0.0)
def wick_balance(ctx: BarContext) -> np.ndarray:
    lower = np.minimum(ctx.open, ctx.close) - ctx.low
    upper = ctx.high - np.maximum(ctx.open, ctx.close)
    return safe_div(lower - upper, ctx.high - ctx.low, 0.0)


SPECS = (
    FeatureSpec("rev_streak", "reversal", "streak", {"cap": 10}, 1,
                "signed run of consecutive up (+) / down (-) closes, capped at 10, / 10"),
    FeatureSpec("rev_stretch_5", "reversal", "stretch", {"n": 5, "vol_n": 20}, 20,
                "log(close[t] / close[t-5]) / (vol_20 * sqrt(5)), clipped to +-10"),
    FeatureSpec("rev_wick", "reversal", "wick_balance", {}, 0,
                "(lower wick - upper wick) / (high - low); 0 on a flat bar"),
)
