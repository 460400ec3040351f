"""`load_bars`: every accepted layout, conventions, sp500, resampling on load."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.data import DataError, detect_asset_class, infer_timeframe, load_bars
from backtest.errors import DataError as BaseDataError
from backtest.sample_data import generate_crypto_bars, generate_equity_bars

SP500 = Path("/work/shared/data/sp500_daily.csv")
OHLCV = ["open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def equity():
    return generate_equity_bars("SMPA", "2023-11-20", "2023-12-02", seed=1)


def _plain(bars):
    return bars.frame[OHLCV].reset_index()


def test_data_error_is_the_shared_type():
    assert DataError is BaseDataError


@pytest.mark.skipif(not SP500.exists(), reason="shared sp500 file not present")
def test_sp500_daily_loads_as_is():
    (bars,) = load_bars(SP500)
    assert bars.symbol == "sp500" and bars.asset_class == "equity"  # "_daily" is a timeframe token
    assert len(bars) == 5031 and bars.timeframe == pd.Timedelta(days=1)
    assert bars.index[0].strftime("%Y-%m-%d") == "1999-01-04"
    assert bars.index[-1].strftime("%Y-%m-%d") == "2018-12-31"
    assert (bars.frame["minutes_from_open"] == 0).all()
    assert np.array_equal(np.unique(np.diff(bars.session_index)), [1])  # every session present
    assert bars.close[0] == pytest.approx(1228.099976)  # close, not Adj Close


def test_single_csv_iso_utc_round_trip(tmp_path, equity):
    path = tmp_path / "SMPA.csv"
    _plain(equity).to_csv(path, index=False)
    (bars,) = load_bars(path)
    assert bars.symbol == "SMPA" and bars.asset_class == "equity"
    assert bars.timeframe == pd.Timedelta("15min")
    pd.testing.assert_frame_equal(bars.frame, equity.frame, check_freq=False)


def test_parquet_with_datetime_index_and_symbol_override(tmp_path, equity):
    path = tmp_path / "whatever.parquet"
    equity.frame[OHLCV].to_parquet(path)
    (bars,) = load_bars(path, symbol="XYZ")
    assert bars.symbol == "XYZ"
    pd.testing.assert_frame_equal(bars.frame, equity.frame, check_freq=False)


def test_directory_of_files_mixed_formats(tmp_path, equity):
    _plain(equity).to_csv(tmp_path / "AAA.csv", index=False)
    _plain(equity).to_parquet(tmp_path / "BBB.parquet")
    (tmp_path / "notes.md").write_text("ignored")
    series = load_bars(tmp_path)
    assert [b.symbol for b in series] == ["AAA", "BBB"]
    assert all(len(b) == len(equity) for b in series)


def test_long_file_with_ticker_column_any_case(tmp_path, equity):
    a = _plain(equity).assign(TICKER="AAA")
    b = _plain(equity).assign(TICKER="BBB")
    frame = pd.concat([a, b]).rename(columns=str.upper)
    frame.to_csv(tmp_path / "long.csv", index=False)
    series = load_bars(tmp_path / "long.csv")
    assert [s.symbol for s in series] == ["AAA", "BBB"]
    np.testing.assert_array_equal(series[1].close, equity.close)
    (only,) = load_bars(tmp_path / "long.csv", symbol="bbb")
    assert only.symbol == "BBB"


def test_header_case_adj_close_and_unnamed_index(tmp_path, equity):
    frame = _plain(equity).rename(columns={"timestamp": "", "open": "OPEN", "high": "High", "low": " low",
                                           "close": "Close", "volume": "VOLUME"})
    frame["Adj Close"] = frame["Close"] * 0.5
    frame.to_csv(tmp_path / "X.csv", index=False)
    (bars,) = load_bars(tmp_path / "X.csv")
    np.testing.assert_array_equal(bars.close, equity.close)  # Adj Close ignored when Close exists
    pd.testing.assert_frame_equal(bars.frame, equity.frame, check_freq=False)


def test_adj_close_used_when_close_missing(tmp_path):
    frame = pd.DataFrame({"Date": ["2023-11-27", "2023-11-28"], "Open": [10.0, 11.0], "High": [12.0, 12.0],
                          "Low": [9.0, 10.0], "Adj Close": [11.0, 11.5], "Volume": [5, 6]})
    frame.to_csv(tmp_path / "Z.csv", index=False)
    (bars,) = load_bars(tmp_path / "Z.csv")
    np.testing.assert_array_equal(bars.close, [11.0, 11.5])


@pytest.mark.parametrize("unit, factor", [("s", 10**9), ("ms", 10**6)])
def test_epoch_seconds_and_milliseconds(tmp_path, equity, unit, factor):
    frame = _plain(equity)
    frame["timestamp"] = equity.timestamps_ns // factor
    frame.to_csv(tmp_path / "E.csv", index=False)
    (bars,) = load_bars(tmp_path / "E.csv")
    assert bars.index.equals(equity.index)


def test_mdy_dates_and_naive_times_in_exchange_tz(tmp_path, equity):
    local = equity.index.tz_convert("America/New_York").tz_localize(None)
    frame = _plain(equity)
    frame["timestamp"] = local.strftime("%m/%d/%Y %H:%M")
    frame.to_csv(tmp_path / "N.csv", index=False)
    (bars,) = load_bars(tmp_path / "N.csv")
    assert bars.index.equals(equity.index)  # 09:30 New York wall time -> 14:30 UTC


def test_naive_crypto_is_utc_and_detected_by_weekend(tmp_path):
    crypto = generate_crypto_bars("COIN", "2023-11-24", "2023-11-27", seed=2, timeframe="1h")
    frame = crypto.frame[OHLCV].reset_index()
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None).astype(str)
    frame.to_csv(tmp_path / "COIN.csv", index=False)
    (bars,) = load_bars(tmp_path / "COIN.csv")
    assert bars.asset_class == "crypto" and bars.index.equals(crypto.index)
    (forced,) = load_bars(tmp_path / "COIN.csv", asset_class="crypto", timeframe="1h")
    assert forced.timeframe == pd.Timedelta("1h")


def test_aware_offsets_converted_to_utc(tmp_path, equity):
    frame = _plain(equity)
    frame["timestamp"] = equity.index.tz_convert("America/New_York").strftime("%Y-%m-%dT%H:%M:%S%z")
    frame.to_csv(tmp_path / "O.csv", index=False)
    (bars,) = load_bars(tmp_path / "O.csv")
    assert bars.index.equals(equity.index)


@pytest.mark.parametrize("symbol, expected", [
    ("BTC-USD", "crypto"), ("ETHUSDT", "crypto"), ("btc/usd", "crypto"), ("EURUSD", "fx"),
    ("EUR/USD", "fx"), ("USDJPY=X", "fx"), ("AAPL", "equity"), ("SPY", "equity"),
])
def test_asset_class_from_symbol(symbol, expected):
    assert detect_asset_class(symbol) == expected


def test_asset_class_override_and_fx_sessions(tmp_path):
    idx = pd.date_range("2023-11-26 22:00", "2023-11-28 22:00", freq="1h", tz="UTC", inclusive="left")
    frame = pd.DataFrame({"timestamp": idx, "open": 1.1, "high": 1.2, "low": 1.0, "close": 1.1, "volume": 0.0})
    frame.to_parquet(tmp_path / "EURUSD.parquet")
    (fx,) = load_bars(tmp_path / "EURUSD.parquet")
    assert fx.asset_class == "fx" and fx.frame["session"].nunique() == 2
    (as_crypto,) = load_bars(tmp_path / "EURUSD.parquet", asset_class="crypto")
    assert as_crypto.asset_class == "crypto"


def test_infer_timeframe_mode_and_daily():
    ns = pd.date_range("2023-01-02", periods=10, freq="15min").as_unit("ns").asi8
    assert infer_timeframe(np.r_[ns, ns[-1] + 10**12]) == pd.Timedelta("15min")
    days = pd.DatetimeIndex(["2023-11-22", "2023-11-24", "2023-11-27", "2023-11-28"]).as_unit("ns").asi8
    assert infer_timeframe(days) == pd.Timedelta(days=1)
    assert infer_timeframe(ns[:1]) is None


def test_unsorted_rows_sorted_with_warning(tmp_path, equity):
    frame = _plain(equity).iloc[::-1]
    frame.to_csv(tmp_path / "U.csv", index=False)
    with pytest.warns(UserWarning, match="not in time order"):
        (bars,) = load_bars(tmp_path / "U.csv")
    pd.testing.assert_frame_equal(bars.frame, equity.frame, check_freq=False)


def test_extended_hours_dropped_with_warning_or_kept(tmp_path):
    idx = pd.date_range("2023-11-27 13:00", "2023-11-27 22:00", freq="15min", tz="UTC", inclusive="left")
    frame = pd.DataFrame({"timestamp": idx, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "volume": 1.0})
    frame.to_csv(tmp_path / "EXT.csv", index=False)
    with pytest.warns(UserWarning, match="outside regular"):
        (regular,) = load_bars(tmp_path / "EXT.csv")
    assert len(regular) == 26
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (extended,) = load_bars(tmp_path / "EXT.csv", keep_extended=True)
    assert len(extended) == len(frame)


def test_resample_on_load(tmp_path, equity):
    _plain(equity).to_csv(tmp_path / "R.csv", index=False)
    (hourly,) = load_bars(tmp_path / "R.csv", resample="1h")
    assert hourly.timeframe == pd.Timedelta("1h")
    assert hourly.frame.groupby("session").size().loc[pd.Timestamp("2023-11-24")] == 4  # 9:30,10,11,12


def test_dataframe_source(equity):
    (bars,) = load_bars(_plain(equity), symbol="DF")
    assert bars.symbol == "DF" and len(bars) == len(equity)


def test_daily_bars_at_utc_midnight_and_yyyymmdd_ints(tmp_path):
    dates = ["2023-11-22", "2023-11-24", "2023-11-27"]
    base = {"open": [10.0, 11, 12], "high": [11.0, 12, 13], "low": [9.0, 10, 11], "close": [10.5, 11.5, 12.5],
            "volume": [1.0, 2, 3]}
    pd.DataFrame({"timestamp": [f"{d}T00:00:00Z" for d in dates], **base}).to_csv(tmp_path / "U.csv", index=False)
    (utc,) = load_bars(tmp_path / "U.csv")
    assert [s.strftime("%Y-%m-%d") for s in utc.frame["session"]] == dates  # not the evening before
    pd.DataFrame({"date": [int(d.replace("-", "")) for d in dates], **base}).to_csv(tmp_path / "I.csv", index=False)
    (ints,) = load_bars(tmp_path / "I.csv")
    assert list(ints.index.strftime("%Y-%m-%d")) == dates and ints.timeframe == pd.Timedelta(days=1)


def test_equity_after_hours_on_friday_evening_is_not_crypto(tmp_path):
    idx = pd.date_range("2023-11-27 14:30", "2023-12-02 01:00", freq="1h", tz="UTC")  # Fri 20:00 NY = Sat 01:00 UTC
    frame = pd.DataFrame({"timestamp": idx, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "volume": 1.0})
    ny = idx.tz_convert("America/New_York")
    frame = frame[(ny.day_of_week < 5) & (ny.hour >= 4) & (ny.hour <= 20)]  # pre-market to after hours
    frame.to_csv(tmp_path / "AH.csv", index=False)
    (bars,) = load_bars(tmp_path / "AH.csv", keep_extended=True)
    assert bars.asset_class == "equity" and bars.index[-1] == pd.Timestamp("2023-12-02 00:30", tz="UTC")
    with pytest.raises(DataError, match="--keep-extended"):  # most bars are extended hours: refused, not trimmed
        load_bars(tmp_path / "AH.csv")


def test_symbol_picks_one_file_of_a_directory(tmp_path, equity):
    _plain(equity).to_csv(tmp_path / "AAA.csv", index=False)
    _plain(equity).to_csv(tmp_path / "BBB.csv", index=False)
    (bars,) = load_bars(tmp_path, symbol="bbb")
    assert bars.symbol == "BBB"
    with pytest.raises(DataError, match="not found"):
        load_bars(tmp_path, symbol="CCC")


def test_separate_date_and_time_columns_and_utc_suffix(tmp_path):
    (tmp_path / "DT.csv").write_text("Date,Time,Open,High,Low,Close,Volume\n"
                                     "11/24/2023,09:30,10,11,9,10,5\n11/24/2023,09:45,10,11,9,10,5\n")
    (bars,) = load_bars(tmp_path / "DT.csv")
    assert bars.index[0] == pd.Timestamp("2023-11-24 14:30", tz="UTC")
    assert list(bars.frame["minutes_to_close"]) == [210.0, 195.0]  # early close day
    (tmp_path / "Z.csv").write_text("time,open,high,low,close,volume\n"
                                    "2023-11-27 14:30:00 UTC,10,11,9,10,5\n2023-11-27 14:45:00 UTC,10,11,9,10,5\n")
    (utc,) = load_bars(tmp_path / "Z.csv")
    assert utc.index[0] == pd.Timestamp("2023-11-27 14:30", tz="UTC")
