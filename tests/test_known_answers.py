"""Known answers for numbers a user reads (issue 26): each value here is worked out by hand or
by an independent formulation written in the test, never read back from the code under test.

Newey-West standard error (a Bartlett-weighted double sum), PBO's degradation slope (a hand-
worked case), the paired Sharpe-difference interval's coverage (a seeded simulation with a
known true difference), stitched (compounded) baselines and per-symbol trial counts in the
summary, nested config tables on every asset class's defaults, a checkpoint's world on data
of another asset class, and `walkforward inspect`'s diff.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types

import numpy as np
import pytest

from backtest.costs import DEFAULTS, FrictionConfig, SpreadModel
from reports.compare import pbo, sharpe_difference
from reports.metrics import newey_west_mean_test

CLASSES = ("equity", "crypto", "fx")


# ---- Newey-West -------------------------------------------------------------------------------
def test_newey_west_hand_worked():
    """x = [1, -1, 2, 0], one lag: mean 0.5, u = [.5, -1.5, 1.5, -.5]; gamma0 = 5/4,
    gamma1 = (-.75 - 2.25 - .75) / 4 = -15/16; Bartlett weight 1 - 1/2 = 1/2, so the long-run
    variance is 5/4 - 15/16 = 5/16, se = sqrt(5/16 / 4) = sqrt(5)/8, t = 0.5 / se = 4/sqrt(5)."""
    r = newey_west_mean_test(np.array([1.0, -1.0, 2.0, 0.0]), lags=1)
    assert r["mean"] == pytest.approx(0.5, abs=1e-15)
    assert r["se"] == pytest.approx(math.sqrt(5.0) / 8.0, rel=1e-12)
    assert r["t"] == pytest.approx(4.0 / math.sqrt(5.0), rel=1e-12)
    assert r["p"] == pytest.approx(0.5 * math.erfc(4.0 / math.sqrt(5.0) / math.sqrt(2.0)), rel=1e-10)
    assert r["lags"] == 1


def _bartlett_double_sum(x: np.ndarray, lags: int) -> float:
    """Long-run variance as the weighted double sum (1/n) sum_t sum_s w(|t-s|) u_t u_s with
    w(k) = 1 - k/(lags+1) for k <= lags, 0 beyond: the matrix form, not the code's lag loop."""
    u = x - x.mean()
    n = u.size
    k = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    w = np.where(k <= lags, 1.0 - k / (lags + 1.0), 0.0)
    return float(u @ w @ u) / n


@pytest.mark.parametrize("n", [37, 250, 1200])
def test_newey_west_is_the_bartlett_weighted_sum(n):
    rng = np.random.default_rng(n)
    e = rng.standard_t(5, size=n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):  # AR(1) 0.5 plus a positive mean
        x[t] = 0.5 * x[t - 1] + e[t]
    x = x * 0.01 + 0.002
    lags = math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))  # Newey & West (1994)'s rule, by hand
    r = newey_west_mean_test(x)
    assert r["lags"] == lags
    se = math.sqrt(_bartlett_double_sum(x, lags) / n)
    assert r["se"] == pytest.approx(se, rel=1e-10)
    assert r["t"] == pytest.approx(x.mean() / se, rel=1e-10)
    for other in (0, 3, 11):
        assert newey_west_mean_test(x, lags=other)["se"] == pytest.approx(
            math.sqrt(_bartlett_double_sum(x, other) / n), rel=1e-10)


