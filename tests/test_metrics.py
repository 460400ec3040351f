"""compute_stats: golden values, independent recomputation, edge cases and invariants."""

from __future__ import annotations

import collections
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats as sps

from backtest.errors import ConfigError, DataError
from reports.metrics import (
    NULL_TIE_TOL, bootstrap_pf_interval, compute_stats, consistency, drawdown, format_value,
    newey_west_mean_test, null_p_value, null_threshold, pf_interval_note, profit_factor,
    round_trip_episodes, sample_skew,
)
from backtest.result_files import TRADES_CSV_COLUMNS, from_jsonable, to_jsonable

MEANINGS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]


def make_trades(pnl, notional=500.0) -> pd.DataFrame:
    pnl = np.asarray(pnl, dtype=np.float64)
    n = pnl.size
    return pd.DataFrame({
        "entry_time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        "exit_time": pd.date_range("2024-01-01 00:30", periods=n, freq="h", tz="UTC"),
        "side": ["long"] * n, "quantity": [5.0] * n, "entry_price": [100.0] * n,
        "exit_price": 100 + (pnl + 0.5) / 5, "gross_pnl": pnl + 0.5, "slippage": [0.2] * n,
        "spread": [0.1] * n, "impact": [0.15] * n, "commission": [0.05] * n, "net_pnl": pnl,
        "return": pnl / notional,
    })


def make_equity(eq, position=None, action=None) -> pd.DataFrame:
    eq = np.asarray(eq, dtype=np.float64)
    n = eq.size
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"), "equity": eq,
        "cash": eq, "position": np.zeros(n) if position is None else position, "close": 100.0,
        "action": np.zeros(n, dtype=int) if action is None else action,
    })


PNL = [10.0, -5.0, 20.0, -10.0, 5.0, -2.5]
EQ = [1000, 1010, 1005, 1025, 1015, 1020, 1017.5, 1030, 1012, 1040.0]


@pytest.fixture(scope="module")
def golden_stats():
    return compute_stats(
        make_trades(PNL),
        make_equity(EQ, position=[0, 1, 1, 0, 2, 2, 0, 0, 1, 0.0], action=[0, 1, 0, 4, 2, 0, 6, 0, 1, 6]),
        bars_per_year=252.0, initial_equity=1000.0, n_trials=5,
        random_baseline={"net_returns": [-0.01, 0.0, 0.02, 0.03, 0.05]}, action_meanings=MEANINGS,
        pdt_rejections=2,
    )


# Golden values recorded from this implementation after checking them by hand (PF 35/17.5,
# drawdown 18/1030, durations, percentile 4/5, random p-value (1 + 1)/(5 + 1), no value to beat
# at 5% with 5 seeds) and against scipy/pandas in the tests below.
GOLDEN = {
    "trades": 6, "pf": 2.0, "pf_ci_low": 0.15384615384615385, "pf_ci_high": 28.0,
    "skew": 0.5721906474327945, "win_rate": 0.5, "expectancy": 2.9166666666666665,
    "avg_win": 11.666666666666666, "avg_loss": -5.833333333333333, "trades_net_pnl": 17.5,
    "gross_pnl": 20.5, "traded_notional": 6020.5, "bars": 10, "final_equity": 1040.0,
    "net_pnl": 40.0, "net_return": 0.04, "cagr": 1.686829761988466, "skew_bar": 0.235700987691277,
    "sharpe": 4.628002370130328, "sortino": 9.706400294183835, "max_drawdown": 0.01747572815533982,
    "max_drawdown_bars": 3, "calmar": 96.52414749156215, "exposure": 0.5, "turnover": 5.917244090618703,
    "pdt_rejections": 2, "psr": 0.8134587104267582, "dsr": 0.38137180146884764,
    "dsr_benchmark_sharpe": 0.3903440871525425, "n_trials": 5, "random_percentile": 80.0,
    "random_p95": math.inf, "random_p_value": 2 / 6, "random_median": 0.02, "beats_random_p95": False,
    "random_seeds": 5,
}


def test_golden_values(golden_stats):
    for key, want in GOLDEN.items():
        got = golden_stats[key]
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-10, abs=1e-14), key
        else:
            assert got == want, key
    assert golden_stats["costs"] == pytest.approx(
        {"slippage": 1.2, "spread": 0.6, "impact": 0.9, "commission": 0.3, "total": 3.0}, rel=1e-10)
    assert golden_stats["action_shares"] == pytest.approx(
        {"HOLD": 0.4, "BUY_25": 0.2, "BUY_50": 0.1, "BUY_75": 0.0, "SELL_25": 0.1, "SELL_50": 0.0, "SELL_75": 0.2})


