"""`compute_features`: the one implementation of the market features.

Used by the training environment, the backtest, the CLI and the tests alike. It
computes every column of the schema over the whole series at once (vectorised numpy
and forward-only numba kernels), then writes each feature's neutral value into its
warm-up rows (before its declared look-back is available). Every step is causal:
the row for bar t is a function of bars <= t only.
"""

from __future__ import annotations

import numpy as np

from backtest.errors import ConfigError
from backtest.features import kernels as K
from backtest.features import base, calendar, hourly, indicators, multiwindow, regime, reversal
from backtest.features.registry import KINDS, BarContext
from backtest.features.schema import DEFAULT_WINDOW, FeatureSchema, FeatureSpec

#: Feature families of the default schema, in column order.
FAMILIES = (base, calendar, regime, reversal, indicators, multiwindow, hourly)


def default_specs() -> tuple[FeatureSpec, ...]:
    """The 58 default market features of DESIGN 3.2."""
    return tuple(spec for family in FAMILIES for spec in family.SPECS)


def default_schema(window: int = DEFAULT_WINDOW) -> FeatureSchema:
    """The default schema: 58 market features, window ``window`` (100), 5 account features."""
    return FeatureSchema(features=default_specs(), window=window)


#: Named feature sets (``RunConfig.features``), in column order: ``all``, the 58 defaults;
#: ``compact``, 14 stationary features (last return, volatility, momentum, RSI, time of day
#: and week, the session's end, reversal streak/stretch/wick, and ``last_bar``, the flag
#: that the next fill opens a session) without price levels, months or regime one-hots, so
#: a small CPU budget cannot identify its training bars by date or level (issue 24: with
#: ``all`` and window 100 a policy memorised 858 daily bars, PF 1217 in sample, 0.48 out of
#: sample).
FEATURE_SETS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "compact": ("ret_1", "vol_20", "mom_10", "rsi_14", "tod_sin", "tod_cos", "dow_sin", "dow_cos", "to_close",
                "rev_streak", "rev_stretch_5", "rev_wick", "mw_vol_20", "last_bar"),
}


def available_specs() -> tuple[FeatureSpec, ...]:
    """Every feature a set may name: the 58 defaults, then those outside them (``last_bar``)."""
    return default_specs() + calendar.EXTRA_SPECS


def named_schema(feature_set: str = "all", window: int = DEFAULT_WINDOW) -> FeatureSchema:
    """The schema of a named feature set (`FEATURE_SETS`) with window ``window``."""
    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"features={feature_set!r} is not a feature set; use one of {list(FEATURE_SETS)}")
    keep = FEATURE_SETS[feature_set]
    if keep is None:
        return FeatureSchema(features=default_specs(), window=window)
    available = {s.name: s for s in available_specs()}
    specs = tuple(available[name] for name in keep)
    return FeatureSchema(features=specs, window=window)


def _column(ctx: BarContext, spec: FeatureSpec) -> np.ndarray:
    kind = KINDS.get(spec.kind)
    if kind is None:
        raise ConfigError(f"feature {spec.name!r}: unknown kind {spec.kind!r}; known kinds: {sorted(KINDS)}")
    try:
        col = kind.fn(ctx, **dict(spec.params))
    except TypeError as exc:
        raise ConfigError(f"feature {spec.name!r} (kind {spec.kind!r}): bad params {dict(spec.params)}: {exc}") from exc
    col = np.asarray(col, dtype=np.float64)
    if col.shape != (ctx.n,):
        raise RuntimeError(f"feature {spec.name!r} returned shape {col.shape}, expected ({ctx.n},)")
    return col


def compute_features(bars, schema: FeatureSchema | None = None, strict: bool = False) -> np.ndarray:
    """float64 ``[T, schema.n_market]`` market features of ``bars`` (C-contiguous).

    ``bars`` is a `backtest.bars.Bars` (or a prepared `BarContext`). Non-finite values
    cannot arise for valid bars; as a last guard they are replaced by the feature's
    neutral value, or raise with ``strict=True`` (the tests use it).
    """
    schema = default_schema() if schema is None else schema
    ctx = bars if isinstance(bars, BarContext) else BarContext.from_bars(bars)
    cols = np.empty((schema.n_market, ctx.n), dtype=np.float64)  # one contiguous row per feature
    for j, spec in enumerate(schema.features):
        col = _column(ctx, spec)
        neutral = KINDS[spec.kind].neutral
        bad = ~np.isfinite(col)
        if bad.any():
            if strict:
                first = int(np.flatnonzero(bad)[0])
                raise RuntimeError(f"feature {spec.name!r} is not finite at bar {first}: {col[first]!r}")
            col = np.where(bad, neutral, col)
        cols[j] = col
        cols[j, : spec.lookback] = neutral
    return K.columns_to_rows(cols)


def neutral_values(schema: FeatureSchema) -> np.ndarray:
    """Each feature's warm-up value, in column order."""
    return np.array([KINDS[s.kind].neutral for s in schema.features], dtype=np.float64)
