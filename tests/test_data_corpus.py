"""The vendor-format corpus (tests/corpus/vendors.py): every file loads to exactly the bars it
was written from, or is refused with its cause named; the 0/1-signal trap of actions files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from backtest.data import DataError, load_bars
from backtest.timeframes import parse_timeframe
from tests.corpus.vendors import CASES, reference, write_case


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vendor_file(tmp_path, case):
    path = write_case(case, tmp_path / case.id)
    assert path.stat().st_size < 64_000  # a few KB each
    if case.refused is not None:
        with pytest.raises(DataError, match=case.refused):
            load_bars(path, **case.kwargs)
        return
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        (bars,) = load_bars(path, **case.kwargs)
    messages = [str(w.message) for w in seen]
    if case.warns:
        assert any(case.warns in m for m in messages), messages
    else:
        assert not messages, messages
    ref = reference(case.ref)
    assert (bars.symbol, bars.asset_class) == (case.symbol, case.asset_class)
    assert bars.timeframe == parse_timeframe(case.timeframe)
    assert bars.index.equals(ref.index)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(bars.frame[col].to_numpy(), ref.frame[col].to_numpy(), err_msg=col)


def test_corpus_size():
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    assert sum(c.refused is None for c in CASES) >= 15


def test_zero_one_signal_file_is_refused_and_position_file_loads(tmp_path):
    from backtest.account import AccountConfig
    from backtest.actions_file import read_actions, segment_actions

    bars = reference("equity")
    dates = bars.index.tz_convert("America/New_York").strftime("%Y-%m-%d")
    signal = (np.arange(len(bars)) // 5) % 2
    pd.DataFrame({"date": dates, "action": signal}).to_csv(tmp_path / "signals.csv", index=False)
    with pytest.raises(DataError, match="only 0 and 1.*name the column 'position'"):
        read_actions(tmp_path / "signals.csv")
    pd.DataFrame({"date": dates, "position": signal}).to_csv(tmp_path / "positions.csv", index=False)
    table = read_actions(tmp_path / "positions.csv")
    ids = segment_actions(table, bars, AccountConfig(include_close_action=True), [range(0, len(bars))])
    assert ids[:7].tolist() == [0, 0, 0, 0, 0, 3, 3] and ids[10] == 7  # BUY_75 on entry, CLOSE on exit