def test_independent_recomputation(golden_stats):
    pnl = np.array(PNL)
    assert golden_stats["pf"] == pytest.approx(pnl[pnl > 0].sum() / abs(pnl[pnl < 0].sum()), rel=1e-12)
    # pandas' skew is the same bias-corrected G1 estimator as scipy's bias=False
    assert golden_stats["skew"] == pytest.approx(pd.Series(pnl / 500).skew(), rel=1e-10)
    eq = pd.Series([1000.0] + EQ)
    r = eq.pct_change().dropna()
    assert golden_stats["sharpe"] == pytest.approx(r.mean() / r.std() * math.sqrt(252), rel=1e-10)
    assert golden_stats["skew_bar"] == pytest.approx(sps.skew(r, bias=False), rel=1e-10)
    peak, worst = -np.inf, 0.0
    for v in eq:  # plain loop as the reference for the vectorised drawdown
        peak = max(peak, v)
        worst = max(worst, 1 - v / peak)
    assert golden_stats["max_drawdown"] == pytest.approx(worst, rel=1e-12)


def test_pf_differs_from_bar_return_pf_on_purpose():
    """quantstats (issue #493) takes PF over bar returns; ours is over closed trades.

    One trade that wins 10 overall but loses on one of its bars: trade PF is inf (no losing
    trade), bar-return PF is finite. A researcher asking "do my trades pay" wants the former.
    """
    trades = make_trades([10.0])
    equity = make_equity([1005, 1000, 1010], position=[1, 1, 0])
    s = compute_stats(trades, equity, bars_per_year=252, initial_equity=1000)
    r = pd.Series([1000.0, 1005, 1000, 1010]).pct_change().dropna()
    bar_pf = r[r > 0].sum() / abs(r[r < 0].sum())
    assert math.isinf(s["pf"]) and math.isfinite(bar_pf)


def test_no_trades_is_undefined_not_zero():
    s = compute_stats(make_trades([]), make_equity([1000.0] * 5), bars_per_year=252, initial_equity=1000)
    assert s["trades"] == 0 and s["pf"] is None and s["skew"] is None and s["win_rate"] is None
    assert s["sharpe"] is None and s["sortino"] is None and s["psr"] is None  # zero variance
    assert s["max_drawdown"] == 0.0 and s["calmar"] is None
    assert format_value(s["pf"]) == "undefined"
    json.dumps(to_jsonable(s), allow_nan=False)


def test_no_losers_is_inf_and_json_safe():
    s = compute_stats(make_trades([1.0, 2.0, 3.0]), make_equity([1001, 1003, 1006.0]),
                      bars_per_year=252, initial_equity=1000)
    assert math.isinf(s["pf"]) and math.isinf(s["sortino"]) and math.isinf(s["calmar"])
    # every resample has no loser: an interval of [inf, inf] would claim a certainty the data lack
    assert s["pf_ci_low"] is None and s["pf_ci_high"] is None and "no losing round trip" in s["pf_ci_note"]
    text = json.dumps(to_jsonable(s), allow_nan=False)
    assert json.loads(text)["pf"] == "inf"
    assert math.isinf(from_jsonable(json.loads(text))["pf"])
    assert format_value(s["pf"]) == "inf"


def test_all_zero_pnl_pf_undefined():
    assert profit_factor(np.zeros(4)) is None
    assert sample_skew(np.ones(5)) is None and sample_skew(np.array([1.0, 2.0])) is None


def test_consistency_edge_cases():
    assert consistency([]) is None
    assert consistency([5.0]) == 1.0 and consistency([-5.0]) == 0.0
    assert consistency([1.0, -1.0, 0.0, 2.0]) == 0.5  # zero P&L is not positive


