"""Test folds as one continuous account (`walkforward.fold_carry`, evaluate's default): a
hand-computed carried path, the carried path equal to one simulation over the concatenated
test bars, carry equal to flat when every fold ends flat, the carried timing null, and the
CLI's flag, TOML key and refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import FrictionConfig
from backtest.simulator import SimConfig, simulate
from tests.sim_bars import make_bars
from walkforward import fold_carry

FREE = SimConfig(friction=FrictionConfig.zero())


def _hourly(prices, close=None):
    times = pd.date_range("2024-01-01", periods=len(prices), freq="h", tz="UTC")
    return make_bars(times, prices, close=close, asset_class="crypto", timeframe="1h")


def test_known_answer_two_carried_folds():
    """BUY_75 at fold 0's first bar, HOLD after: fold 1 starts holding it, measured from the
    equity carried in, and closes it at its last bar's open (zero costs, by hand)."""
    opens = np.array([100.0] * 10 + [100, 102, 104, 103, 105, 106, 108, 107, 109, 110])
    closes = opens + 0.5
    bars = _hourly(opens, closes)
    tests = [range(10, 15), range(15, 20)]
    acts = np.zeros(20, np.int64)
    acts[10] = 3  # BUY_75
    q = (1000.0 * 0.105 * 0.75) / 100.0  # units bought at open[10]
    cash = 1000.0 - q * 100.0
    r0, a0 = fold_carry.carried_segment(bars, FREE, acts, tests, 0)
    r1, a1 = fold_carry.carried_segment(bars, FREE, acts, tests, 1)
    assert float(a0[0][0]["position"]) == 0.0 and float(a1[0][0]["position"]) == pytest.approx(q, rel=1e-12)
    assert r0.equity == pytest.approx(cash + q * closes[10:15], rel=1e-12)
    assert len(r0.trades) == 0 and r0.initial_equity == 1000.0
    e0 = cash + q * closes[14]
    assert r1.initial_equity == pytest.approx(e0, rel=1e-12)
    assert r1.position[:4] == pytest.approx(np.full(4, q)) and r1.position[4] == 0.0
    assert r1.equity[-1] == pytest.approx(cash + q * opens[19], rel=1e-12)  # closed at the last open
    assert r1.net_return == pytest.approx((cash + q * opens[19]) / e0 - 1.0, rel=1e-10)
    assert len(r1.trades) == 1 and int(r1.trades["entry_bar"][0]) == 10
    assert float(r1.trades["net_pnl"][0]) == pytest.approx(q * (opens[19] - opens[10]), rel=1e-10)
    # flat starts: the same decisions hold nothing in fold 1 and close fold 0's position at bar 14
    flat1 = simulate(bars, acts[15:20], FREE, start=15, close_at_end=True)
    assert flat1.net_return == 0.0 and len(flat1.trades) == 0


@st.composite
def _paths(draw):
    n_seg = draw(st.integers(2, 4))
    lengths = draw(st.lists(st.integers(3, 12), min_size=n_seg, max_size=n_seg))
    n = 5 + sum(lengths)
    acts = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), np.int64)
    rets = np.array(draw(st.lists(st.floats(-0.03, 0.03), min_size=n, max_size=n)))
    return lengths, acts, 100.0 * np.cumprod(1.0 + rets)


@settings(max_examples=40, deadline=None)
@given(_paths(), st.booleans())
def test_carried_folds_are_one_simulation_over_the_test_bars(path, costly):
    """Fold by fold on the carried account is one run over the concatenated test bars: same
    equity (exactly), the folds' bar returns chain into it, and every trade appears once."""
    from reports.metrics import bar_returns

    lengths, acts, prices = path
    bars = _hourly(prices, prices * 1.001)
    config = SimConfig() if costly else FREE
    bounds = np.cumsum([5] + lengths)
    tests = [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    parts = [fold_carry.carried_segment(bars, config, acts, tests, k)[0] for k in range(len(tests))]
    whole = fold_carry.whole_path(bars, config, acts, tests)
    assert np.array_equal(np.concatenate([p.equity for p in parts]), whole.equity)
    assert np.array_equal(np.concatenate([p.position for p in parts]), whole.position)
    assert sum(len(p.trades) for p in parts) == len(whole.trades)
    chained = 1000.0 * np.cumprod(1.0 + np.concatenate([bar_returns(p.equity, p.initial_equity) for p in parts]))
    assert chained == pytest.approx(whole.equity, rel=1e-9)
    assert np.prod([1.0 + p.net_return for p in parts]) - 1.0 == pytest.approx(whole.net_return, abs=1e-9)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**16))
