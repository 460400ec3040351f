"""Baseline policies through `simulate`, and the `walkforward backtest --baseline` command."""

import numpy as np
import pandas as pd
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.baselines import (arrangements_log10, buy_hold_actions, buy_hold_matched, episode_blocks,
                                exposure_fraction, position_episodes, random_actions, random_distribution,
                                run_baseline, timing_null, timing_null_actions)
from backtest.costs import FrictionConfig
from backtest.errors import ConfigError
from backtest.simulator import SimConfig, simulate
from reports.metrics import NULL_TIE_TOL, null_p_value, percentile_of
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
    one = [run_baseline("random", _bars(), seed=s).net_return for s in range(8)]
    assert np.array_equal(dist["net_return"], one)  # one reused simulator gives what a fresh one gives
    assert percentile_of(1.0, dist["net_return"]) == 100.0
    assert percentile_of(-1.0, dist["net_return"]) == 0.0
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


def _daily(n=600, seed=0, drift=0.0):
    from backtest.sample_data import generate_equity_bars

    bars = generate_equity_bars("NUL", "2015-01-01", "2018-01-01", seed=seed, timeframe="1D", annual_drift=drift)
    return bars if n is None else bars


def test_position_episodes_known_paths():
    s, e = position_episodes(np.array([0, 1, 1, 0, 0, 2, 0, 3.0]))
    assert list(s) == [1, 5, 7] and list(e) == [3, 6, 7]  # the last one still open at the end
    s, e = position_episodes(np.zeros(5))
    assert s.size == 0 and e.size == 0
    s, e = position_episodes(np.array([-1.0, -1.0, 0.0]))  # shorts are episodes too
    assert list(s) == [0] and list(e) == [2]


def test_timing_null_permutes_whole_episodes_and_gaps():
    acts = np.array([0, 3, 0, 6, 0, 0, 1, 4, 0, 0])
    pos = np.array([0, 1, 1, 0, 0, 0, 2, 0, 0, 0.0])  # episodes [1..3] and [6..7]
    paths = timing_null_actions(acts, pos, 200, seed=1)
    assert paths.shape == (200, 10)
    blocks = {(3, 0, 6), (1, 4)}
    for row in paths:
        nz = np.flatnonzero(row)
        assert sorted(row[row != 0].tolist()) == sorted([3, 6, 1, 4])
        # each block's orders stay together and in order
        text = ",".join(map(str, row))
        assert "3,0,6" in text and "1,4" in text
    assert len({tuple(r) for r in paths}) > 5  # it really moves them
    assert blocks


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.02, 0.3), st.floats(0.01, 0.3))
def test_timing_null_keeps_exposure_and_trade_count_exactly(seed, p_buy, p_sell):
    """With no rule binding differently (PDT off, no minimum order), every draw holds for exactly
    as many bars and closes exactly as many trades as the policy; only when differs (episodes
    in time, resizing blocks within them). The model's own replay is the model."""
    from dataclasses import replace

    bars = _daily()
    cfg = SimConfig(pdt="off")
    cfg = replace(cfg, account=replace(cfg.account, min_order_notional=0.0))
    rest = 1.0 - p_buy - p_sell
    freq = [rest, p_buy / 3, p_buy / 3, p_buy / 3, p_sell / 3, p_sell / 3, p_sell / 3]
    acts = random_actions(len(bars) - 300, freq, seed)
    r = simulate(bars, acts, cfg, start=300, close_at_end=True)
    null = timing_null(bars, cfg, r, n_draws=40, seed=seed)
    assert np.all(null["trades"] == len(r.trades))
    assert np.all(null["bars_in_position"] == np.count_nonzero(r.position))
    assert null["model_net_return"] == pytest.approx(r.net_return, abs=1e-12)


def test_buy_hold_matched_reaches_the_target_exposure():
    bars = _daily(drift=0.2)
    cfg = SimConfig(pdt="off")
    for target in (0.03, 0.12, 0.5):
        m = buy_hold_matched(bars, cfg, target, start=300)
        assert exposure_fraction(m) == pytest.approx(target, rel=1e-2)
        assert len(m.trades) == 1
    flat = buy_hold_matched(bars, cfg, 0.0, start=300)
    assert len(flat.fills) == 0 and flat.net_return == 0.0
    with pytest.raises(ConfigError, match="fraction"):
        buy_hold_matched(bars, cfg, float("nan"), start=300)


def test_short_exposure_is_matched_with_short_buy_and_hold():
    """Exposure is signed: a policy short on average is compared with short buy and hold, a
    mixed path by its signed average (the issue's always-short policy in a falling market was
    compared with long buy and hold and 'beat' it by the market's fall)."""
    bars = _daily(drift=-0.3)
    cfg = SimConfig(pdt="off", account=AccountConfig(allow_short=True))
    sell = cfg.account.action_space.id_of("SELL_75")
    short = simulate(bars, np.full(len(bars) - 300, sell), cfg, start=300, close_at_end=True)
    target = exposure_fraction(short)
    assert target < -0.15  # at the 20% cap, short
    m = buy_hold_matched(bars, SimConfig(pdt="off"), target, start=300)
    assert exposure_fraction(m) == pytest.approx(target, rel=1e-2) and m.position[-2] < 0
    assert m.net_return == pytest.approx(short.net_return, rel=0.1)  # about the same short (it tops up)
    long_bh = buy_hold_matched(bars, cfg, -target, start=300)
    assert long_bh.net_return < 0 < m.net_return  # the falling market: long loses, short gains
    # a path as long as short on average is matched with the flat policy
    pos = np.r_[np.full(10, 2.0), np.full(10, -2.0)]
    fake = type("R", (), {"equity": np.full(20, 1000.0), "bars": bars, "start": 300, "stop": 320,
                          "position": pos})()
    closes = bars.close[300:320]
    assert exposure_fraction(fake) == pytest.approx(float(np.mean(pos * closes / 1000.0)))


