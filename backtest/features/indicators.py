"""Extended indicators (14): MACD line/signal/histogram, ADX, stochastic %K/%D, ATR,
Bollinger %b and width, CCI, Williams %R, ROC, long RSI and the money flow index.

Scaled to unit-free ranges (divided by the close, or bounded) so one normaliser
statistic fits the whole history. Wilder smoothing is `kernels.ewm` with alpha 1/n,
started at the first bar; EMAs use alpha 2/(span+1).
"""

from __future__ import annotations

import numpy as np

from backtest.features import kernels as K
from backtest.features.base import rsi_series
from backtest.features.registry import BarContext, flat_to_zero, register, safe_div
from backtest.features.schema import FeatureSpec


def _macd(ctx: BarContext, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray]:
    def make():
        f = ctx.ema("close", ctx.close, 2.0 / (fast + 1))
        s = ctx.ema("close", ctx.close, 2.0 / (slow + 1))
        line = safe_div(f - s, ctx.close, 0.0)
        return line, ctx.ema(("macd", fast, slow), line, 2.0 / (signal + 1))

    return ctx.memo(("macd", fast, slow, signal), make)


@register("macd", neutral=0.0)
def macd(ctx: BarContext, fast: int, slow: int, signal: int, output: str) -> np.ndarray:
    line, sig = _macd(ctx, fast, slow, signal)
    return {"line": line, "signal": sig, "hist": line - sig}[output]


def true_range(ctx: BarContext) -> np.ndarray:
    return ctx.memo("true_range", lambda: K.true_range(ctx.high, ctx.low, ctx.close))


@register("atr", neutral=0.0)
def atr(ctx: BarContext, n: int) -> np.ndarray:
    return safe_div(ctx.ema("true_range", true_range(ctx), 1.0 / n), ctx.close, 0.0)


@register("adx", neutral=0.0)
def adx(ctx: BarContext, n: int) -> np.ndarray:
    return K.adx(ctx.high, ctx.low, true_range(ctx), int(n))


def _stoch_k(ctx: BarContext, n: int) -> np.ndarray:
    hh = ctx.rolling("max", "high", ctx.high, n)
    ll = ctx.rolling("min", "low", ctx.low, n)
    return ctx.memo(("stoch_k", n), lambda: safe_div(ctx.close - ll, hh - ll, 0.5))


@register("stochastic", neutral=0.5)
def stochastic(ctx: BarContext, n: int, smooth: int) -> np.ndarray:
    k = _stoch_k(ctx, n)
    return k if smooth <= 1 else ctx.rolling("mean", ("stoch_k", n), k, smooth)


@register("williams_r", neutral=-0.5)
def williams_r(ctx: BarContext, n: int) -> np.ndarray:
    return _stoch_k(ctx, n) - 1.0


def _bollinger(ctx: BarContext, n: int) -> tuple[np.ndarray, np.ndarray]:
    def make():
        mid = ctx.rolling("mean", "close", ctx.close, n)
        return mid, flat_to_zero(ctx.rolling("std", "close", ctx.close, n), mid)

    return ctx.memo(("bollinger", n), make)


@register("bollinger_pctb", neutral=0.5)
def bollinger_pctb(ctx: BarContext, n: int, k: float) -> np.ndarray:
    mid, sd = _bollinger(ctx, n)
    return safe_div(ctx.close - (mid - k * sd), 2.0 * k * sd, 0.5)


@register("bollinger_width", neutral=0.0)
def bollinger_width(ctx: BarContext, n: int, k: float) -> np.ndarray:
    mid, sd = _bollinger(ctx, n)
    return safe_div(2.0 * k * sd, mid, 0.0)


@register("cci", neutral=0.0)
def cci(ctx: BarContext, n: int) -> np.ndarray:
    tp = (ctx.high + ctx.low + ctx.close) / 3.0
    mean = ctx.rolling("mean", "typical", tp, n)
    mad = flat_to_zero(ctx.rolling("mad", "typical", tp, n), mean)
    return safe_div(tp - mean, 0.015 * mad, 0.0) / 100.0


@register("rate_of_change", neutral=0.0)
def rate_of_change(ctx: BarContext, n: int) -> np.ndarray:
    return safe_div(ctx.close, ctx.lagged(ctx.close, n), 1.0) - 1.0


@register("rsi_long", neutral=0.5)
def rsi_long(ctx: BarContext, n: int) -> np.ndarray:
    return rsi_series(ctx, n)


@register("money_flow", neutral=0.5)
def money_flow(ctx: BarContext, n: int) -> np.ndarray:
    tp = (ctx.high + ctx.low + ctx.close) / 3.0
    flow = tp * ctx.volume
    d = np.zeros(ctx.n)
    d[1:] = tp[1:] - tp[:-1]
    pos = K.window_sums(np.where(d > 0.0, flow, 0.0), int(n))
    neg = K.window_sums(np.where(d < 0.0, flow, 0.0), int(n))
    return safe_div(pos, pos + neg, 0.5)


def _spec(name, kind, params, lookback, doc):
    return FeatureSpec(name, "indicators", kind, params, lookback, doc)


_MACD = {"fast": 12, "slow": 26, "signal": 9}
SPECS = (
    _spec("macd_line", "macd", {**_MACD, "output": "line"}, 26, "(EMA12 - EMA26 of close) / close"),
    _spec("macd_signal", "macd", {**_MACD, "output": "signal"}, 34, "EMA9 of macd_line"),
    _spec("macd_hist", "macd", {**_MACD, "output": "hist"}, 34, "macd_line - macd_signal"),
    _spec("adx_14", "adx", {"n": 14}, 28, "Wilder ADX(14) / 100 (DX = |+DI - -DI| / (+DI + -DI), smoothed 1/14)"),
    _spec("stoch_k_14", "stochastic", {"n": 14, "smooth": 1}, 13,
          "(close - min low 14) / (max high 14 - min low 14); 0.5 when flat"),
    _spec("stoch_d_3", "stochastic", {"n": 14, "smooth": 3}, 15, "3-bar mean of stoch_k_14"),
    _spec("atr_14", "atr", {"n": 14}, 14, "Wilder ATR(14) of the true range / close"),
    _spec("bb_pctb_20", "bollinger_pctb", {"n": 20, "k": 2.0}, 19,
          "(close - (SMA20 - 2 sd)) / (4 sd), population sd of 20 closes; 0.5 when flat"),
    _spec("bb_width_20", "bollinger_width", {"n": 20, "k": 2.0}, 19, "4 sd / SMA20 of close"),
    _spec("cci_20", "cci", {"n": 20}, 19,
          "CCI(20) / 100: (TP - SMA20 TP) / (0.015 * mean abs deviation), TP = (h+l+c)/3"),
    _spec("willr_14", "williams_r", {"n": 14}, 13, "Williams %R(14) / 100 = stoch_k_14 - 1, in [-1, 0]"),
    _spec("roc_12", "rate_of_change", {"n": 12}, 12, "close[t] / close[t-12] - 1"),
    _spec("rsi_28", "rsi_long", {"n": 28}, 28, "Wilder RSI(28) / 100"),
    _spec("mfi_14", "money_flow", {"n": 14}, 14,
          "money flow index(14) / 100: up-flow / (up + down flow) of TP*volume over 14 bars; 0.5 when none"),
)
