"""Session tagging against the real XNYS calendar, crypto UTC days and FX 17:00 NY days."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from backtest.errors import DataError
from backtest.sessions import tag_sessions
from tests.strategies import bars_strategy


def _frame(start, end, freq="15min"):
    idx = pd.date_range(start, end, freq=freq, tz="UTC", inclusive="left", name="timestamp")
    return pd.DataFrame({"close": np.arange(len(idx), dtype=float)}, index=idx)


def test_early_close_and_holiday_thanksgiving_2023():
    tagged = tag_sessions(_frame("2023-11-22", "2023-11-28"), "equity")
    counts = tagged.groupby("session").size()
    assert list(counts.index.strftime("%Y-%m-%d")) == ["2023-11-22", "2023-11-24", "2023-11-27"]
    assert list(counts) == [26, 14, 26]  # Thanksgiving is a holiday, the day after closes at 13:00
    day = tagged[tagged["session"] == pd.Timestamp("2023-11-24")]
    assert day.index[-1] == pd.Timestamp("2023-11-24 17:45", tz="UTC")
    assert day["minutes_to_close"].iloc[-1] == 15.0
    assert day["minutes_to_close"].iloc[0] == 210.0
    sidx = tagged.groupby("session")["session_index"].first().to_numpy()
    assert np.array_equal(np.diff(sidx), [1, 1])  # consecutive sessions across the holiday


def test_dst_change_moves_utc_open():
    tagged = tag_sessions(_frame("2023-03-09", "2023-03-15"), "equity")
    first = tagged.groupby("session").apply(lambda g: g.index[0].strftime("%H:%M"))
    assert list(first) == ["14:30", "14:30", "13:30", "13:30"]  # EST -> EDT on 2023-03-12
    assert (tagged.groupby("session").size() == 26).all()
    assert (tagged["minutes_from_open"] % 15 == 0).all()
    assert tagged["minutes_from_open"].max() == 375.0


def test_session_index_is_calendar_position_independent_of_range():
    a = tag_sessions(_frame("2023-11-20", "2023-11-28"), "equity")
    b = tag_sessions(_frame("2023-11-24", "2023-11-25"), "equity")
    ia = a.loc[b.index, "session_index"].to_numpy()
    assert np.array_equal(ia, b["session_index"].to_numpy())


def test_keep_extended_keeps_pre_and_post_market():
    frame = _frame("2023-11-27 12:00", "2023-11-27 23:00")
    regular = tag_sessions(frame, "equity")
    extended = tag_sessions(frame, "equity", keep_extended=True)
    assert len(regular) == 26 and len(extended) == len(frame)
    assert extended["minutes_from_open"].min() < 0 and extended["minutes_to_close"].min() < 0
    assert (extended["session"] == pd.Timestamp("2023-11-27")).all()


def test_daily_bars_tagged_at_open():
    idx = pd.DatetimeIndex(["2023-11-22", "2023-11-24", "2023-11-27"]).tz_localize("America/New_York")
    tagged = tag_sessions(pd.DataFrame({"close": [1.0, 2, 3]}, index=idx.tz_convert("UTC")), "equity")
    assert list(tagged["minutes_from_open"]) == [0.0, 0.0, 0.0]
    assert list(tagged["minutes_to_close"]) == [390.0, 210.0, 390.0]
    assert np.array_equal(np.diff(tagged["session_index"].to_numpy()), [1, 1])


def test_crypto_sessions_are_utc_days():
    tagged = tag_sessions(_frame("2023-11-24 22:00", "2023-11-26 02:00", "1h"), "crypto")
    assert list(tagged.groupby("session").size()) == [2, 24, 2]
    assert tagged["session_index"].iloc[0] == (pd.Timestamp("2023-11-24") - pd.Timestamp("1970-01-01")).days
    assert tagged["minutes_from_open"].iloc[0] == 22 * 60
    assert tagged["minutes_to_close"].iloc[0] == 120


def test_fx_sessions_roll_at_17_new_york():
    # Friday 2023-11-24 .. Tuesday: the Friday 17:00 NY close to Sunday 17:00 NY open is dropped
    tagged = tag_sessions(_frame("2023-11-24", "2023-11-28", "1h"), "fx")
    sessions = tagged.groupby("session").size()
    assert list(sessions.index.strftime("%Y-%m-%d")) == ["2023-11-24", "2023-11-27", "2023-11-28"]
    assert sessions.iloc[1] == 24
    monday = tagged[tagged["session"] == pd.Timestamp("2023-11-27")]
    assert monday.index[0] == pd.Timestamp("2023-11-26 22:00", tz="UTC")  # Sunday 17:00 EST
    assert monday["minutes_from_open"].iloc[0] == 0.0
    sidx = tagged.groupby("session")["session_index"].first().to_numpy()
    assert np.array_equal(np.diff(sidx), [1, 1])


def test_refuses_naive_index_and_bad_asset_class():
    frame = pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex(["2023-11-24 15:00"]))
    with pytest.raises(DataError, match="tz-aware"):
        tag_sessions(frame, "equity")
    with pytest.raises(DataError, match="asset_class"):
        tag_sessions(frame.tz_localize("UTC"), "bond")


def test_million_bars_vectorised_fast():
    import time

    frame = _frame("2000-01-01", "2028-07-10")[:1_000_000]
    t0 = time.perf_counter()
    tagged = tag_sessions(frame, "equity")
    assert time.perf_counter() - t0 < 5.0
    assert tagged.groupby("session").size().max() == 26


@given(bars_strategy())
def test_tagging_is_idempotent_and_consistent(bars):
    frame = bars.frame
    again = tag_sessions(frame[["open", "high", "low", "close", "volume"]], bars.asset_class,
                         timeframe=bars.timeframe)
    pd.testing.assert_frame_equal(again, frame)
    assert (np.diff(frame["session_index"].to_numpy()) >= 0).all()
    new_session = np.diff(frame["session"].to_numpy().astype("int64")) != 0
    assert np.array_equal(new_session, np.diff(frame["session_index"].to_numpy()) != 0)
    assert (frame["minutes_from_open"] >= 0).all() and (frame["minutes_to_close"] > 0).all()


def test_output_index_is_utc_named_timestamp_whatever_the_input_zone():
    frame = _frame("2023-11-27 14:30", "2023-11-27 16:00")
    local = frame.set_axis(frame.index.tz_convert("America/New_York").rename(None))
    tagged = tag_sessions(local, "equity")
    assert str(tagged.index.tz) == "UTC" and tagged.index.name == "timestamp"
    assert tagged.index.equals(frame.index)
