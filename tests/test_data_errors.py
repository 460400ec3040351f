"""One test per `DataError` case of DESIGN 3.1: each message names the file, the row
or timestamp, what is wrong and how to fix it; nothing raises another exception type."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.data import DataError, load_bars

GOOD = """timestamp,open,high,low,close,volume
2023-11-27 14:30:00+00:00,10,11,9,10.5,100
2023-11-27 14:45:00+00:00,10.5,11.5,10,11,200
2023-11-27 15:00:00+00:00,11,12,10.5,11.5,300
2023-11-27 15:15:00+00:00,11.5,12,11,11.8,400
"""


def _write(tmp_path: Path, text: str, name: str = "BAD.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _edit(line: int, column: str, value: str) -> str:
    lines = GOOD.strip().split("\n")
    header = lines[0].split(",")
    cells = lines[line].split(",")
    cells[header.index(column)] = value
    lines[line] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _refused(path, *patterns, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_bars(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    return message


def test_good_file_loads(tmp_path):
    (bars,) = load_bars(_write(tmp_path, GOOD, "OK.csv"))
    assert len(bars) == 4


def test_missing_columns(tmp_path):
    text = "\n".join(",".join(row.split(",")[:5]) for row in GOOD.strip().split("\n")) + "\n"
    _refused(_write(tmp_path, text), "missing column", "volume", "needs")


def test_missing_timestamp_column(tmp_path):
    text = "\n".join(",".join(row.split(",")[1:]) for row in GOOD.strip().split("\n")) + "\n"
    _refused(_write(tmp_path, text), "missing column", "timestamp")


def test_unparsable_timestamp(tmp_path):
    _refused(_write(tmp_path, _edit(3, "timestamp", "not-a-date")), r"row 3", "cannot be parsed", "ISO 8601")


def test_empty_timestamp_cell(tmp_path):
    _refused(_write(tmp_path, _edit(2, "timestamp", "")), r"row 2", "timestamp")


def test_duplicate_timestamps(tmp_path):
    text = _edit(3, "timestamp", "2023-11-27 14:45:00+00:00")
    _refused(_write(tmp_path, text), r"rows 2 and 3", "same timestamp", "one bar per timestamp")


@pytest.mark.parametrize("value, what", [("", "missing"), ("nan", "missing"), ("inf", "infinite"),
                                         ("abc", "not a number")])
def test_nan_infinite_or_text_values(tmp_path, value, what):
    _refused(_write(tmp_path, _edit(4, "low", value)), r"row 4", "low", what)


def test_non_positive_price(tmp_path):
    text = _edit(2, "low", "0")
    _refused(_write(tmp_path, text), r"row 2", "non-positive price", "> 0")


def test_high_below_low(tmp_path):
    text = _edit(1, "high", "8.5")
    _refused(_write(tmp_path, text), r"row 1", "high below low", "2023-11-27 14:30")


def test_close_outside_range(tmp_path):
    _refused(_write(tmp_path, _edit(2, "close", "13")), r"row 2", r"close outside \[low, high\]")


def test_open_outside_range(tmp_path):
    _refused(_write(tmp_path, _edit(2, "open", "9.5")), r"row 2", r"open outside \[low, high\]")


def test_negative_volume(tmp_path):
    _refused(_write(tmp_path, _edit(4, "volume", "-1")), r"row 4", "negative volume")


def test_too_few_bars(tmp_path):
    _refused(_write(tmp_path, GOOD), "4 bar", "fewer than the 10", "longer history", min_bars=10)


def test_empty_file(tmp_path):
    _refused(_write(tmp_path, ""), "empty")


def test_header_only(tmp_path):
    _refused(_write(tmp_path, GOOD.split("\n")[0] + "\n"), "no data rows")


def test_binary_garbage(tmp_path):
    path = tmp_path / "GARBAGE.csv"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    _refused(path)


def test_unreadable_parquet(tmp_path):
    path = tmp_path / "BROKEN.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    _refused(path, "parquet")


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_bars(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    _refused(tmp_path / "empty", "no .csv or .parquet")


def test_duplicate_symbol_across_files(tmp_path):
    (tmp_path / "d").mkdir()
    _write(tmp_path / "d", GOOD, "A.csv")
    _write(tmp_path / "d", GOOD, "A.parquet")
    pd.read_csv(tmp_path / "d" / "A.csv").to_parquet(tmp_path / "d" / "A.parquet")
    with pytest.raises(DataError, match="also comes from"):
        load_bars(tmp_path / "d")


def test_bad_asset_class_argument(tmp_path):
    with pytest.raises(DataError, match="asset_class"):
        load_bars(_write(tmp_path, GOOD), asset_class="bonds")


def test_single_bar_cannot_infer_timeframe(tmp_path):
    text = "\n".join(GOOD.strip().split("\n")[:2]) + "\n"
    _refused(_write(tmp_path, text), "timeframe", min_bars=1)
    (bars,) = load_bars(_write(tmp_path, text, "ONE.csv"), min_bars=1, timeframe="15min")
    assert len(bars) == 1


def test_timestamps_far_outside_calendar_range(tmp_path):
    text = GOOD.replace("2023-11-27", "2190-11-27")
    _refused(_write(tmp_path, text), "outside", "timestamp column", asset_class="equity")


def test_value_errors_name_the_timestamp(tmp_path):
    _refused(_write(tmp_path, _edit(2, "volume", "nan")), r"row 2 \(2023-11-27 14:45:00\+00:00\)", "volume")


def test_timestamp_beyond_nanosecond_range(tmp_path):
    _refused(_write(tmp_path, _edit(2, "timestamp", "2990-11-27 14:45:00+00:00")), "row 2", "out of range")


def test_unknown_calendar(tmp_path):
    _refused(_write(tmp_path, GOOD), "calendar 'NOPE'", "XNYS", calendar="NOPE")


def test_empty_symbol_in_long_file(tmp_path):
    lines = GOOD.strip().split("\n")
    text = lines[0] + ",symbol\n" + "\n".join(l + (",AAA" if i != 2 else ", ") for i, l in enumerate(lines[1:], 1))
    _refused(_write(tmp_path, text + "\n"), "row 2", "symbol is empty")


@pytest.mark.parametrize("timeframe", ["often", "-15min"])
def test_bad_timeframe_argument(tmp_path, timeframe):
    with pytest.raises(DataError, match="timeframe"):
        load_bars(_write(tmp_path, GOOD), timeframe=timeframe)