def test_dsr_equals_psr_for_one_trial_and_deflates_with_more():
    rng = np.random.default_rng(3)
    eq = 1000 * np.cumprod(1 + rng.normal(0.001, 0.01, 500))
    one = compute_stats(make_trades([1.0, -1.0]), make_equity(eq), bars_per_year=252, initial_equity=1000)
    many = compute_stats(make_trades([1.0, -1.0]), make_equity(eq), bars_per_year=252, initial_equity=1000,
                         n_trials=100)
    assert one["dsr"] == one["psr"] and one["dsr_benchmark_sharpe"] == 0.0
    assert many["dsr"] < many["psr"] and many["n_trials"] == 100


def test_bootstrap_is_seeded_and_brackets_pf():
    pnl = np.random.default_rng(0).normal(0.5, 3.0, 80)
    a, b = bootstrap_pf_interval(pnl, seed=7), bootstrap_pf_interval(pnl, seed=7)
    assert a == b
    assert a[0] < profit_factor(pnl) < a[1]
    assert bootstrap_pf_interval(pnl, seed=8) != a


def test_bad_inputs_raise_user_errors():
    t, e = make_trades([1.0]), make_equity([1001.0])
    with pytest.raises(ConfigError, match="bars_per_year"):
        compute_stats(t, e, bars_per_year=0, initial_equity=1000)
    with pytest.raises(ConfigError, match="n_trials"):
        compute_stats(t, e, bars_per_year=252, initial_equity=1000, n_trials=0)
    with pytest.raises(DataError, match="net_pnl"):
        compute_stats(t.drop(columns="net_pnl"), e, bars_per_year=252, initial_equity=1000)


pnls = st.lists(st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: abs(x) > 1e-6), min_size=1, max_size=40)


@given(pnls, st.floats(1e-3, 1e3))
def test_pf_invariant_to_scaling(pnl, c):
    a, b = profit_factor(np.array(pnl)), profit_factor(c * np.array(pnl))
    assert (a is None and b is None) or a == pytest.approx(b, rel=1e-9)


@given(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=3, max_size=40))
def test_skew_flips_sign_under_negation(x):
    x = np.array(x)
    a, b = sample_skew(x), sample_skew(-x)
    assert (a is None) == (b is None)
    if a is not None:
        assert a == pytest.approx(-b, rel=1e-9, abs=1e-9)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=30))
def test_consistency_in_unit_interval(x):
    c = consistency(x)
    assert c is None if not x else 0.0 <= c <= 1.0


@given(st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=60), st.floats(1e-3, 1e6))
def test_drawdown_in_unit_interval(eq, init):
    dd = drawdown(np.array(eq), init)
    assert np.all((dd >= 0) & (dd <= 1))
    assert dd.max() == pytest.approx(max(0.0, 1 - min(eq[i] / max([init] + eq[: i + 1]) for i in range(len(eq)))),
                                     abs=1e-12)


def test_trade_columns_are_the_documented_ones():
    assert TRADES_CSV_COLUMNS[-2:] == ("net_pnl", "return") and len(TRADES_CSV_COLUMNS) == 13


def test_null_p_value_and_threshold_are_one_definition():
    d = np.arange(1.0, 20.0)  # 19 draws: only a value above all of them reaches p = 0.05
    assert null_p_value(19.5, d) == pytest.approx(1 / 20) and null_threshold(d, 0.05) == 19.0 + NULL_TIE_TOL
    assert null_p_value(19.0, d) == pytest.approx(2 / 20)  # a tie counts against the model
    # ties within the tolerance count against the model too: the never-flat policy,
    # whose stitched return and every draw's differed only in how they were compounded
    assert null_p_value(0.20464515730212796, [0.20464515730212463] * 1000) == 1.0
    assert null_p_value(0.2046 + 2 * NULL_TIE_TOL, [0.2046] * 1000) == pytest.approx(1 / 1001)
    assert null_threshold(d[:-1], 0.05) == math.inf  # 18 draws cannot give p <= 0.05
    assert null_p_value(None, d) is None and null_p_value(1.0, []) is None
    assert pf_interval_note(np.array([1.0])) is not None and pf_interval_note(np.array([1.0, -1.0])) is None


#: What the threshold property's examples compared (filled while it runs, counted below).
THRESHOLD_CASES: collections.Counter = collections.Counter()


_KINDS = ["a draw", "at the threshold", "just above it", "random"]
_DRAWS_40 = [round(0.05 * k - 1.0, 2) for k in range(40)]


@given(kind=st.sampled_from(_KINDS), alpha=st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5]),
       draws=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=200),
       pick=st.integers(0, 10**6), other=st.floats(-1.2, 1.2, allow_nan=False))
