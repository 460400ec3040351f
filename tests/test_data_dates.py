"""Day-first against month-first dates (issue 25): decided by the whole column, an ambiguous
column refused with the option that settles it, never guessed."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.data import DataError, load_bars
from backtest.sample_data import generate_equity_bars, generate_fx_bars
from walkforward.cli import main
from walkforward.config import RunConfig

OHLCV = ["open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def june():
    """Hourly FX bars 1-12 June 2017: every day <= 12, the trap of the issue."""
    return generate_fx_bars("EURUSD", "2017-06-01", "2017-06-13", timeframe="1h", seed=1)


def _write(bars, path, fmt):
    frame = bars.frame[OHLCV].reset_index()
    frame["timestamp"] = frame["timestamp"].dt.strftime(fmt)
    frame.to_csv(path, index=False)
    return path


def test_ambiguous_day_first_column_is_refused_with_the_option(tmp_path, june, capsys):
    path = _write(june, tmp_path / "EURUSD_1h.csv", "%d/%m/%Y %H:%M")
    with pytest.raises(DataError, match=r"'01/06/2017 00:00' can be read day-first or month-first.*--date-format"):
        load_bars(path)
    assert main(["data", str(path)]) == 2
    assert "--date-format dayfirst" in capsys.readouterr().err
    for kw in ({"dayfirst": True}, {"date_format": "dayfirst"}, {"date_format": "%d/%m/%Y %H:%M"}):
        (bars,) = load_bars(path, **kw)
        assert bars.index.equals(june.index) and bars.asset_class == "fx"
    assert main(["data", str(path), "--date-format", "dayfirst", "--json"]) == 0
    assert '"first": "2017-06-01T00:00:00+00:00"' in capsys.readouterr().out
    (month_first,) = load_bars(path, dayfirst=False, keep_extended=True, asset_class="fx")
    assert month_first.index[0] == pd.Timestamp("2017-01-06", tz="UTC")  # the user's choice, taken as given


@pytest.mark.parametrize("fmt,order", [("%d/%m/%Y", "day"), ("%d.%m.%Y", "day"), ("%d-%m-%y", "day"),
                                       ("%m/%d/%Y", "month"), ("%m-%d-%Y", "month")])
def test_a_day_above_twelve_anywhere_decides(tmp_path, fmt, order):
    daily = generate_equity_bars("ACME", "2020-01-01", "2020-03-01", timeframe="1D", seed=2)
    frame = daily.frame[OHLCV].copy()
    frame.index = frame.index.tz_convert("America/New_York").strftime(fmt)
    frame.rename_axis("Date").to_csv(tmp_path / "ACME.csv")
    (bars,) = load_bars(tmp_path / "ACME.csv")
    assert bars.index.equals(daily.index)
    wrong = "monthfirst" if order == "day" else "dayfirst"
    with pytest.raises(DataError, match=f"date_format={wrong} but .* pass --date-format"):
        load_bars(tmp_path / "ACME.csv", date_format=wrong)


def test_same_day_and_month_is_not_ambiguous(tmp_path):
    frame = pd.DataFrame({"date": ["01/01/2020", "02/02/2020", "03/03/2020"], "open": 1.0, "high": 1.0,
                          "low": 1.0, "close": 1.0, "volume": 1.0})
    frame.to_csv(tmp_path / "X.csv", index=False)
    (bars,) = load_bars(tmp_path / "X.csv", asset_class="crypto", timeframe="1D")
    assert bars.index[1] == pd.Timestamp("2020-02-02", tz="UTC")


def test_date_format_in_config_and_python_is_validated(tmp_path, june):
    with pytest.raises(DataError, match="contradicts"):
        load_bars(_write(june, tmp_path / "E.csv", "%d/%m/%Y %H:%M"), dayfirst=True, date_format="monthfirst")
    with pytest.raises(DataError, match="date_format 'ymd' is unknown"):
        load_bars(tmp_path / "E.csv", date_format="ymd")
    from backtest.errors import ConfigError

    with pytest.raises(ConfigError, match="date_format 'ymd' is unknown"):
        RunConfig(date_format="ymd")
    toml = tmp_path / "c.toml"
    toml.write_text('date_format = "dayfirst"\n')
    assert RunConfig.from_sources(str(toml), {}).date_format == "dayfirst"
    # where the data lives and how it is read are not the result's identity: the bars' hash is
    assert RunConfig(date_format="dayfirst").fingerprint() == RunConfig().fingerprint()


def test_actions_file_dates_follow_the_same_rule(tmp_path, june):
    from backtest.actions_file import read_actions

    frame = pd.DataFrame({"date": june.index.strftime("%d/%m/%Y %H:%M"), "action": "HOLD"})
    with pytest.raises(DataError, match="day-first or month-first"):
        read_actions(frame)
    table = read_actions(frame, "dayfirst")
    assert table.ns[0] == pd.Timestamp("2017-06-01").value
