"""Causality and finiteness of every default feature over random valid bar series.

The value at bar t computed from ``bars[:t+1]`` must equal the full-series value: a
feature that peeks at later bars (centred windows, full-series scaling, backward
fills, smoothing) fails here.
"""

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from backtest.bars import Bars
from backtest.features import compute_features, default_schema
from backtest.features.pipeline import named_schema
from backtest.sessions import tag_sessions
from tests.strategies import bars_strategy

SCHEMA = default_schema()


def _check_prefixes(bars, cuts, schema=SCHEMA):
    full = compute_features(bars, schema, strict=True)
    assert full.shape == (len(bars), schema.n_market)
    assert np.isfinite(full).all()
    for t in cuts:
        prefix = compute_features(bars.slice(0, t + 1), schema, strict=True)
        diff = np.abs(prefix - full[: t + 1])
        if diff.max() > 1e-9:
            row, col = np.unravel_index(int(diff.argmax()), diff.shape)
            raise AssertionError(
                f"feature {schema.names[col]!r} at bar {row} differs on the prefix [:{t + 1}]: "
                f"{prefix[row, col]!r} vs full {full[row, col]!r}"
            )


@given(bars=bars_strategy(min_bars=2, max_bars=400), data=st.data())
def test_prefix_equals_full_series_all_asset_classes(bars, data):
    cuts = data.draw(st.lists(st.integers(0, len(bars) - 1), min_size=1, max_size=3))
    _check_prefixes(bars, cuts)


@given(bars=bars_strategy(asset_class="equity", min_bars=150, max_bars=400,
                          timeframes=("5min", "15min", "30min")), data=st.data())
def test_prefix_equals_full_series_intraday_equity(bars, data):
    cuts = data.draw(st.lists(st.integers(0, len(bars) - 1), min_size=1, max_size=3))
    _check_prefixes(bars, cuts)


@given(bars=bars_strategy(min_bars=2, max_bars=300), data=st.data())
def test_prefix_equals_full_series_compact_set(bars, data):
    """The named sets' features outside the defaults (``last_bar``) are causal too."""
    cuts = data.draw(st.lists(st.integers(0, len(bars) - 1), min_size=1, max_size=3))
    _check_prefixes(bars, cuts, named_schema("compact", window=1))


def _frame(index, close, volume=None):
    close = np.asarray(close, dtype=float)
    vol = np.zeros(len(close)) if volume is None else np.asarray(volume, dtype=float)
    frame = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": vol}, index=index)
    return frame


def test_flat_prices_and_zero_volume_are_finite():
    index = pd.date_range("2024-01-01", periods=500, freq="15min", tz="UTC", name="timestamp")
    frame = tag_sessions(_frame(index, np.full(500, 42.0)), "crypto", timeframe="15min")
    bars = Bars(frame, "FLAT", "crypto", pd.Timedelta("15min"))
    f = compute_features(bars, SCHEMA, strict=True)
    assert np.isfinite(f).all()
    # A flat market has no return, no volatility and neutral oscillators.
    for name in ("ret_1", "logret_1", "vol_20", "mw_vol_100", "atr_14", "bb_width_20", "hr_last_vol"):
        assert np.all(f[:, SCHEMA.index_of(name)] == 0.0), name
    for name in ("rsi_14", "stoch_k_14", "bb_pctb_20", "mfi_14", "mw_pos_50"):
        assert np.all(f[:, SCHEMA.index_of(name)] == 0.5), name


def test_single_bar_sessions_and_tiny_series_are_finite():
    index = pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC", name="timestamp")
    frame = tag_sessions(_frame(index, [10.0, 11.0, 9.0], [0.0, 5.0, 0.0]), "crypto", timeframe="1D")
    bars = Bars(frame, "DAY", "crypto", pd.Timedelta("1D"))
    f = compute_features(bars, SCHEMA, strict=True)
    assert f.shape == (3, 58) and np.isfinite(f).all()
    empty = compute_features(bars.slice(0, 0), SCHEMA, strict=True)
    assert empty.shape == (0, 58)


def test_warmup_rows_hold_the_neutral_value():
    from backtest.features import neutral_values

    index = pd.date_range("2024-01-01", periods=300, freq="1h", tz="UTC", name="timestamp")
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    frame = _frame(index, close, rng.uniform(1, 10, 300))
    frame["high"], frame["low"] = close * 1.01, close * 0.99
    frame = tag_sessions(frame, "crypto", timeframe="1h")
    f = compute_features(Bars(frame, "X", "crypto", pd.Timedelta("1h")), SCHEMA)
    neutral = neutral_values(SCHEMA)
    for j, spec in enumerate(SCHEMA.features):
        assert np.all(f[: spec.lookback, j] == neutral[j]), spec.name
        if spec.lookback:
            assert not np.all(f[spec.lookback :, j] == neutral[j]), spec.name


def test_the_prefix_check_catches_a_peek_at_the_future():
    """A centred moving average (a classic leak) must fail the same check."""
    from backtest.features import FeatureSchema, FeatureSpec
    from backtest.features.registry import KINDS, KindDef

    def centred(ctx):
        return np.convolve(ctx.close, np.ones(3) / 3.0, mode="same")

    KINDS.setdefault("_test_centred_mean", KindDef(centred, 0.0))
    leaky = FeatureSchema((FeatureSpec("leak", "test", "_test_centred_mean"),), window=5)
    index = pd.date_range("2024-01-01", periods=50, freq="1h", tz="UTC", name="timestamp")
    close = np.linspace(10.0, 20.0, 50)
    bars = Bars(tag_sessions(_frame(index, close), "crypto", timeframe="1h"), "L", "crypto", pd.Timedelta("1h"))
    full = compute_features(bars, leaky)
    prefix = compute_features(bars.slice(0, 30), leaky)
    assert abs(prefix[-1, 0] - full[29, 0]) > 1e-9


@given(bars=bars_strategy(min_bars=2, max_bars=300), power=st.integers(-20, 20))
def test_features_do_not_depend_on_the_price_scale(bars, power):
    """Every default feature is unit-free: prices x 2**k (exact in binary) change nothing."""
    frame = bars.frame.copy()
    for k in ("open", "high", "low", "close"):
        frame[k] = frame[k] * 2.0**power
    scaled = Bars(frame, bars.symbol, bars.asset_class, bars.timeframe, bars.calendar)
    a, b = compute_features(bars, SCHEMA), compute_features(scaled, SCHEMA)
    diff = np.abs(a - b)
    worst = int(diff.max(axis=0).argmax())
    assert diff.max() <= 1e-7, (SCHEMA.names[worst], diff.max())