@example(kind="a draw", alpha=0.05, draws=_DRAWS_40, pick=39, other=0.0)  # the top draw: p = 2/41
@example(kind="a draw", alpha=0.25, draws=_DRAWS_40, pick=5, other=0.0)
@example(kind="at the threshold", alpha=0.05, draws=_DRAWS_40, pick=0, other=0.0)
@example(kind="at the threshold", alpha=0.1, draws=[-7.375763226085655e-26], pick=0, other=0.0)
@example(kind="just above it", alpha=0.05, draws=_DRAWS_40, pick=0, other=0.0)
@example(kind="just above it", alpha=0.5, draws=[0.3, -0.2, 0.1], pick=0, other=0.0)
@example(kind="random", alpha=0.05, draws=_DRAWS_40, pick=0, other=1.1)  # beats
@example(kind="random", alpha=0.05, draws=_DRAWS_40, pick=0, other=1.1 - 0.2)
def _threshold_property(kind, alpha, draws, pick, other):
    """A value beats a null (p <= alpha) exactly when it exceeds `null_threshold`. The value is
    drawn at random, from the draws (ties) or at / just above the threshold, so that both sides
    of the boundary are checked, not only values far from it; the explicit examples reach every
    case whatever the generated ones do."""
    threshold = null_threshold(draws, alpha)
    if kind == "a draw":
        value = draws[pick % len(draws)]
    elif kind != "random" and math.isfinite(threshold):
        value = threshold if kind == "at the threshold" else float(np.nextafter(threshold, np.inf))
    else:
        kind, value = "random", other
    beats = null_p_value(value, draws) <= alpha + 1e-12
    assert (value > threshold) == beats
    THRESHOLD_CASES[kind] += 1
    THRESHOLD_CASES["infinite threshold" if math.isinf(threshold) else "beats" if beats else "finite, does not beat"] += 1


def test_beating_the_threshold_is_a_p_value_at_most_alpha():
    THRESHOLD_CASES.clear()
    _threshold_property()
    for case in ("beats", "finite, does not beat", "at the threshold", "just above it", "a draw"):
        assert THRESHOLD_CASES[case] >= 2, (case, THRESHOLD_CASES)


def test_newey_west_matches_iid_and_widens_under_autocorrelation():
    rng = np.random.default_rng(5)
    x = rng.normal(0.1, 1.0, 4000)
    iid = newey_west_mean_test(x, lags=0)
    assert iid["se"] == pytest.approx(x.std(ddof=0) / math.sqrt(x.size), rel=1e-12)
    assert iid["p"] == pytest.approx(sps.norm.sf(x.mean() / iid["se"]), rel=1e-12)
    ar = np.empty_like(x)  # AR(1) with phi = 0.6: long-run sd = sd / (1 - phi)
    ar[0] = x[0]
    for t in range(1, x.size):
        ar[t] = 0.6 * ar[t - 1] + (x[t] - 0.1)
    nw, naive = newey_west_mean_test(ar, lags=30), newey_west_mean_test(ar, lags=0)
    assert nw["se"] > 1.8 * naive["se"]  # the naive error understates the true one 2.5x
    assert newey_west_mean_test(x)["lags"] == math.floor(4 * (4000 / 100) ** (2 / 9))
    assert newey_west_mean_test(np.ones(2))["p"] is None


def test_excess_over_matched_buy_and_hold():
    eq = 1000 * np.cumprod(1 + np.r_[0.01, np.zeros(9)])
    bench = np.full(10, 1000.0)
    s = compute_stats(make_trades([10.0, -1.0]), make_equity(eq), bars_per_year=252, initial_equity=1000,
                      benchmark_equity=bench)
    assert s["bh_matched_net_return"] == 0.0 and s["excess_vs_bh_matched"] == pytest.approx(0.01)
    assert s["excess_t"] > 0 and 0 < s["excess_p"] < 0.5
    with pytest.raises(DataError, match="same bars"):
        compute_stats(make_trades([1.0]), make_equity(eq), bars_per_year=252, initial_equity=1000,
                      benchmark_equity=bench[:5])