def test_carry_equals_flat_when_every_fold_ends_flat(seed):
    """A policy flat at the end of every test fold carries nothing: `evaluate_arrays` with
    carry and with flat give the same fold returns, trades and timing null."""
    from backtest.sample_data import generate_equity_bars
    from walkforward.config import RunConfig
    from walkforward.evaluation import evaluate_arrays
    from walkforward.orchestrator import plan_symbols

    bars = generate_equity_bars("ACME", "2018-01-01", "2021-01-01", seed=seed % 7, timeframe="1D", annual_drift=0.1)
    account = AccountConfig(include_close_action=True)
    # impact off: the square-root law is not proportional to order size, and carried equity sizes
    # orders differently; every other cost is a share of notional
    base = dict(folds=3, test_size=80, null_draws=20, n_random_seeds=3, account=account, seed=seed,
                friction={"impact": {"mode": "none"}})
    plan = plan_symbols(RunConfig(**base), [bars])[bars.symbol]
    rng = np.random.default_rng(seed)
    acts = rng.choice(8, size=len(bars), p=[0.7] + [0.3 / 7] * 7).astype(np.int64)
    for fold in plan.folds:
        acts[fold.test.stop - 1] = 7  # CLOSE: every fold ends flat
    carry = evaluate_arrays(bars, acts, RunConfig(**base, fold_start="carry"))
    flat = evaluate_arrays(bars, acts, RunConfig(**base, fold_start="flat"))
    # the folds after the first start with another equity (cash carries), so orders, sized as a
    # share of equity, differ in scale only: returns agree to rounding, counts exactly
    for a, b in zip(carry["fold_metrics"], flat["fold_metrics"]):
        assert a["metrics"]["trades"] == b["metrics"]["trades"]
        for key in ("net_return", "pf", "max_drawdown", "sharpe", "timing_null_p"):
            assert a["metrics"][key] == pytest.approx(b["metrics"][key], rel=1e-9, abs=1e-12), key
    # the stitched PF adds dollars of other scales; buy and hold (so the excess test) is one holding
    # over all folds with carry, one per fold with flat: only the policy's own figures must agree
    for key in ("net_return", "timing_null_p", "sharpe", "max_drawdown"):
        assert carry["metrics"][key] == pytest.approx(flat["metrics"][key], rel=1e-9, abs=1e-12), key
    # with carry, buy and hold is one holding over the whole test path
    from backtest.baselines import run_baseline

    one = run_baseline("buy_hold", bars, RunConfig(**base).sim_config("equity"), start=plan.folds[0].test.start,
                       stop=plan.folds[-1].test.stop)
    assert carry["metrics"]["buy_and_hold_net_return"] == pytest.approx(one.net_return, rel=1e-9)
    assert (carry["fold_start"], flat["fold_start"]) == ("carry", "flat")


def test_carried_buy_and_hold_is_one_holding_over_the_test_path():
    """With carry each fold's buy and hold is its piece of one holding over all test folds:
    compounded, the folds' pieces are that holding's return, whatever the policy did."""
    from backtest.baselines import run_baseline
    from backtest.sample_data import generate_equity_bars
    from walkforward.config import RunConfig
    from walkforward.evaluation import evaluate_arrays
    from walkforward.orchestrator import plan_symbols

    bars = generate_equity_bars("ACME", "2018-01-01", "2021-01-01", seed=2, timeframe="1D", annual_drift=0.1)
    config = RunConfig(folds=3, test_size=80, null_draws=20, n_random_seeds=3)
    acts = np.random.default_rng(2).choice(7, size=len(bars), p=[0.7] + [0.05] * 6).astype(np.int64)
    s = evaluate_arrays(bars, acts, config)
    folds = plan_symbols(config, [bars])[bars.symbol].folds
    one = run_baseline("buy_hold", bars, config.sim_config("equity"), start=folds[0].test.start,
                       stop=folds[-1].test.stop)
    assert s["fold_start"] == "carry"
    assert s["metrics"]["buy_and_hold_net_return"] == pytest.approx(one.net_return, rel=1e-9)
    assert s["metrics"]["net_return"] != pytest.approx(one.net_return, rel=1e-3)  # not the policy's own
    folds_bh = [f["buy_and_hold_net_return"] for f in s["fold_metrics"]]
    assert np.prod([1.0 + r for r in folds_bh]) - 1.0 == pytest.approx(one.net_return, rel=1e-9)