def test_timing_null_moves_resizing_blocks_within_episodes_only():
    """Heads (entry up to the first reducing fill) and exits stay; the resizing part moves in
    blocks inside its own episode; every draw keeps each episode's orders."""
    acts = np.array([0, 3, 3, 4, 1, 4, 1, 4, 1, 7, 0, 0])
    pos = np.array([0, 1, 2, 1.5, 2, 1.5, 2, 1.5, 2, 0, 0, 0])
    starts, ends, blocks = episode_blocks(pos, block=2)
    assert list(starts) == [1] and list(ends) == [9]
    assert blocks == [(0, 1, 3, False), (0, 3, 5, True), (0, 5, 7, True), (0, 7, 9, True), (0, 9, 10, False)]
    paths = timing_null_actions(acts, pos, 300, seed=4, block=2)
    for row in paths:
        k = int(np.flatnonzero(row)[0])
        assert list(row[k:k + 2]) == [3, 3] and row[k + 8] == 7  # head and exit in place
        assert sorted(row[k + 2:k + 8].tolist()) == sorted(acts[3:9].tolist())
    acts3 = acts.copy()
    acts3[3:9] = [4, 4, 1, 1, 0, 4]  # three different blocks: their order really changes
    inner = {tuple(r[r.nonzero()[0][0] + 2:r.nonzero()[0][0] + 8]) for r in timing_null_actions(acts3, pos, 100, 5, block=2)}
    assert len(inner) == 6  # all 3! orders of the blocks appear
    # the three movable blocks are all (4, 1): one arrangement inside; 2 gap lengths (1, 2)
    assert arrangements_log10(acts, pos, block=2) == pytest.approx(np.log10(2.0))
    acts2 = acts.copy()
    acts2[3:5] = [1, 4]  # blocks (1, 4), (4, 1), (4, 1): 3 inner arrangements
    assert arrangements_log10(acts2, pos, block=2) == pytest.approx(np.log10(6.0))


def test_a_never_flat_policy_without_resizing_has_one_arrangement():
    """One episode from the first bar to the last and nothing resized: every draw is the policy's
    own path, and the null says it has 1 arrangement (the verdict then fails its criterion)."""
    from dataclasses import replace

    bars = _daily(drift=0.3)
    cfg = SimConfig(pdt="off")
    cfg = replace(cfg, account=replace(cfg.account, min_order_notional=0.0))
    acts = np.zeros(250, np.int64)
    acts[:3] = 3
    r = simulate(bars, acts, cfg, start=300, close_at_end=True)
    null = timing_null(bars, cfg, r, n_draws=50, seed=1)
    assert null["arrangements_log10"] == 0.0
    assert np.all(np.abs(null["net_return"] - null["model_net_return"]) <= NULL_TIE_TOL)
    assert null_p_value(null["model_net_return"], null["net_return"]) == 1.0


def test_the_replay_keeps_the_minimum_order_rule():
    """At the default $1 minimum, sub-dollar top-ups are refused in the model's run; the replay
    refuses them too, so the model's own replay is the model's run (the issue: the replay
    dropped the rule, filled the top-ups and its draws differed by ~3e-5)."""
    bars = _daily(drift=0.3)
    cfg = SimConfig(pdt="off")
    rng = np.random.default_rng(5)
    acts = np.where(rng.random(250) < 0.5, 3, 4)
    r = simulate(bars, acts, cfg, start=300, close_at_end=True)
    null = timing_null(bars, cfg, r, n_draws=30, seed=2)
    assert null["model_net_return"] == pytest.approx(r.net_return, abs=1e-12)
    assert null["arrangements_log10"] > 5  # a resizing policy in the market throughout has many
    assert np.ptp(null["net_return"]) > 1e-3  # and the draws really differ


def test_fold_evidence_matches_a_short_policy_with_short_buy_and_hold():
    """The fold's exposure-matched buy and hold takes the signed exposure: a policy short on
    average gets a short target and a short benchmark."""
    from walkforward.fold_evidence import baselines

    bars = _daily(drift=-0.3)
    cfg = SimConfig(pdt="off", account=AccountConfig(allow_short=True))
    sell = cfg.account.action_space.id_of("SELL_75")
    acts = np.full(200, sell)
    sim = simulate(bars, acts, cfg, start=300, close_at_end=True)
    b = baselines(bars, cfg, range(300, 500), sim, acts, seed=0, fold_id=0, n_random_seeds=3, null_draws=5)
    m = b["buy_and_hold_matched"]
    assert m["target_exposure"] < -0.15 and m["exposure"] == pytest.approx(m["target_exposure"], rel=1e-2)
    assert b["timing_null"]["model_net_return"] == pytest.approx(sim.net_return, abs=1e-12)
