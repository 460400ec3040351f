"""One definition of each figure: the profit factor the terminal prints, summary.json and the
HTML pages hold, each fold's ``test.pf`` in result.json and the PF at 1x costs of the cost
sensitivity are the same round-trip PF (`backtest.trades.round_trip_pnl`), for one evaluate run
whose positions are resized and carried across folds (partial exits on both sides of a
boundary)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from backtest.result_files import read_json
from backtest.sample_data import generate_equity_bars
from reports.metrics import format_value, round_trip_episodes


def _cells(html: str, metric: str) -> list[float]:
    return [float(v) for v in re.findall(rf'data-metric="{metric}" data-value="([^"]+)"', html)]


@pytest.mark.parametrize("fold_start", ["carry", "flat"])
def test_pf_is_one_number_in_terminal_json_and_html(tmp_path, capsys, fold_start):
    from backtest.account import ActionSpace
    from walkforward.cli import main

    bars = generate_equity_bars("ACME", "2015-01-01", "2021-01-01", seed=8, timeframe="1D", annual_drift=0.1)
    frame = bars.frame[["open", "high", "low", "close", "volume"]].copy()
    frame.index = frame.index.tz_convert("America/New_York").date
    data = tmp_path / "ACME.csv"
    frame.rename_axis("date").to_csv(data)
    rng = np.random.default_rng(4)
    ids = rng.choice(7, size=len(bars), p=[0.8, 0.05, 0.02, 0.01, 0.04, 0.04, 0.04])  # adds, partial sells
    meanings = ActionSpace().meanings
    actions = tmp_path / "a.csv"
    pd.DataFrame({"timestamp": frame.index, "action": [meanings[i] for i in ids]}).to_csv(actions, index=False)
    out = tmp_path / "run"
    assert main(["evaluate", str(actions), str(data), "--out", str(out), "--folds", "4", "--test-size", "150",
                 "--null-draws", "20", "--random-seeds", "3", "--fold-start", fold_start]) == 0
    printed = capsys.readouterr().out
    s = read_json(out / "summary.json")["symbols"][0]
    pf = s["pf"]
    assert isinstance(pf, float) and np.isfinite(pf) and s["metrics"]["pf"] == pf, pf
    # from the files themselves: round trips of the stitched trades
    trades = pd.concat([pd.read_csv(out / "ACME" / f"fold_{k}" / "trades.csv") for k in range(4)], ignore_index=True)
    equity = pd.concat([pd.read_csv(out / "ACME" / f"fold_{k}" / "equity.csv") for k in range(4)], ignore_index=True)
    ep = round_trip_episodes(trades, equity)
    assert ep.max() + 1 < len(trades)  # partial exits exist, so fill PF and round-trip PF differ
    pnl = np.bincount(ep, weights=trades["net_pnl"].to_numpy())
    assert pf == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum(), rel=1e-12)
    costs = s["metrics"]["cost_sensitivity"]
    assert costs["pf"][costs["multiples"].index(1.0)] == pytest.approx(pf, rel=1e-12)
    for k, fold in enumerate(s["fold_metrics"]):
        rec = read_json(out / "ACME" / f"fold_{k}" / "result.json")
        want = fold["metrics"]["pf"]
        assert rec["test"]["pf"] == (want if want is None or np.isinf(want) else pytest.approx(want, rel=1e-12))
        assert rec["test"]["trades"] == fold["metrics"]["trades"]
    # the terminal's table and the pages show that number
    row = next(line for line in printed.splitlines() if line.startswith("ACME"))
    assert row.split()[2] == format_value(pf)
    index = (out / "index.html").read_text()
    page = (out / "ACME" / "report.html").read_text()
    assert _cells(index, "pf") == [pf]
    assert pf in _cells(page, "pf") and _cells(page, "pf_1x") == [pytest.approx(pf, rel=1e-12)]
    if fold_start == "carry":
        assert any(read_json(out / "ACME" / f"fold_{k}" / "result.json")["start_position"] != 0
                   for k in range(1, 4))
