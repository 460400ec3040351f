"""Symbol and asset class from file names and bar timing; refusing files that would be mostly
dropped; weekly and monthly bars (DESIGN 3.1, issue 15)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from backtest.data import DataError, bar_timing, infer_timeframe, load_bars
from backtest.sample_data import coarsen, generate_crypto_bars, generate_equity_bars, generate_fx_bars
from backtest.timeframes import DAY, MONTH, WEEK
from tests.test_bad_inputs import assert_bad_input
from walkforward.cli import main

OHLCV = ["open", "high", "low", "close", "volume"]


def _write(bars, path, naive=False):
    frame = bars.frame[OHLCV].reset_index()
    if naive:
        frame["timestamp"] = frame["timestamp"].dt.tz_localize(None).astype(str)
    if str(path).endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _load_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no drop, no conflict, no timeframe warning
        warnings.filterwarnings("ignore", message=".*guessed from its name")  # the name-only notice (issue 25)
        return load_bars(path, **kw)


@pytest.fixture(scope="module")
def fx_hourly():
    return generate_fx_bars("X", "2023-03-01", "2023-04-15", timeframe="1h", seed=1)


@pytest.fixture(scope="module")
def equity_15min():
    return generate_equity_bars("X", "2023-03-01", "2023-03-31", seed=2)


def test_eurusd_1h_is_fx_and_keeps_every_bar(tmp_path, fx_hourly):
    """The measured case: EURUSD_1h.csv was read as an equity named "EURUSD_1h" and lost 76%
    of its bars with a warning. Now the symbol drops the timeframe token and nothing is lost."""
    (bars,) = _load_quiet(_write(fx_hourly, tmp_path / "EURUSD_1h.csv"))
    assert (bars.symbol, bars.asset_class, bars.timeframe) == ("EURUSD", "fx", pd.Timedelta("1h"))
    assert len(bars) == len(fx_hourly) and bars.calendar is None
    (naive,) = _load_quiet(_write(fx_hourly, tmp_path / "eurusd-1m.csv", naive=True), timeframe="1h")
    assert (naive.symbol, naive.asset_class) == ("eurusd", "fx") and len(naive) == len(fx_hourly)


@pytest.mark.parametrize("name, symbol, asset_class", [
    ("AAPL-15min.csv", "AAPL", "equity"), ("SPY_15min.parquet", "SPY", "equity"), ("QQQ.csv", "QQQ", "equity"),
])
def test_equity_names_with_suffixes(tmp_path, equity_15min, name, symbol, asset_class):
    (bars,) = _load_quiet(_write(equity_15min, tmp_path / name))
    assert (bars.symbol, bars.asset_class, len(bars)) == (symbol, asset_class, len(equity_15min))


def test_crypto_and_daily_names(tmp_path):
    crypto = generate_crypto_bars("X", "2023-01-01", "2023-03-01", timeframe="1D", seed=3)
    (btc,) = _load_quiet(_write(crypto, tmp_path / "BTC-USD_1d.parquet"))
    assert (btc.symbol, btc.asset_class, btc.timeframe) == ("BTC-USD", "crypto", DAY)
    daily = generate_equity_bars("X", "2022-01-03", "2022-06-01", timeframe="1D", seed=4)
    (spy,) = _load_quiet(_write(daily, tmp_path / "SPY_daily.csv"))
    assert (spy.symbol, spy.asset_class, spy.timeframe) == ("SPY", "equity", DAY)


def test_timing_decides_without_a_name_hint(tmp_path, fx_hourly):
    """ES_H1: a name with no class in it; bars round the clock on weekdays -> 24/5 (fx sessions)."""
    (es,) = _load_quiet(_write(fx_hourly, tmp_path / "ES_H1.csv"))
    assert (es.symbol, es.asset_class) == ("ES", "fx")
    crypto = generate_crypto_bars("X", "2023-01-01", "2023-01-20", timeframe="1h", seed=5)
    (coin,) = _load_quiet(_write(crypto, tmp_path / "SOMECOIN_1h.csv"))
    assert (coin.symbol, coin.asset_class) == ("SOMECOIN", "crypto")


def test_hint_conflicting_with_clear_timing_does_not_win_silently(tmp_path, equity_15min, fx_hourly):
    # LTC: Litecoin by name, but NYSE-hours bars over a month (LTC Properties, an equity)
    with pytest.warns(UserWarning, match=r"looks like crypto.*loaded as equity.*--asset-class crypto"):
        (ltc,) = load_bars(_write(equity_15min, tmp_path / "LTC_15min.csv"))
    assert ltc.asset_class == "equity" and len(ltc) == len(equity_15min)
    crypto = generate_crypto_bars("X", "2023-01-01", "2023-01-20", timeframe="1h", seed=6)
    with pytest.warns(UserWarning, match=r"looks like fx.*Saturdays.*loaded as crypto"):
        (eur,) = load_bars(_write(crypto, tmp_path / "EURUSD.csv"))
    assert eur.asset_class == "crypto" and len(eur) == len(crypto)
    # an explicit class always wins (and is checked by the refusal rule instead)
    (forced,) = _load_quiet(_write(equity_15min, tmp_path / "LTC.csv"), asset_class="crypto")
    assert forced.asset_class == "crypto"


def test_bar_timing_rules():
    fx = generate_fx_bars("X", "2023-03-01", "2023-03-20", timeframe="15min").timestamps_ns
    eq = generate_equity_bars("X", "2023-03-01", "2023-03-20").timestamps_ns
    cr = generate_crypto_bars("X", "2023-03-03", "2023-03-06", timeframe="1h").timestamps_ns  # Fri-Sun
    assert bar_timing(fx, True, pd.Timedelta("15min")).classes == ("fx",)
    assert bar_timing(eq, True, pd.Timedelta("15min")).classes == ("equity", "fx")
    assert bar_timing(eq[:26 * 3], True, pd.Timedelta("15min")) is None  # three days: too short to rule out 24/7
    assert bar_timing(cr, True, pd.Timedelta("1h")).classes == ("crypto",)  # includes a Saturday
    assert bar_timing(eq, True, WEEK) is None  # weekly/monthly bars say nothing about trading hours
    # daily bars stamped at 00:00 UTC are dated by their UTC date (not the New York evening before)
    days = pd.bdate_range("2023-01-02", periods=40, tz="UTC").as_unit("ns").asi8
    assert bar_timing(days, True, DAY).classes == ("equity", "fx")


def _extended_hours_file(tmp_path, name="QQQ_1h.csv"):
    idx = pd.date_range("2023-11-06 09:00", "2023-11-25 02:00", freq="1h", tz="UTC")
    ny = idx.tz_convert("America/New_York")
    idx = idx[(ny.day_of_week < 5) & (ny.hour >= 4) & (ny.hour < 20)]  # 04:00-20:00 New York
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, len(idx))))
    frame = pd.DataFrame({"timestamp": idx, "open": close, "high": close * 1.001, "low": close * 0.999,
                          "close": close, "volume": 1e4})
    frame.to_csv(tmp_path / name, index=False)
    return tmp_path / name, len(frame)


def test_mostly_extended_hours_equity_is_refused_not_trimmed(tmp_path):
    path, n = _extended_hours_file(tmp_path)
    with pytest.raises(DataError, match=r"QQQ: \d+ of \d+ bars \(\d+%\) fall outside XNYS regular hours.*"
                                        r"--asset-class crypto or fx.*--keep-extended"):
        load_bars(path)
    (kept,) = _load_quiet(path, keep_extended=True)
    assert len(kept) == n and kept.asset_class == "equity"
    assert (kept.frame["minutes_from_open"] < 0).any() and (kept.frame["minutes_to_close"] < 0).any()


def test_a_forced_class_that_drops_most_bars_is_refused(tmp_path, fx_hourly):
    path = _write(fx_hourly, tmp_path / "EURUSD_1h.csv")
    with pytest.raises(DataError, match=r"EURUSD: \d+ of \d+ bars.*asset class equity: given.*--asset-class"):
        load_bars(path, asset_class="equity")


def test_a_small_share_outside_sessions_is_still_dropped_with_a_warning(tmp_path, equity_15min):
    frame = equity_15min.frame[OHLCV].reset_index()
    extra = frame.iloc[:3].copy()
    extra["timestamp"] = extra["timestamp"] - pd.Timedelta(hours=2)  # three pre-market bars
    pd.concat([extra, frame]).sort_values("timestamp").to_csv(tmp_path / "X.csv", index=False)
    with pytest.warns(UserWarning, match="dropped 3 X bar.*--keep-extended"):
        (bars,) = load_bars(tmp_path / "X.csv")
    assert len(bars) == len(equity_15min)


def test_refusal_through_the_cli_is_one_error_line_and_exit_2(tmp_path, capsys):
    path, _ = _extended_hours_file(tmp_path)
    rc = main(["data", str(path)])
    assert_bad_input(rc, capsys.readouterr().err, r"QQQ_1h\.csv: QQQ: .* would be dropped", "--keep-extended",
                     "--asset-class")
    assert main(["data", str(path), "--keep-extended", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["symbols"]
    assert row["symbol"] == "QQQ" and row["asset_class"] == "equity" and row["timeframe"] == "1h"
    assert main(["backtest", "--baseline", "flat", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "--keep-extended" in capsys.readouterr().err
    assert main(["backtest", "--baseline", "flat", str(path), "--keep-extended", "--out", str(tmp_path / "o")]) == 0


def test_file_name_timeframe_disagreeing_with_the_bars_is_reported(tmp_path, equity_15min):
    with pytest.warns(UserWarning, match="file name says 1h bars but X's bars are 15min apart"):
        (bars,) = load_bars(_write(equity_15min, tmp_path / "X_1h.csv"))
    assert bars.timeframe == pd.Timedelta("15min")


def test_the_file_name_timeframe_serves_when_one_bar_cannot_tell(tmp_path):
    (tmp_path / "ONE_1h.csv").write_text("timestamp,open,high,low,close,volume\n"
                                          "2023-11-27 14:30:00+00:00,10,11,9,10,5\n")
    (bars,) = load_bars(tmp_path / "ONE_1h.csv", min_bars=1)
    assert bars.timeframe == pd.Timedelta("1h") and bars.symbol == "ONE"


def test_symbol_filter_matches_the_stripped_name_or_the_stem(tmp_path, equity_15min):
    _write(equity_15min, tmp_path / "AAA_15min.csv")
    _write(equity_15min, tmp_path / "BBB_15min.csv")
    assert load_bars(tmp_path, symbol="bbb")[0].symbol == "BBB"
    assert load_bars(tmp_path, symbol="AAA_15min")[0].symbol == "AAA"


# ------------------------------------------------------------------ weekly and monthly bars


def _coarse(kind, asset_class):
    daily = {"equity": lambda: generate_equity_bars("X", "2015-01-01", "2020-01-01", timeframe="1D", seed=7),
             "crypto": lambda: generate_crypto_bars("X", "2015-01-01", "2020-01-01", timeframe="1D", seed=7),
             "fx": lambda: generate_fx_bars("X", "2015-01-01", "2020-01-01", timeframe="1D", seed=7)}[asset_class]()
    return coarsen(daily, kind)


@pytest.mark.parametrize("asset_class", ["equity", "crypto", "fx"])
@pytest.mark.parametrize("kind, expected, per_year", [("1W", WEEK, 52.18), ("1mo", MONTH, 12.0)])
def test_weekly_and_monthly_bars_are_understood(tmp_path, capsys, asset_class, kind, expected, per_year):
    from walkforward.orchestrator import bars_per_year

    bars = _coarse(kind, asset_class)
    name = {"equity": "SPY", "crypto": "BTC-USD", "fx": "EURUSD"}[asset_class]
    path = _write(bars, tmp_path / f"{name}_{kind}.csv")
    (loaded,) = _load_quiet(path)
    assert (loaded.symbol, loaded.asset_class, loaded.timeframe) == (name, asset_class, expected)
    assert len(loaded) == len(bars) and np.median(np.diff(loaded.session_index)) >= 4  # many sessions per bar
    assert infer_timeframe(loaded.timestamps_ns) == expected
    assert bars_per_year(loaded) == pytest.approx(per_year, rel=0.02)
    assert main(["data", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["symbols"]
    assert row["gaps"] == 0 and row["timeframe"] == {"1W": "1W", "1mo": "1mo"}[kind]
    assert row["sessions"] == len(bars)


def test_monthly_bars_stamped_on_month_starts_and_ends(tmp_path, capsys):
    """Vendors stamp months at the 1st (often a weekend or holiday) or at the last business day;
    both load as monthly equity bars with no bar dropped, and a missing month is one gap."""
    for stamps in (pd.date_range("2001-01-01", periods=120, freq="MS"),
                   pd.date_range("2001-01-01", periods=120, freq="BME")):
        stamps = stamps.delete(50)  # one month missing
        rng = np.random.default_rng(1)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.04, len(stamps))))
        frame = pd.DataFrame({"date": stamps.strftime("%Y-%m-%d"), "open": close, "high": close * 1.02,
                              "low": close * 0.98, "close": close, "volume": 1e8})
        frame.to_csv(tmp_path / "IDX.csv", index=False)
        (bars,) = _load_quiet(tmp_path / "IDX.csv")
        assert bars.asset_class == "equity" and bars.timeframe == MONTH and len(bars) == len(stamps)
        assert main(["data", str(tmp_path / "IDX.csv"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["symbols"][0]["gaps"] == 1


def test_run_and_evaluate_take_keep_extended(tmp_path, capsys):
    """`run` and `evaluate` refuse the mostly-extended file like `data`, and load it with the flag."""
    from walkforward.commands.run import load_config
    from walkforward.orchestrator import load_series
    from walkforward.cli import build_parser

    path, n = _extended_hours_file(tmp_path)
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "--keep-extended" in capsys.readouterr().err and not (tmp_path / "r").exists()
    for argv in (["run", str(path), "--keep-extended"], ["evaluate", "a.csv", str(path), "--keep-extended"]):
        config = load_config(build_parser().parse_args(argv))
        assert config.keep_extended
        (bars,) = load_series(config)
        assert len(bars) == n
