"""Causal market features and the feature schema (DESIGN 3.2).

Public: `FeatureSchema`, `FeatureSpec`, `default_schema()`,
`compute_features(bars, schema) -> float64 [T, n_market]`. Families live one per
module (`base`, `calendar`, `regime`, `reversal`, `indicators`, `multiwindow`,
`hourly`); each registers its formulas in `registry.KINDS` and lists its default
specs in ``SPECS``.
"""

from backtest.features.schema import DEFAULT_ACCOUNT_FEATURES, DEFAULT_WINDOW, FeatureSchema, FeatureSpec
from backtest.features.pipeline import (
    FEATURE_SETS, compute_features, default_schema, default_specs, named_schema, neutral_values,
)

__all__ = [
    "DEFAULT_ACCOUNT_FEATURES",
    "DEFAULT_WINDOW",
    "FEATURE_SETS",
    "FeatureSchema",
    "FeatureSpec",
    "compute_features",
    "default_schema",
    "default_specs",
    "named_schema",
    "neutral_values",
]
