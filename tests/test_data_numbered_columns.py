"""A DataFrame read without its header (``pd.read_csv(path, header=None)``, columns numbered
0, 1, ...) loads as the file does: the headerless layouts (Binance klines, MetaTrader 4) are
recognised from the first row, as `backtest.sniff.read_csv` recognises a file's (issue 25,
"from a notebook"); numbered columns of no known layout are refused with the names needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.data import load_bars
from backtest.errors import DataError

OHLCV = ["open", "high", "low", "close", "volume"]


def _klines(path, n=60):
    t = pd.date_range("2023-01-01", periods=n, freq="1h", tz="UTC").as_unit("ns").asi8 // 10**6
    rng = np.random.default_rng(1)
    close = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n))), 2)
    open_ = np.r_[close[0], close[:-1]]
    rows = pd.DataFrame({0: t, 1: open_, 2: np.maximum(open_, close) + 5, 3: np.minimum(open_, close) - 5, 4: close,
                         5: np.round(rng.uniform(10, 99, n), 5), 6: t + 3_599_999, 7: 1.5, 8: 100, 9: 2.5, 10: 3.5,
                         11: 0})
    rows.to_csv(path, header=False, index=False)
    return close


def _mt4(path, n=40):
    t = pd.date_range("2023-01-02", periods=n, freq="1h")
    close = np.round(1.08 + np.arange(n) * 1e-4, 5)
    with open(path, "w") as f:
        for i in range(n):
            o = close[i - 1] if i else close[0]
            f.write(f"{t[i]:%Y.%m.%d},{t[i]:%H:%M},{o:.5f},{max(o, close[i]) + 2e-4:.5f},"
                    f"{min(o, close[i]) - 2e-4:.5f},{close[i]:.5f},{100 + i}\n")
    return close


def test_binance_klines_read_with_header_none_load_as_the_file_does(tmp_path):
    path = tmp_path / "BTCUSDT-1h-2023-01.csv"
    close = _klines(path)
    (from_file,) = load_bars(path)
    (from_frame,) = load_bars(pd.read_csv(path, header=None), symbol="BTCUSDT")
    assert from_frame.frame.index.equals(from_file.frame.index)
    assert np.array_equal(from_frame.frame[OHLCV].to_numpy(), from_file.frame[OHLCV].to_numpy())
    assert np.array_equal(from_frame.frame["close"].to_numpy(), close)
    assert from_frame.frame.index[0] == pd.Timestamp("2023-01-01", tz="UTC")
    assert (from_frame.asset_class, from_frame.timeframe) == ("crypto", pd.Timedelta("1h"))


def test_metatrader4_read_with_header_none_loads(tmp_path):
    path = tmp_path / "EURUSD60.csv"
    close = _mt4(path)
    (from_file,) = load_bars(path, keep_extended=True, asset_class="fx")
    (from_frame,) = load_bars(pd.read_csv(path, header=None), symbol="EURUSD", keep_extended=True, asset_class="fx")
    assert from_frame.frame.index.equals(from_file.frame.index)
    assert np.array_equal(from_frame.frame["close"].to_numpy(), close)
    assert from_frame.frame["volume"].iloc[-1] == 100 + len(close) - 1


def test_numbered_columns_of_no_known_layout_are_refused_with_the_names_needed():
    with pytest.raises(DataError, match=r"<DataFrame>: its columns are numbered 0\.\.2 \(read with header=None\?\) "
                                        r"and its first row \('1,2,3'\) matches no known headerless layout.*name the "
                                        r"columns timestamp, open, high, low, close, volume"):
        load_bars(pd.DataFrame([[1, 2, 3], [4, 5, 6]]))
