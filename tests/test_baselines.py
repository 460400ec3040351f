"""Baseline policies through `simulate`, and the `walkforward backtest --baseline` command."""

import numpy as np
import pandas as pd
import pytest

from backtest.baselines import (buy_hold_actions, percentile_of, random_actions, random_distribution,
                                run_baseline)
from backtest.costs import FrictionConfig
from backtest.errors import ConfigError
from backtest.simulator import SimConfig
from tests.sim_bars import make_bars

DAYS = pd.bdate_range("2025-03-03", periods=30)
TIMES = [f"{d.date()} 14:30" for d in DAYS]


def _bars(seed=0):
    rng = np.random.default_rng(seed)
    o = 100 * np.exp(np.cumsum(rng.normal(0.001, 0.01, len(TIMES))))
    return make_bars(TIMES, o, o * np.exp(rng.normal(0, 0.005, len(TIMES))), timeframe="1D")


def test_flat_never_trades():
    r = run_baseline("flat", _bars())
    assert len(r.fills) == 0 and len(r.trades) == 0 and np.all(r.equity == 1000.0)


def test_buy_hold_reaches_max_position_and_ends_in_one_trade():
    bars = _bars()
    cfg = SimConfig(friction=FrictionConfig.zero())
    acts = buy_hold_actions(len(bars), cfg)
    assert list(acts[:4]) == [3, 3, 3, 0]  # 0.07875 per BUY_75: three reach the 20% cap
    r = run_baseline("buy_hold", bars, cfg)
    assert len(r.trades) == 1 and r.position[-1] == 0.0
    pos_value = r.position[2] * bars.open[2]
    assert pos_value == pytest.approx(0.2 * (r.cash[2] + pos_value), rel=1e-9)
    buys = r.fills[:3]
    expected = np.sum(buys["qty"] * (bars.open[-1] - bars.open[buys["bar"]]))
    assert r.trades["gross_pnl"][0] == pytest.approx(expected, rel=1e-12)
    assert r.trades["net_pnl"][0] == pytest.approx(r.equity[-1] - 1000.0, rel=1e-9)  # zero friction


def test_random_policy_seeded_with_given_frequencies():
    a = random_actions(20_000, [0.9, 0.1, 0, 0, 0, 0, 0], seed=3)
    assert set(np.unique(a)) == {0, 1} and abs((a == 1).mean() - 0.1) < 0.01
    assert np.array_equal(a, random_actions(20_000, [0.9, 0.1, 0, 0, 0, 0, 0], seed=3))
    dist = random_distribution(_bars(), seeds=range(8))
    assert len(dist["net_return"]) == 8 and len(np.unique(dist["net_return"])) > 1
    assert percentile_of(np.inf, dist["net_return"]) == 100.0
    assert percentile_of(-np.inf, dist["net_return"]) == 0.0
    with pytest.raises(ConfigError, match="frequencies"):
        random_actions(5, [-1, 2], 0)
    with pytest.raises(ConfigError, match="unknown baseline"):
        run_baseline("momentum", _bars())


def test_cli_writes_csvs_and_refuses_checkpoint(tmp_path, capsys):
    from walkforward.cli import main

    bars = _bars()
    path = tmp_path / "TEST.csv"
    bars.frame[["open", "high", "low", "close", "volume"]].rename_axis("date").to_csv(path)
    out = tmp_path / "out"
    assert main(["backtest", "--baseline", "buy_hold", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PF" in text and "PDT rej" in text
    trades = pd.read_csv(next(out.glob("*/trades.csv")))
    equity = pd.read_csv(next(out.glob("*/equity.csv")))
    assert len(trades) == 1 and len(equity) == len(bars)
    assert not list(out.glob("*/.*tmp"))  # atomic writes leave no temp files
    assert main(["backtest", str(tmp_path / "model.pt"), str(path), "--out", str(out)]) == 2
    assert "checkpoint" in capsys.readouterr().err
    assert main(["backtest", "--baseline", "flat", str(tmp_path / "model.pt"), str(path)]) == 2