def test_carried_timing_null_keeps_the_carried_episode_at_the_start():
    """A fold entered holding a position: every draw continues the carried account and keeps its
    episode at bar 0 (the other episodes move), the model's replay is its own path, and the
    carried episode and its empty gap do not count as arrangements."""
    from backtest.baselines import _null_layout, _null_paths, arrangements_log10, timing_null
    from backtest.simulator import Simulator

    rng = np.random.default_rng(5)
    prices = 100.0 * np.cumprod(1.0 + rng.normal(0, 0.01, 300))
    bars = _hourly(prices)
    config = SimConfig(account=AccountConfig(include_close_action=True), friction=FrictionConfig.zero())
    sim = Simulator(bars, config)
    sim.reset(0)
    sim.run(np.r_[3, np.zeros(99, np.int64)])  # long from bar 0, carried into bar 100
    account = sim.snapshot()
    acts = np.zeros(200, np.int64)
    acts[[40, 120, 180]] = 7  # CLOSE: the carried episode is bars 0..40
    acts[[90, 150]] = 3
    res = sim.run(acts)
    initial = float(account[0][0]["position"])
    assert initial != 0.0 and res.position[0] == initial and res.position[-1] == 0.0
    null = timing_null(bars, config, res, n_draws=60, seed=3, account=account)
    assert np.all(null["bars_in_position"] == np.count_nonzero(res.position))  # 41 + 31 + 31 bars
    assert null["model_net_return"] == pytest.approx(res.net_return, abs=1e-12)
    assert np.ptp(null["net_return"]) > 0  # the other episodes move
    paths = _null_paths(_null_layout(res.actions, res.position, 60, 3, 8, initial=initial), 0, 60)
    assert np.all(paths[:, :41] == np.r_[res.actions[:40], 8])  # the carried episode, its exit the CLOSE
    assert len({tuple(p[41:]) for p in paths}) > 1
    assert arrangements_log10(res.actions, res.position, initial=initial) < arrangements_log10(
        res.actions, res.position)


def test_a_carried_position_closed_at_the_first_bar_is_an_episode_there():
    """The carried position exited by the fold's first order: that one-bar episode stays at bar
    0 in every draw (a draw starts holding it), so the draws hold as long as the policy."""
    from backtest.baselines import position_episodes, timing_null
    from backtest.simulator import Simulator

    rng = np.random.default_rng(9)
    bars = _hourly(100.0 * np.cumprod(1.0 + rng.normal(0, 0.01, 200)))
    config = SimConfig(account=AccountConfig(include_close_action=True), friction=FrictionConfig.zero())
    sim = Simulator(bars, config)
    sim.reset(0)
    sim.run(np.r_[3, np.zeros(49, np.int64)])
    account = sim.snapshot()
    acts = np.zeros(150, np.int64)
    acts[[0, 60, 120]] = 7  # CLOSE the carried position at the first bar; two more round trips
    acts[[30, 100]] = 3
    res = sim.run(acts)
    assert res.position[0] == 0.0
    starts, ends = position_episodes(res.position, initial=float(account[0][0]["position"]))
    assert list(starts) == [0, 30, 100] and list(ends) == [0, 60, 120]
    null = timing_null(bars, config, res, n_draws=40, seed=1, account=account)
    assert np.all(null["bars_in_position"] == np.count_nonzero(res.position))
    assert np.ptp(null["net_return"]) > 0


def test_position_targets_carry_across_segments():
    """A position file at the cap throughout: with carry the entry is made once, in the first
    segment; flat segments re-enter in each."""
    from backtest.actions_file import read_actions, segment_actions

    bars = _hourly(np.full(60, 100.0))
    account = AccountConfig(include_close_action=True)
    table = read_actions(pd.Series(np.ones(60), index=bars.index, name="position"))
    tests = [range(20, 40), range(40, 60)]
    carried = segment_actions(table, bars, account, tests, carry=True)
    flat = segment_actions(table, bars, account, tests)
    assert np.count_nonzero(carried[20:60]) == 3 and np.count_nonzero(carried[40:60]) == 0
    assert np.count_nonzero(flat[40:60]) == 3


# ---- the CLI --------------------------------------------------------------------------------
SMALL = ["--folds", "5", "--test-size", "100", "--null-draws", "30", "--random-seeds", "4", "-q"]


@pytest.fixture(scope="module")
def buy_then_hold(tmp_path_factory):
    """Daily bars and the issue's actions file: BUY_75 three times, then HOLD."""
    from backtest.sample_data import generate_equity_bars

    bars = generate_equity_bars("ACME", "2015-01-01", "2021-01-01", seed=3, timeframe="1D", annual_drift=0.1)
    d = tmp_path_factory.mktemp("carry")
    data = d / "ACME.csv"
    frame = bars.frame[["open", "high", "low", "close", "volume"]].copy()
    frame.index = frame.index.tz_convert("America/New_York").date
    frame.rename_axis("date").to_csv(data)
    actions = ["HOLD"] * len(bars)
    from walkforward.config import RunConfig
    from walkforward.orchestrator import plan_symbols

    first = plan_symbols(RunConfig(folds=5, test_size=100), [bars])[bars.symbol].folds[0].test.start
    actions[first:first + 3] = ["BUY_75"] * 3
    path = d / "actions.csv"
    pd.DataFrame({"timestamp": frame.index, "action": actions}).to_csv(path, index=False)
    return data, path