# ---- PBO's degradation slope ----------------------------------------------------------------
def test_pbo_degradation_slope_hand_worked():
    """The 4-block example of tests/test_compare_stats.py (its docstring has the table). With
    two bars a half's per-bar Sharpe is s / sqrt(2), s = (x + y) / |x - y|, so the winner's
    (in-sample, out-of-sample) s per split are (3, -2), (3, 4), (1.5, 5), (5, 1.5), (4, 3),
    (7/3, 2); the common 1/sqrt(2) cancels in the OLS slope cov(is, oos) / var(is)."""
    M = np.array([[4, -2, 1], [2, -4, 3], [-1, 3, 2], [-3, 1, 5]], dtype=np.float64)
    r = pbo(M, n_blocks=4)
    s_is = np.array([3.0, 3.0, 1.5, 5.0, 4.0, 7.0 / 3.0])
    s_os = np.array([-2.0, 4.0, 5.0, 1.5, 3.0, 2.0])
    np.testing.assert_allclose(r["is_sharpe"], s_is / math.sqrt(2.0), rtol=1e-12)
    np.testing.assert_allclose(r["oos_sharpe"], s_os / math.sqrt(2.0), rtol=1e-12)
    mx, my = s_is.sum() / 6.0, s_os.sum() / 6.0
    slope = sum((a - mx) * (b - my) for a, b in zip(s_is, s_os)) / sum((a - mx) ** 2 for a in s_is)
    assert r["degradation_slope"] == pytest.approx(slope, rel=1e-10)
    # by hand: means 113/36 and 9/4, Sxy = -113/24, Sxx = 1637/216, slope = -1017/1637
    assert slope == pytest.approx(-1017 / 1637, rel=1e-12)


# ---- the paired Sharpe-difference interval --------------------------------------------------
def test_sharpe_difference_interval_covers_the_true_difference():
    """Pairs with unit variance and means 0.10 and 0.02 per bar (correlation 0.5): the true
    per-bar Sharpe difference is 0.08. Over 150 seeded data sets the 95% interval covers it
    about 95% of the time: a narrower interval (wrong quantile, a lost scale) covers far less,
    a much wider one almost always."""
    rng = np.random.default_rng(2026)
    reps, n, covered, widths = 150, 400, 0, []
    for k in range(reps):
        z = rng.standard_normal((n, 3))
        a = math.sqrt(0.5) * z[:, 0] + math.sqrt(0.5) * z[:, 2] + 0.10
        b = math.sqrt(0.5) * z[:, 1] + math.sqrt(0.5) * z[:, 2] + 0.02
        res = sharpe_difference(a, b, n_boot=199, seed=k)
        covered += res["ci_low"] <= 0.08 <= res["ci_high"]
        widths.append(res["ci_high"] - res["ci_low"])
    assert 0.88 <= covered / reps <= 0.99, covered
    # the difference's standard error for iid normal pairs (Jobson-Korkie/Memmel with
    # correlation 0.5): sqrt((2 - 2 rho + (SRa^2 + SRb^2 - 2 rho^2 SRa SRb) / 2) / n)
    se = math.sqrt((2 - 2 * 0.5 + (0.01 + 0.0004 - 2 * 0.25 * 0.002) / 2) / n)
    assert np.median(widths) == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_sharpe_difference_is_annualised_by_the_square_root():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(600) + 0.1, rng.standard_normal(600)
    one, year = sharpe_difference(a, b, n_boot=99), sharpe_difference(a, b, bars_per_year=252, n_boot=99)
    plug = a.mean() / a.std() - b.mean() / b.std()  # plug-in (ddof=0) moments, module doc
    assert one["diff"] == pytest.approx(plug, rel=1e-12)
    for key in ("diff", "ci_low", "ci_high", "se"):
        assert year[key] == pytest.approx(one[key] * math.sqrt(252), rel=1e-12), key
    assert year["p_value"] == one["p_value"]
    swapped = sharpe_difference(b, a, n_boot=99)  # two-sided: the order of the pair does not matter
    assert swapped["diff"] == pytest.approx(-one["diff"], rel=1e-12) and swapped["p_value"] == one["p_value"]
    assert one["p_value"] < 0.05


