"""Smaller traps of issue 25: duplicates, zero volume, line numbers, few folds, short files,
fold directories, what differs in a refused run directory, a flag's name in its error."""

from __future__ import annotations

import warnings

import pytest

from backtest.data import DataError, load_bars
from tests.corpus import GOOD_CSV, HEADER, ROWS
from walkforward.cli import main


def _csv(tmp_path, text, name="X.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_exact_duplicates_dropped_with_a_warning_conflicting_refused(tmp_path):
    text = "\n".join((HEADER, ROWS[0], ROWS[1], ROWS[1], ROWS[2], ROWS[3])) + "\n"
    with pytest.warns(UserWarning, match=r"dropped 1 exact duplicate row\(s\).*line 4, data row 3 repeats line 3"):
        (bars,) = load_bars(_csv(tmp_path, text), asset_class="equity", keep_extended=True)
    assert len(bars) == 4
    conflict = text.replace(ROWS[1] + "\n" + ROWS[1], ROWS[1] + "\n" + ROWS[1].replace(",200", ",201"))
    with pytest.raises(DataError, match=r"lines 3 and 4, data rows 2 and 3 have the same timestamp"):
        load_bars(_csv(tmp_path, conflict), asset_class="equity", keep_extended=True)


def test_error_rows_give_the_file_line(tmp_path):
    text = GOOD_CSV.replace(ROWS[2], ROWS[2].replace(",11.5,", ",99,"))
    with pytest.raises(DataError, match=r"line 4, data row 3 \(2023-11-27 15:00:00\+00:00\) has close outside"):
        load_bars(_csv(tmp_path, text))


def test_zero_volume_is_said_for_equity_not_fx(tmp_path):
    zero = "\n".join([HEADER] + [r.rsplit(",", 1)[0] + ",0" for r in ROWS]) + "\n"
    with pytest.warns(UserWarning, match=r"volume is 0 on 100% of the bars.*impact is off"):
        load_bars(_csv(tmp_path, zero), asset_class="equity", keep_extended=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_bars(_csv(tmp_path, zero), asset_class="fx")


def test_folds_below_min_folds_warn_before_work_and_flags_are_named(tmp_path, capsys):
    assert main(["run", "--folds", "two"]) == 2
    assert "argument --folds: expected a whole number, got 'two'" in capsys.readouterr().err
    from walkforward.config import RunConfig, warn_few_folds

    with pytest.warns(UserWarning, match="--folds 2 is below the verdict's min_folds 3: every symbol will be "
                                         "INCONCLUSIVE"):
        warn_few_folds(RunConfig(folds=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_few_folds(RunConfig(folds=3))


def test_too_short_data_names_the_window(tmp_path):
    from walkforward.folds import WalkForwardSplit
    from backtest.errors import ConfigError

    with pytest.raises(ConfigError, match=r"shorter feature window \(window=100.*window = 20"):
        list(WalkForwardSplit(n_folds=5, window=100, min_start=100).split(156))


def test_fold_directory_is_explained(tmp_path, capsys):
    fold = tmp_path / "run" / "AAA" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "checkpoint.pt").write_bytes(b"")
    for argv in (["inspect", str(fold)], ["backtest", str(fold), "x.csv"]):
        assert main(argv) == 2
        assert f"pass its checkpoint: {fold / 'checkpoint.pt'}" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "run")]) == 2
    assert "e.g. " + str(fold / "checkpoint.pt") in capsys.readouterr().err


def test_a_refused_run_directory_says_what_differs(tmp_path):
    from backtest.errors import ConfigError
    from walkforward.store import make_manifest, open_run

    from walkforward.config import RunConfig

    open_run(tmp_path / "r", make_manifest(RunConfig(folds=5), {"X": "a"}))
    with pytest.raises(ConfigError, match=r"different config \(folds 5 -> 3\)"):
        open_run(tmp_path / "r", make_manifest(RunConfig(folds=3), {"X": "a"}))
    with pytest.raises(ConfigError, match=r"different data \(the data of X\)"):
        open_run(tmp_path / "r", make_manifest(RunConfig(folds=5), {"X": "b"}))


def test_an_action_on_a_bar_dropped_outside_sessions_names_keep_extended(tmp_path):
    """An hourly EURUSD file with bars on Friday evening after the FX week closes (17:00 New
    York): the loader drops them with a warning, and an actions row at such a bar is refused
    with the cause (dropped outside sessions) and the fix (--keep-extended), which then works."""
    import pandas as pd

    from backtest.actions_file import actions_for, read_actions

    times = pd.date_range("2024-01-04 12:00", "2024-01-05 23:00", freq="1h")  # Thu noon .. Fri 23:00 UTC
    rows = [f"{t:%Y-%m-%d %H:%M},1.10,1.11,1.09,1.10,100" for t in times]
    data = _csv(tmp_path, "timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n", "EURUSD.csv")
    actions = _csv(tmp_path, "timestamp,action\n2024-01-05 12:00,BUY_25\n2024-01-05 22:00,SELL_25\n", "a.csv")
    table = read_actions(actions)
    meanings = ("HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75")
    with pytest.warns(UserWarning, match="dropped 2 EURUSD bar"):
        (bars,) = load_bars(data, asset_class="fx")
    with pytest.raises(DataError, match=r"line 3, data row 2: timestamp 2024-01-05 22:00:00 matches no EURUSD bar.*"
                                        r"if DATA has a bar there, it is one of the 2 dropped as outside regular fx "
                                        r"sessions.*"
                                        r"pass --keep-extended"):
        actions_for(table, bars, meanings)
    late = _csv(tmp_path, "timestamp,action\n2024-01-06 22:00,SELL_25\n", "late.csv")  # after the file: no hint
    with pytest.raises(DataError, match=r"1h bars\)$"):
        actions_for(read_actions(late), bars, meanings)
    (kept,) = load_bars(data, asset_class="fx", keep_extended=True)
    ids = actions_for(table, kept, meanings)
    assert ids[kept.index.get_loc(pd.Timestamp("2024-01-05 22:00", tz="UTC"))] == meanings.index("SELL_25")
