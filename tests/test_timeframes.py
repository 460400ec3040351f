"""Timeframe tokens, symbols from file names, coarse (weekly/monthly) bars and their sessions."""

import numpy as np
import pandas as pd
import pytest

from backtest.bars import timeframe_label
from backtest.sessions import tag_sessions
from backtest.timeframes import (DAY, MONTH, WEEK, is_coarse, parse_timeframe, parse_timeframe_arg,
                                 sessions_per_bar, split_symbol)

H, MIN = pd.Timedelta(hours=1), pd.Timedelta(minutes=1)


@pytest.mark.parametrize("token, expected", [
    ("1m", MIN), ("5min", 5 * MIN), ("15min", 15 * MIN), ("15MIN", 15 * MIN), ("1T", MIN), ("1h", H),
    ("4H", 4 * H), ("1hr", H), ("1d", DAY), ("1D", DAY), ("1day", DAY), ("1w", WEEK), ("1W", WEEK),
    ("1wk", WEEK), ("1mo", MONTH), ("1MO", MONTH), ("1M", MONTH), ("3mo", 3 * MONTH), ("30s", pd.Timedelta("30s")),
    ("H1", H), ("h4", 4 * H), ("M1", MIN), ("M15", 15 * MIN), ("m30", 30 * MIN), ("D1", DAY), ("W1", WEEK),
    ("MN1", MONTH), ("MN", MONTH), ("daily", DAY), ("Daily", DAY), ("hourly", H), ("weekly", WEEK),
    ("monthly", MONTH), ("minute", MIN), ("eod", DAY),
])
def test_timeframe_tokens(token, expected):
    assert parse_timeframe(token) == expected


@pytest.mark.parametrize("token", ["USD", "B", "M", "H", "2023", "0m", "H0", "1x", "PERP", "", "1 h", "X1"])
def test_not_timeframe_tokens(token):
    assert parse_timeframe(token) is None


@pytest.mark.parametrize("stem, symbol, tf", [
    ("EURUSD_1h", "EURUSD", H), ("AAPL-15min", "AAPL", 15 * MIN), ("BTC-USD_1d", "BTC-USD", DAY),
    ("ES_H1", "ES", H), ("SPY_daily", "SPY", DAY), ("eurusd-1m", "eurusd", MIN), ("BTCUSDT_1M", "BTCUSDT", MONTH),
    ("SPY__1W", "SPY", WEEK),
    ("BRK-B", "BRK-B", None), ("BTC-USD", "BTC-USD", None), ("AAPL_15min_2023", "AAPL_15min_2023", None),
    ("1h", "1h", None), ("_1h", "_1h", None), ("sp500", "sp500", None),
])
def test_symbol_and_timeframe_from_file_stem(stem, symbol, tf):
    assert split_symbol(stem) == (symbol, tf)


def test_timeframe_argument_and_labels():
    assert parse_timeframe_arg("1mo") == MONTH and parse_timeframe_arg("90min") == pd.Timedelta("90min")
    assert parse_timeframe_arg(pd.Timedelta("2h")) == pd.Timedelta("2h")
    for bad in ("soon", "-1h", "0s"):
        with pytest.raises(ValueError):
            parse_timeframe_arg(bad)
    assert [timeframe_label(t) for t in (MONTH, 3 * MONTH, WEEK, DAY, 15 * MIN, 4 * H)] == \
        ["1mo", "3mo", "1W", "1D", "15min", "4h"]


def test_sessions_per_bar():
    assert not is_coarse(DAY) and is_coarse(WEEK) and is_coarse(MONTH) and not is_coarse(None)
    assert sessions_per_bar(H, "equity") == sessions_per_bar(DAY, "crypto") == 1.0
    assert sessions_per_bar(WEEK, "fx") == pytest.approx(5.0)
    assert sessions_per_bar(WEEK, "crypto") == pytest.approx(7.0)
    assert sessions_per_bar(WEEK, "equity") == pytest.approx(7 * 252 / 365.25)
    assert sessions_per_bar(MONTH, "equity") == pytest.approx(21.0, abs=0.01)  # 252 / 12
    assert sessions_per_bar(MONTH, "crypto") == pytest.approx(365.2425 / 12)


def _frame(dates):
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).tz_localize("America/New_York").tz_convert("UTC")
    n = len(idx)
    return pd.DataFrame({"open": np.ones(n), "high": np.ones(n), "low": np.ones(n), "close": np.ones(n),
                         "volume": np.ones(n)}, index=idx.rename("timestamp"))


def test_monthly_equity_bars_on_holidays_and_weekends_join_the_next_session():
    """Month-start stamps (Jan 1 holiday, Saturday Feb 1 2020 ...) are never dropped as off-session
    days: each coarse bar belongs to the first session on or after its date."""
    dates = pd.date_range("2020-01-01", periods=24, freq="MS")
    out = tag_sessions(_frame(dates), "equity", timeframe=MONTH)
    assert len(out) == 24
    assert out["session"].iloc[0] == pd.Timestamp("2020-01-02")  # New Year's Day -> next session
    assert out["session"].iloc[1] == pd.Timestamp("2020-02-03")  # Saturday Feb 1 -> Monday
    assert (out["session"] >= pd.DatetimeIndex(dates)).all() and np.all(np.diff(out["session_index"]) > 0)
    assert (out["minutes_from_open"] == 0).all() and (out["minutes_to_close"] == 390).all()
    # as daily bars the same stamps lose their holiday/weekend rows
    assert len(tag_sessions(_frame(dates), "equity", timeframe=DAY)) < 24


def test_weekly_fx_and_crypto_bars_are_never_dropped():
    weeks = pd.date_range("2021-01-03", periods=30, freq="W-SUN")  # Sunday stamps
    fx = tag_sessions(_frame(weeks), "fx", timeframe=WEEK)
    assert len(fx) == 30 and (pd.DatetimeIndex(fx["session"]).day_of_week == 0).all()  # rolled to Monday
    assert np.all(np.diff(fx["session_index"]) == 5)
    crypto = tag_sessions(_frame(weeks), "crypto", timeframe=WEEK)
    assert len(crypto) == 30 and np.all(np.diff(crypto["session_index"]) == 7)