def test_buy_three_then_hold_holds_through_every_fold(tmp_path, buy_then_hold):
    from walkforward.cli import main

    data, actions = buy_then_hold
    out = tmp_path / "carry"
    assert main(["evaluate", str(actions), str(data), "--out", str(out), *SMALL]) == 0
    summary = json.loads((out / "summary.json").read_text())
    s = summary["symbols"][0]
    assert s["fold_start"] == "carry" and summary["run"]["config"]["fold_start"] == "carry"
    assert s["metrics"]["trades"] == 1  # one round trip, from fold 0's first bars to the last bar
    # buy and hold is one holding over the test path too: the same three BUY_75s, held, closed at the end
    assert s["metrics"]["buy_and_hold_net_return"] == pytest.approx(s["metrics"]["net_return"], rel=1e-9)
    for k in range(5):
        eq = pd.read_csv(out / "ACME" / f"fold_{k}" / "equity.csv")
        rec = json.loads((out / "ACME" / f"fold_{k}" / "result.json").read_text())
        assert rec["fold_start"] == "carry"
        held = eq["position"].to_numpy()[3 if k == 0 else 0:-1]
        assert np.all(held > 0), k  # held through every fold (closed only at the very last bar)
        assert (rec["start_position"] > 0) == (k > 0)
    flat = tmp_path / "flat"
    assert main(["evaluate", str(actions), str(data), "--out", str(flat), "--fold-start", "flat", *SMALL]) == 0
    sf = json.loads((flat / "summary.json").read_text())["symbols"][0]
    assert sf["fold_start"] == "flat" and sf["metrics"]["trades"] == 1  # fold 0 only: folds 1-4 never enter
    assert "as one account" in (out / "ACME" / "report.html").read_text()
    assert "each started flat" in (flat / "ACME" / "report.html").read_text()
    assert sf["metrics"]["net_return"] != s["metrics"]["net_return"]
    man_c = json.loads((out / "manifest.json").read_text())
    man_f = json.loads((flat / "manifest.json").read_text())
    assert man_c["config_fingerprint"] != man_f["config_fingerprint"]  # the fold start changes returns
    assert man_c["trial_fingerprint"] != man_f["trial_fingerprint"]  # so it is another trial


def test_fold_start_from_toml_and_bad_values(tmp_path, buy_then_hold, capsys):
    from walkforward.cli import main

    data, actions = buy_then_hold
    toml = tmp_path / "c.toml"
    toml.write_text('fold_start = "flat"\n')
    out = tmp_path / "t"
    assert main(["evaluate", str(actions), str(data), "--out", str(out), "--config", str(toml), *SMALL]) == 0
    assert json.loads((out / "summary.json").read_text())["symbols"][0]["fold_start"] == "flat"
    capsys.readouterr()
    import walkforward
    from backtest.errors import ConfigError

    outcome = walkforward.evaluate(actions, data, out=str(tmp_path / "py"), folds=5, test_size=100, null_draws=30,
                                   n_random_seeds=4, quiet=True, fold_start="flat")
    assert outcome.summary["symbols"][0]["fold_start"] == "flat"
    with pytest.raises(ConfigError, match=r"fold_start='sideways' is unknown; use one of \['carry', 'flat'\]"):
        walkforward.evaluate(actions, data, out=str(tmp_path / "never_py"), fold_start="sideways")
    assert not (tmp_path / "never_py").exists()
    toml.write_text('fold_start = "sideways"\n')
    never = tmp_path / "never"
    assert main(["evaluate", str(actions), str(data), "--out", str(never), "--config", str(toml), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fold_start" in err and "'sideways'" in err and "carry" in err
    assert not never.exists()
    assert main(["evaluate", str(actions), str(data), "--out", str(never), "--fold-start", "sideways", *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--fold-start" in err and "'sideways'" in err and not never.exists()
    toml.write_text('fold_start = "carry"\n')
    assert main(["run", str(data), "--out", str(never), "--config", str(toml), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "walkforward evaluate" in err and not never.exists()


def test_help_says_how_folds_start(capsys):
    from walkforward.cli import main

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--fold-start {carry,flat}" in text and "How folds start: by default (--fold-start carry)" in text