def test_pf_and_trade_count_are_over_round_trip_episodes():
    """Partial exits belong to their round trip: a position scaled out in three sells and one
    closed in one go are two round trips, PF = (sum of winning round trips) / |losing ones|,
    and the bootstrap resamples round trips, not their dependent pieces."""
    stamps = pd.date_range("2024-01-01", periods=8, freq="D", tz="UTC")
    pos = np.array([3.0, 2.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0])  # exits at bars 1, 2, 3 (one episode) and 6
    pnl = np.array([4.0, -1.0, 2.0, -3.0])
    trades = make_trades(pnl).assign(exit_time=stamps[[1, 2, 3, 6]])
    equity = make_equity(np.full(8, 1000.0), position=pos).assign(timestamp=stamps)
    assert list(round_trip_episodes(trades, equity)) == [0, 0, 0, 1]
    s = compute_stats(trades, equity, bars_per_year=252, initial_equity=1000)
    assert s["trades"] == 2 and s["exit_fills"] == 4
    assert s["pf"] == pytest.approx(5.0 / 3.0) and s["win_rate"] == 0.5
    assert s["expectancy"] == pytest.approx(1.0)
    assert s["resizing_orders"] == 2  # 3 -> 2 and 2 -> 1
    lo, hi = bootstrap_pf_interval(np.array([5.0, -3.0]), seed=0)
    assert (s["pf_ci_low"], s["pf_ci_high"]) == (lo, hi)


def test_timing_null_p_is_taken_at_the_models_own_replay():
    """The p-value compares the draws with the model's path replayed under the draws' rules
    (``model_net_return``), not with its return compounded another way; older runs without the
    replay fall back to the stitched net return."""
    trades, equity = make_trades(PNL), make_equity(EQ)
    draws = [0.02, 0.025, 0.03, 0.035]
    s = compute_stats(trades, equity, bars_per_year=252, initial_equity=1000,
                      timing_null={"net_returns": draws, "model_net_return": 0.0301, "arrangements_log10": 3.5})
    assert s["timing_null_model"] == 0.0301 and s["timing_null_p"] == pytest.approx(2 / 5)
    assert s["timing_null_arrangements_log10"] == 3.5
    old = compute_stats(trades, equity, bars_per_year=252, initial_equity=1000, timing_null={"net_returns": draws})
    assert old["timing_null_model"] == pytest.approx(0.04) and old["timing_null_p"] == pytest.approx(1 / 5)


def test_newey_west_against_a_hand_computation():
    """Bartlett weights 1 - l/(L+1) on the autocovariances (divided by n), known answer on 6 values."""
    x = np.array([0.3, -0.1, 0.4, 0.2, -0.2, 0.1])
    u = x - x.mean()
    n = x.size
    g = [float(u[l:] @ u[:n - l]) / n for l in range(3)]
    s = g[0] + 2 * (1 - 1 / 3) * g[1] + 2 * (1 - 2 / 3) * g[2]
    out = newey_west_mean_test(x, lags=2)
    assert out["se"] == pytest.approx(math.sqrt(s / n), rel=1e-12)
    assert out["t"] == pytest.approx(x.mean() / math.sqrt(s / n), rel=1e-12) and out["lags"] == 2


def test_pf_interval_resamples_whole_round_trips():
    """Twelve round trips, each closed in two exits whose P&L often differ in sign: the interval
    is the bootstrap of the round trips' sums, not of the exits."""
    rng = np.random.default_rng(11)
    n_ep = 12
    pos = np.tile([2.0, 1.0, 0.0, 0.0], n_ep)
    stamps = pd.date_range("2024-01-01", periods=pos.size, freq="D", tz="UTC")
    exits = np.flatnonzero(np.r_[False, pos[1:] < pos[:-1]])  # bars 1, 2, 5, 6, ...
    pnl = np.round(rng.normal(0.5, 3.0, exits.size), 2)
    trades = make_trades(pnl).assign(exit_time=stamps[exits])
    equity = make_equity(np.full(pos.size, 1000.0), position=pos).assign(timestamp=stamps)
    s = compute_stats(trades, equity, bars_per_year=252, initial_equity=1000, bootstrap_seed=4)
    sums = pnl.reshape(n_ep, 2).sum(axis=1)
    assert s["trades"] == n_ep and s["exit_fills"] == 2 * n_ep
    assert (s["pf_ci_low"], s["pf_ci_high"]) == bootstrap_pf_interval(sums, seed=4)
    assert (s["pf_ci_low"], s["pf_ci_high"]) != bootstrap_pf_interval(pnl, seed=4)
