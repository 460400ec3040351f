"""Resampling: OHLCV aggregation, clock-hour bins inside sessions, never across sessions."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from backtest.errors import ConfigError
from backtest.resample import resample
from backtest.sample_data import generate_crypto_bars, generate_equity_bars
from tests.strategies import bars_strategy


@pytest.fixture(scope="module")
def equity():
    return generate_equity_bars("R", "2023-11-20", "2023-11-29", seed=4)


def test_hourly_bins_align_to_clock_hours_within_sessions(equity):
    hourly = resample(equity, "1h")
    day = hourly.frame[hourly.frame["session"] == pd.Timestamp("2023-11-22")]
    local = day.index.tz_convert("America/New_York").strftime("%H:%M")
    assert list(local) == ["09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]
    early = hourly.frame[hourly.frame["session"] == pd.Timestamp("2023-11-24")]
    assert list(early.index.tz_convert("America/New_York").strftime("%H:%M")) == ["09:30", "10:00", "11:00", "12:00"]
    assert list(day["minutes_from_open"]) == [0.0, 30.0, 90.0, 150.0, 210.0, 270.0, 330.0]


def test_ohlcv_aggregation_matches_groupby(equity):
    hourly = resample(equity, "1h")
    f = equity.frame
    local_hour = f.index.tz_convert("America/New_York").floor("1h")
    groups = f.groupby([f["session_index"].to_numpy(), local_hour])
    expected = groups.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                          close=("close", "last"), volume=("volume", "sum"))
    for col in ["open", "high", "low", "close", "volume"]:
        np.testing.assert_allclose(hourly.frame[col].to_numpy(), expected[col].to_numpy(), rtol=0, atol=1e-9)
    assert hourly.frame["volume"].sum() == pytest.approx(f["volume"].sum())


def test_daily_resample_one_bar_per_session(equity):
    daily = resample(equity, "1D")
    assert len(daily) == equity.frame["session"].nunique()
    assert (daily.frame["minutes_from_open"] == 0).all()
    np.testing.assert_array_equal(daily.session_index, np.unique(equity.session_index))


def test_crypto_4h_bins_on_utc_clock():
    crypto = generate_crypto_bars("C-USD", "2023-01-01", "2023-01-03", seed=0, timeframe="15min")
    out = resample(crypto, "4h")
    assert len(out) == 12 and (out.index.hour % 4 == 0).all()


def test_bad_rules_refused(equity):
    for rule in ("10min", "20min", "2D", "soon"):
        with pytest.raises(ConfigError, match="resample rule"):
            resample(equity, rule)
    assert resample(equity, "15min") is equity


@given(bars_strategy(asset_class="equity", min_bars=2, max_bars=200, timeframes=("5min", "15min")))
def test_resample_never_merges_sessions_and_conserves_volume(bars):
    out = resample(bars, "1h")
    assert out.frame["volume"].sum() == pytest.approx(bars.frame["volume"].sum())
    assert out.frame["high"].max() == bars.frame["high"].max()
    assert out.frame["session"].nunique() == bars.frame["session"].nunique()
    # every input bar falls in exactly one output bar of the same session
    pos = np.searchsorted(out.timestamps_ns, bars.timestamps_ns, side="right") - 1
    assert (pos >= 0).all()
    np.testing.assert_array_equal(out.session_index[pos], bars.session_index)
    assert (out.index.tz_convert("America/New_York").minute.isin([0, 30])).all()
