"""Hypothesis properties of `load_bars`: exact round trips and corruption always refused."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.data import DataError, load_bars
from tests.strategies import bars_strategy

OHLCV = ["open", "high", "low", "close", "volume"]
_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(bars, path, fmt):
    frame = bars.frame[OHLCV].reset_index()
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


@_SETTINGS
@given(bars=bars_strategy(min_bars=2, max_bars=120), fmt=st.sampled_from(["csv", "parquet"]))
def test_write_then_load_round_trips_exactly(tmp_path_factory, bars, fmt):
    path = tmp_path_factory.mktemp("rt") / f"{bars.symbol}.{fmt}"
    _write(bars, path, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped, nothing re-sorted
        warnings.filterwarnings("ignore", message=".*volume is 0 on")  # the drawn volumes may be 0: said, kept
        (loaded,) = load_bars(path, asset_class=bars.asset_class, timeframe=bars.timeframe)
    assert loaded.symbol == bars.symbol and loaded.asset_class == bars.asset_class
    pd.testing.assert_frame_equal(loaded.frame, bars.frame, check_exact=True, check_freq=False)


_CORRUPTIONS = ("nan", "text", "inf", "negative_price", "zero_price", "high_below_low", "close_above_high",
                "open_below_low", "negative_volume", "bad_timestamp", "duplicate_timestamp", "empty_cell",
                "drop_column")


def _corrupt(frame: pd.DataFrame, kind: str, row: int, column: str) -> pd.DataFrame:
    frame = frame.astype({c: object for c in frame.columns})
    prev = max(row - 1, 0) if row > 0 else 1
    if kind == "nan":
        frame.loc[row, column] = np.nan
    elif kind == "text":
        frame.loc[row, column] = "n/a"
    elif kind == "inf":
        frame.loc[row, column] = np.inf
    elif kind == "negative_price":
        frame.loc[row, ["open", "high", "low", "close"]] = [-1.0, -1.0, -1.0, -1.0]
    elif kind == "zero_price":
        frame.loc[row, "low"] = 0.0
    elif kind == "high_below_low":
        frame.loc[row, "high"] = float(frame.loc[row, "low"]) * 0.5
    elif kind == "close_above_high":
        frame.loc[row, "close"] = float(frame.loc[row, "high"]) * 1.5
    elif kind == "open_below_low":
        frame.loc[row, "open"] = float(frame.loc[row, "low"]) * 0.5
    elif kind == "negative_volume":
        frame.loc[row, "volume"] = -1.0
    elif kind == "bad_timestamp":
        frame.loc[row, "timestamp"] = "2023-13-45 99:99"
    elif kind == "duplicate_timestamp":
        frame.loc[row, "timestamp"] = frame.loc[prev, "timestamp"]
    elif kind == "empty_cell":
        frame.loc[row, column] = None
    elif kind == "drop_column":
        frame = frame.drop(columns=[column])
    return frame


@_SETTINGS
@given(
    bars=bars_strategy(min_bars=2, max_bars=60),
    kind=st.sampled_from(_CORRUPTIONS),
    row_frac=st.floats(0, 1, exclude_max=True),
    column=st.sampled_from(["timestamp"] + OHLCV),
    fmt=st.sampled_from(["csv", "parquet"]),
)
def test_any_row_corruption_is_a_data_error(tmp_path_factory, bars, kind, row_frac, column, fmt):
    frame = bars.frame[OHLCV].reset_index()
    frame["timestamp"] = frame["timestamp"].astype(str)
    row = int(row_frac * len(frame))
    if kind in ("nan", "text", "inf") and column == "timestamp":
        kind = "bad_timestamp"
    bad = _corrupt(frame, kind, row, column)
    path = tmp_path_factory.mktemp("bad") / f"{bars.symbol}.{fmt}"
    if fmt == "csv":
        bad.to_csv(path, index=False)
    else:
        bad.astype({c: str for c in bad.columns} if kind in ("text", "bad_timestamp") else {}).to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(DataError):
            load_bars(path, asset_class=bars.asset_class, timeframe=bars.timeframe)