# ---- the summary: stitched baselines and per-symbol trials ----------------------------------
@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    from tests.report_fixtures import make_run

    run = make_run(tmp_path_factory.mktemp("known") / "run", symbols=("AAA", "BBB/USD"), n_folds=3, bars=120)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["symbols"][0]["n_trials"] = 7  # the ledger's per-symbol count
    manifest["symbols"][0]["n_trials_basis"] = "7 in the ledger"
    manifest["n_trials"] = 3
    manifest["initial_equity"] = 2000.0  # the stitched curves start here; each fold's account at its own 1000
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def _results(run, d):
    return [json.loads((run / d / f"fold_{k}" / "result.json").read_text()) for k in range(3)]


def test_stitched_baselines_compound_the_folds(synthetic_run):
    """Each fold's account starts afresh at its own 1000 (the manifest's 2000 is where the
    stitched curves start): the symbol's buy and hold (and matched buy and hold) is the product
    of the folds' growth factors, not their sum nor the last fold's."""
    from reports.summary import build_summary

    summary, _ = build_summary(synthetic_run)
    for s in summary["symbols"]:
        res = _results(synthetic_run, s["dir"])
        m = s["metrics"]
        for key, name in (("buy_and_hold_net_return", "buy_and_hold"), ("bh_matched_net_return", "buy_and_hold_matched")):
            growth = 1.0
            for r in res:
                growth *= r["baselines"][name]["equity"][-1] / 1000.0
            assert m[key] == pytest.approx(growth - 1.0, rel=1e-9), (s["symbol"], key)
        growth = 1.0
        for k, r in enumerate(res):
            eq = np.loadtxt(synthetic_run / s["dir"] / f"fold_{k}" / "equity.csv", delimiter=",", skiprows=1,
                            usecols=1)
            growth *= eq[-1] / 1000.0
        assert m["net_return"] == pytest.approx(growth - 1.0, rel=1e-9)
        assert m["excess_vs_bh_matched"] == pytest.approx(m["net_return"] - m["bh_matched_net_return"], rel=1e-9)
        assert m["final_equity"] == pytest.approx(2000.0 * growth, rel=1e-9) and m["initial_equity"] == 2000.0
        # draw i of the stitched random policy compounds draw i of every fold
        draws = np.prod([1.0 + np.array(r["baselines"]["random"]["net_returns"]) for r in res], axis=0) - 1.0
        assert m["random_median"] == pytest.approx(float(np.median(draws)), rel=1e-9)
        assert m["random_seeds"] == draws.size
        nulls = np.prod([1.0 + np.array(r["baselines"]["timing_null"]["net_returns"]) for r in res], axis=0) - 1.0
        assert m["timing_null_median"] == pytest.approx(float(np.median(nulls)), rel=1e-9)


def test_per_symbol_trial_counts(synthetic_run):
    """symbols[i].n_trials (the ledger's count for that symbol) deflates that symbol's Sharpe; a
    symbol without one uses the run's n_trials. The benchmark Sharpe grows with the count."""
    from reports.summary import build_summary

    summary, _ = build_summary(synthetic_run)
    a, b = summary["symbols"]
    assert summary["n_trials"] == 3
    assert a["metrics"]["n_trials"] == 7 and a["n_trials_basis"] == "7 in the ledger"
    assert all(f["metrics"]["n_trials"] == 7 for f in a["fold_metrics"])
    assert b["metrics"]["n_trials"] == 3 and b["n_trials_basis"] == summary["n_trials_basis"]
    assert a["metrics"]["dsr_benchmark_sharpe"] > 0 and b["metrics"]["dsr_benchmark_sharpe"] > 0


