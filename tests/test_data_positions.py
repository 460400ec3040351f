"""Actions files as strategies write them (issue 25): 0/1 signals refused as ids, a ``position``
column translated into the account's own actions, DataFrames and Series from a notebook."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backtest.account import AccountConfig
from backtest.actions_file import NO_ACTION, positions_to_actions, read_actions
from backtest.errors import DataError
from backtest.sample_data import generate_equity_bars
from walkforward.cli import main
from walkforward.config import RunConfig

SMALL = ["--folds", "3", "--test-size", "120", "--null-draws", "40", "--random-seeds", "8", "-q", "--no-ledger"]
SETTINGS = dict(folds=3, test_size=120, null_draws=40, n_random_seeds=8)
CLOSE_ON = AccountConfig(include_close_action=True)
HOLD, B25, B50, B75, S25, S50, S75, CLOSE = range(8)


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    bars = generate_equity_bars("ACME", "2015-01-01", "2020-01-01", seed=5, timeframe="1D", annual_drift=0.1)
    path = tmp_path_factory.mktemp("data") / "ACME.csv"
    frame = bars.frame[["open", "high", "low", "close", "volume"]].copy()
    frame.index = frame.index.tz_convert("America/New_York").date
    frame.rename_axis("date").to_csv(path)
    return path, bars


def _signal(bars) -> np.ndarray:
    """1 while the last 10 closes (up to t-1) rose, else 0."""
    c = bars.close
    past = np.r_[np.full(11, np.nan), c[10:-1] / c[:-11] - 1.0]
    return (past > 0).astype(np.int64)


def _file(path, bars, column, values):
    pd.DataFrame({"date": bars.index.tz_convert("America/New_York").date, column: values}).to_csv(path, index=False)
    return path


def test_zero_one_action_column_is_refused_with_a_pointer_to_position(tmp_path, daily, capsys):
    path, bars = daily
    signals = _file(tmp_path / "sig.csv", bars, "action", _signal(bars))
    out = tmp_path / "ev"
    assert main(["evaluate", str(signals), str(path), "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "only 0 and 1" in err and "'position'" in err and "BUY_25" in err
    assert not out.exists()


def test_all_hold_ids_and_other_ids_are_not_refused(tmp_path, daily):
    _, bars = daily
    for values in ([0] * len(bars), [0, 1, 4] * (len(bars) // 3) + [0] * (len(bars) % 3)):
        table = read_actions(pd.DataFrame({"timestamp": bars.index, "action": values}))
        assert table.kind == "action"


def test_minus_one_and_close_name_their_fix(tmp_path, daily, capsys):
    path, bars = daily
    for cell, needle in (("-1", "'position'"), ("CLOSE", "include_close_action")):
        values = ["HOLD"] * len(bars)
        values[-5] = cell
        actions = _file(tmp_path / "a.csv", bars, "action", values)
        assert main(["evaluate", str(actions), str(path), "--out", str(tmp_path / "ev"), *SMALL]) == 2
        assert needle in capsys.readouterr().err


def test_positions_to_actions_reaches_the_cap_in_the_decoders_steps():
    targets = np.array([0, 1, 1, 1, 1, 0, 0, np.nan, 0.5, 0.5, 0.25, 0], dtype=float)
    got = positions_to_actions(targets, CLOSE_ON)
    # cap = 0.20 / (0.7 x 0.15) = 1.905 full buys: 0.75 + 0.75 + 0.5 (clipped at the cap)
    # 0.5 of the cap = 0.952: 0.75 then 0.25; 0.25 of the cap: shed 1 - 0.476/1.0 ~ 0.5
    assert got.tolist() == [HOLD, B75, B75, B50, HOLD, CLOSE, HOLD, NO_ACTION, B75, B25, S50, CLOSE]
    # from the cap (1.905) to a quarter of it (0.476): shed 75% of the position
    assert positions_to_actions(np.array([1.0, 1, 1, 0.25]), CLOSE_ON).tolist() == [B75, B75, B50, S75]


def test_short_positions_need_allow_short_and_flip_through_close():
    with pytest.raises(DataError, match="allow_short"):
        positions_to_actions(np.array([0.0, -1.0]), CLOSE_ON)
    short = AccountConfig(include_close_action=True, allow_short=True)
    got = positions_to_actions(np.array([1.0, 1, 1, -1, -1, -1, -1, -0.5]), short)
    assert got.tolist() == [B75, B75, B50, CLOSE, S75, S75, S50, B50]
    with pytest.raises(DataError, match="include_close_action"):
        positions_to_actions(np.array([1.0]), AccountConfig())


def test_position_values_outside_the_range_are_refused(tmp_path, daily):
    _, bars = daily
    frame = pd.DataFrame({"timestamp": bars.index, "position": np.r_[np.zeros(len(bars) - 1), 2.0]})
    with pytest.raises(DataError, match=rf"row {len(bars)}: position '2.0' is outside -1..1"):
        read_actions(frame)
    with pytest.raises(DataError, match="both an action and a position"):
        read_actions(frame.assign(action=0))
    with pytest.raises(DataError, match="name it 'action'"):
        read_actions(pd.Series(np.zeros(len(bars)), index=bars.index))


def test_a_position_series_is_judged_as_its_translated_actions(daily):
    from walkforward.evaluation import evaluate_arrays

    _, bars = daily
    signal = pd.Series(_signal(bars), index=bars.index, name="position")
    by_position = evaluate_arrays(bars, signal, RunConfig(**SETTINGS))
    from walkforward.orchestrator import plan_symbols

    plan = plan_symbols(RunConfig(**SETTINGS), [bars])["ACME"]
    ids = np.full(len(bars), NO_ACTION)
    tested = np.concatenate([np.arange(fold.test.start, fold.test.stop) for fold in plan.folds])
    # the targets are followed across the test folds, from the position carried in (evaluate's default)
    ids[tested] = positions_to_actions(signal.to_numpy(float)[tested], CLOSE_ON)
    by_ids = evaluate_arrays(bars, ids, RunConfig(**SETTINGS, account=CLOSE_ON))
    assert by_position["metrics"] == by_ids["metrics"]
    misread = evaluate_arrays(bars, signal.to_numpy(), RunConfig(**SETTINGS))  # 1 = BUY_25, 0 = HOLD
    assert by_position["metrics"] != misread["metrics"]
    shares = by_position["metrics"]["action_shares"]
    assert shares["CLOSE"] > 0 and by_position["metrics"]["trades"] > 0  # the signal's exits are orders
    assert misread["metrics"]["action_shares"]["SELL_75"] == 0.0


def test_notebook_dataframes_through_the_python_entry_point(tmp_path, daily):
    import walkforward

    _, bars = daily
    frame = bars.frame[["open", "high", "low", "close", "volume"]]
    signal = pd.Series(_signal(bars), index=bars.index, name="position")
    with pytest.warns(UserWarning, match="include_close_action"):
        outcome = walkforward.evaluate(signal, {"ACME": frame}, out=str(tmp_path / "ev"), ledger=False, **SETTINGS)
    summary = json.loads((outcome.run_dir / "summary.json").read_text())
    assert summary["symbols"][0]["symbol"] == "ACME"
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["config"]["account"]["include_close_action"] is True
    again = walkforward.evaluate(signal, {"ACME": frame}, out=str(tmp_path / "ev"), ledger=False, **SETTINGS)
    assert again.resumed


def test_cli_position_file_runs_and_says_close_is_on(tmp_path, daily, capsys):
    path, bars = daily
    positions = _file(tmp_path / "pos.csv", bars, "position", _signal(bars))
    out = tmp_path / "ev"
    assert main(["evaluate", str(positions), str(path), "--out", str(out), "--folds", "2", "--test-size", "120",
                 "--null-draws", "40", "--random-seeds", "8", "--no-ledger"]) == 0
    err = capsys.readouterr().err
    assert "include_close_action turned on" in err
    assert "--folds 2 is below the verdict's min_folds 3" in err  # said before the folds are evaluated
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["account"]["include_close_action"] is True
