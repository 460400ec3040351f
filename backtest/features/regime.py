"""Regime features (12): filtered probabilities of three states for four signals.

Each signal is scale-free (a ratio or a volatility-normalised move), so one fixed set
of parameters serves every asset: a 3-state Gaussian hidden Markov model with the
emission means, common std and stay probability given in the spec, filtered forward
only (`kernels.regime_filter`). Nothing is fitted on the data, and a probability at
bar t uses bars <= t (filtered, never smoothed).

Signals (``L`` = 100-bar volatility of log returns, the long reference):

- ``vol``: log(vol_20 / vol_100): calm / normal / turbulent;
- ``trend``: (EMA20 - EMA100 of log close) / (vol_100 * sqrt(40)): down / flat / up;
- ``momentum``: 10-bar log return / (vol_100 * sqrt(10)): falling / neutral / rising;
- ``long``: 100-bar log return / (vol_100 * 10): bear / sideways / bull.
"""

from __future__ import annotations

import numpy as np

from backtest.features import kernels as K
from backtest.features.registry import BarContext, register
from backtest.features.schema import FeatureSpec

_LONG = 100


def _signal(ctx: BarContext, signal: str) -> tuple[np.ndarray, np.ndarray]:
    """(z, valid) for a regime signal; invalid where the long volatility is 0 or not yet defined."""
    long_vol = ctx.vol(_LONG)
    idx = np.arange(ctx.n)
    valid = (idx >= _LONG) & (long_vol > 0.0)
    safe_long = np.where(valid, long_vol, 1.0)
    if signal == "vol":
        short = ctx.vol(20)
        valid = valid & (short > 0.0)
        z = np.log(np.where(valid, short, 1.0) / safe_long)
    elif signal == "trend":
        fast = ctx.ema("log_close", ctx.log_close, 2.0 / 21.0)
        slow = ctx.ema("log_close", ctx.log_close, 2.0 / 101.0)
        z = (fast - slow) / (safe_long * np.sqrt(40.0))
    elif signal == "momentum":
        z = (ctx.log_close - ctx.lagged(ctx.log_close, 10)) / (safe_long * np.sqrt(10.0))
    elif signal == "long":
        z = (ctx.log_close - ctx.lagged(ctx.log_close, _LONG)) / (safe_long * 10.0)
    else:
        raise ValueError(f"regime signal must be vol, trend, momentum or long, got {signal!r}")
    valid = valid & np.isfinite(z)
    return np.where(valid, z, 0.0), valid


@register("regime", neutral=1.0 / 3.0)
def regime(ctx: BarContext, signal: str, state: int, means: list, sd: float, stay: float) -> np.ndarray:
    key = ("regime", signal, tuple(means), sd, stay)

    def make():
        z, valid = _signal(ctx, signal)
        return K.regime_filter(z, valid, np.asarray(means, dtype=np.float64), float(sd), float(stay))

    return np.ascontiguousarray(ctx.memo(key, make)[:, int(state)])


_PARAMS = {
    "vol": ({"means": [-0.4, 0.0, 0.4], "sd": 0.2, "stay": 0.98}, ("calm", "normal", "turbulent")),
    "trend": ({"means": [-1.0, 0.0, 1.0], "sd": 0.5, "stay": 0.98}, ("down", "flat", "up")),
    "momentum": ({"means": [-1.5, 0.0, 1.5], "sd": 0.75, "stay": 0.95}, ("falling", "neutral", "rising")),
    "long": ({"means": [-1.5, 0.0, 1.5], "sd": 0.75, "stay": 0.98}, ("bear", "sideways", "bull")),
}

SPECS = tuple(
    FeatureSpec(
        f"regime_{signal}_{label}", "regime", "regime",
        {"signal": signal, "state": k, **params}, _LONG,
        f"filtered P({label}) of a fixed 3-state HMM on the {signal} signal "
        f"(means {params['means']}, sd {params['sd']}, stay {params['stay']})",
    )
    for signal, (params, labels) in _PARAMS.items()
    for k, label in enumerate(labels)
)