# ---- nested config tables on every class's defaults -----------------------------------------
@pytest.mark.parametrize("asset_class", CLASSES)
def test_nested_friction_tables_keep_the_class_defaults(asset_class, tmp_path):
    """[friction.commission] per_order = 1 and [friction.impact] y = 0.5 change those two
    settings only: per_notional, the spread, the slippage and the impact mode stay the class's
    own (module table DEFAULTS), from TOML and from a table alike."""
    from walkforward.config import RunConfig

    d = DEFAULTS[asset_class]
    (tmp_path / "c.toml").write_text("[friction.commission]\nper_order = 1.0\n[friction.impact]\ny = 0.5\n")
    for cfg in (RunConfig(friction={"commission": {"per_order": 1.0}, "impact": {"y": 0.5}}),
                RunConfig.from_sources(tmp_path / "c.toml")):
        f = cfg.friction_for(asset_class)
        assert f.commission.per_order == 1.0 and f.commission.per_notional == d["per_notional"]
        assert f.impact.y == 0.5 and f.impact.mode == d["impact"]
        assert f.spread.spread == d["spread"] and f.slippage.max_slippage == d["max_slippage"]
        assert cfg.sim_config(asset_class).friction == f
    base = FrictionConfig.for_asset_class(asset_class)
    assert RunConfig().friction_for(asset_class) == base  # no table: exactly the defaults


@pytest.mark.parametrize("asset_class", CLASSES)
def test_codec_round_trip_of_every_class(asset_class):
    """to_plain then build gives back the same config, and a partial nested table on a base
    keeps every field it does not name."""
    from backtest.config_codec import build, to_plain

    base = FrictionConfig.for_asset_class(asset_class)
    assert build(FrictionConfig, to_plain(base), "friction") == base
    got = build(FrictionConfig, {"spread": {"spread": 0.005}}, "friction", base=base)
    assert got == dataclasses.replace(base, spread=dataclasses.replace(base.spread, spread=0.005))


# ---- a checkpoint's world on data of another asset class ------------------------------------
class _Policy:
    action_meanings = ("HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75")

    def check(self, expected_actions=None, expected_schema=None):
        assert tuple(expected_actions) == self.action_meanings


def _world(asset_class: str) -> dict:
    from backtest.account import AccountConfig
    from backtest.config_codec import to_plain

    friction = dataclasses.replace(FrictionConfig.for_asset_class(asset_class), spread=SpreadModel(0.004))
    return {"asset_class": asset_class, "account": to_plain(AccountConfig(max_position=0.1, initial_equity=5000.0)),
            "friction": to_plain(friction), "pdt": "on", "seed": 3}


@pytest.mark.parametrize("trained,data", [(a, b) for a in CLASSES for b in CLASSES])
def test_checkpoint_world_on_data_of_another_class(trained, data):
    """The account, PDT mode and seed always come from the checkpoint; its costs only when DATA
    is of the class it trained on (else DATA's class defaults, said in a note)."""
    from walkforward.commands.backtest import world_settings

    args = types.SimpleNamespace(config=None, pdt=None, seed=None)
    config, notes = world_settings(_Policy(), _world(trained), data, args)
    assert config.account.max_position == 0.1 and config.account.initial_equity == 5000.0
    assert config.pdt == "on" and config.seed == 3
    if trained == data:
        assert config.friction.spread.spread == 0.004 and notes == []
    else:
        assert config.friction == FrictionConfig.for_asset_class(data)
        assert notes == [f"costs: the checkpoint trained on {trained} bars and DATA is {data}: the {data} "
                         "defaults are used"]


def test_checkpoint_world_flags_override_and_are_listed():
    from walkforward.commands.backtest import world_settings

    args = types.SimpleNamespace(config=None, pdt="off", seed=9)
    config, notes = world_settings(_Policy(), _world("crypto"), "crypto", args)
    assert config.pdt == "off" and config.seed == 9 and config.friction.spread.spread == 0.004
    assert notes == ["pdt: checkpoint 'on' -> 'off' (--pdt)", "seed: checkpoint 3 -> 9 (--seed)"]


# ---- walkforward inspect's diff ---------------------------------------------------------------
def test_inspect_diff_flattens_and_skips_file_names():
    from walkforward.commands.inspect import diff

    a = {"file": "a.pt", "created_utc": "x", "n": 1, "world": {"account": {"max_position": 0.1}, "pdt": "on"}}
    b = {"file": "b.pt", "created_utc": "y", "n": 1, "world": {"account": {"max_position": 0.2}, "pdt": "on"},
         "extra": 3}
    assert diff(a, b) == {"extra": (None, 3), "world.account.max_position": (0.1, 0.2)}
    assert diff(a, dict(a, file="c.pt")) == {}


# ---- metrics annualised by the calendar; drawdown from the initial equity --------------------
def test_metrics_annualise_by_the_calendar_and_drawdown_counts_the_start():
    """Fifteen-minute equity bars (6552 a year), an account that loses from its first bar: the
    Sharpe, Sortino, CAGR and Calmar recomputed with pandas and by hand; the drawdown's peak is
    the initial equity (1000), so the worst drawdown is 1 - 985/1000 and lasts 2 bars."""
    import pandas as pd

    from reports.metrics import compute_stats
    from tests.test_metrics import make_equity, make_trades

    eq = [990.0, 985.0, 1001.0, 995.0, 1010.0, 1003.0, 1020.0]
    bpy = 6552.0
    s = compute_stats(make_trades([10.0, -5.0, 15.0]), make_equity(eq), bars_per_year=bpy, initial_equity=1000.0)
    r = pd.Series([1000.0] + eq).pct_change().dropna()
    assert s["sharpe"] == pytest.approx(r.mean() / r.std() * math.sqrt(bpy), rel=1e-10)
    downside = math.sqrt(float((r.clip(upper=0.0) ** 2).mean()))
    assert s["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(bpy), rel=1e-10)
    cagr = 1.02 ** (bpy / 7.0) - 1.0
    assert s["cagr"] == pytest.approx(cagr, rel=1e-10)
    assert s["max_drawdown"] == pytest.approx(0.015, rel=1e-12) and s["max_drawdown_bars"] == 2
    assert s["calmar"] == pytest.approx(cagr / 0.015, rel=1e-10)
    assert s["expectancy"] == pytest.approx(20.0 / 3.0) and s["win_rate"] == pytest.approx(2.0 / 3.0)


def test_stitched_cost_sensitivity_compounds_and_its_breakeven_is_the_root(synthetic_run):
    """The fixture's folds lose net return linearly with the cost multiple m (net_i + c_i (1 - m)),
    so the stitched net return is prod(1 + net_i + c_i (1 - m)) - 1 exactly; its breakeven is
    that polynomial's root, found here by scipy's brentq, and PF at each multiple pools the
    folds' winning and losing P&L (not an average of fold PFs)."""
    from scipy.optimize import brentq

    from reports.summary import BREAKEVEN_TOL, build_summary

    summary, _ = build_summary(synthetic_run)
    seen = set()
    for s in summary["symbols"]:
        res = [r["cost_sensitivity"] for r in _results(synthetic_run, s["dir"])]
        cs = s["metrics"]["cost_sensitivity"]
        assert cs["multiples"] == [0.0, 0.5, 1.0, 2.0]
        for k in range(4):
            assert cs["net_return"][k] == pytest.approx(np.prod([1 + r["net_return"][k] for r in res]) - 1, rel=1e-12)
            assert cs["pf"][k] == pytest.approx(sum(r["wins"][k] for r in res) / sum(r["losses"][k] for r in res),
                                                rel=1e-12)
        lines = [(r["curve_net_return"][0], r["curve_net_return"][0] - r["curve_net_return"][2]) for r in res]

        def stitched(m, lines=lines):
            return float(np.prod([1 + a - c * m for a, c in lines]) - 1)

        b = cs["breakeven_multiple"]
        if stitched(0.0) <= 0:
            seen.add("zero")
            assert b == 0.0
        elif stitched(8.0) > 0:
            seen.add("above")
            assert b is None and cs["breakeven_above"] == 8.0
        else:
            seen.add("root")
            root = brentq(stitched, 0.0, 8.0, xtol=1e-12)
            assert root <= b <= root + BREAKEVEN_TOL and s["metrics"]["breakeven_cost_multiple"] == b
    assert "root" in seen, seen
