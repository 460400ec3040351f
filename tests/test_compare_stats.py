"""`reports.compare`: the PBO on known cases (noise, identical, a real edge, a hand-worked
4-block example, a loop reference) and the paired Sharpe-difference bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from backtest.errors import ConfigError
from reports.compare import align, compare_symbol, holm, pbo, sharpe, sharpe_difference


def test_pbo_hand_worked_four_blocks():
    """T = 4 bars, S = 4 blocks of one bar, three configurations. With two bars x, y a half's
    Sharpe is (x + y) / (sqrt(2) |x - y|), so the ordering is that of s = (x + y) / |x - y|:

        bars          A=[4,2,-1,-3]  B=[-2,-4,3,1]  C=[1,3,2,5]
        s{0,1}          3             -3              2
        s{0,2}          0.6            0.2            3
        s{0,3}          1/7           -1/3            1.5
        s{1,2}          1/3           -1/7            5
        s{1,3}         -0.2           -0.6            4
        s{2,3}         -2              2              7/3

    in sample  winner  out of sample (A, B, C)  winner's rank  w = rank/4  logit
    {0,1}      A       {2,3}: -2, 2, 7/3        1 (worst)      1/4         ln(1/3)
    {0,2}      C       {1,3}: -0.2, -0.6, 4     3              3/4         ln 3
    {0,3}      C       {1,2}: 1/3, -1/7, 5      3              3/4         ln 3
    {1,2}      C       {0,3}: 1/7, -1/3, 1.5    3              3/4         ln 3
    {1,3}      C       {0,2}: 0.6, 0.2, 3       3              3/4         ln 3
    {2,3}      C       {0,1}: 3, -3, 2          2 (median)     1/2         0 (counts one half)

    PBO = (1 + 0.5) / 6 = 0.25; the winner loses out of sample once (-2 in the first split).
    """
    M = np.array([[4, -2, 1], [2, -4, 3], [-1, 3, 2], [-3, 1, 5]], dtype=np.float64)
    r = pbo(M, n_blocks=4)
    ln3 = math.log(3.0)
    assert r["n_combinations"] == 6 and r["n_configurations"] == 3
    np.testing.assert_allclose(r["logits"], [-ln3, ln3, ln3, ln3, ln3, 0.0], atol=1e-12)
    assert r["pbo"] == pytest.approx(0.25)
    assert r["prob_oos_loss"] == pytest.approx(1 / 6)
    assert r["selected"] == [1, 0, 5]


def _pbo_loop(M: np.ndarray, S: int) -> float:
    """Reference: the paper's procedure written as a plain loop over the splits."""
    blocks = np.array_split(np.arange(M.shape[0]), S)
    score = 0.0
    combos = list(itertools.combinations(range(S), S // 2))
    for c in combos:
        ins = np.concatenate([blocks[i] for i in c])
        oos = np.concatenate([blocks[i] for i in range(S) if i not in c])
        sr_in = M[ins].mean(0) / M[ins].std(0, ddof=1)
        sr_out = M[oos].mean(0) / M[oos].std(0, ddof=1)
        n_star = int(np.argmax(sr_in))
        rank = 1 + np.sum(sr_out < sr_out[n_star]) + 0.5 * (np.sum(sr_out == sr_out[n_star]) - 1)
        w = rank / (M.shape[1] + 1)
        lam = math.log(w / (1 - w))
        score += 1.0 if lam < 0 else 0.5 if lam == 0 else 0.0
    return score / len(combos)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pbo_matches_a_loop_reference(seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((203, 5)) * 0.01 + rng.normal(0, 0.001, 5)
    assert pbo(M, n_blocks=8)["pbo"] == pytest.approx(_pbo_loop(M, 8), abs=1e-12)


def test_pbo_of_pure_noise_is_near_one_half():
    """Ten configurations of independent noise: the in-sample winner's out-of-sample rank is
    uniform, so PBO is 0.5 on average (any one data set varies widely: splits overlap)."""
    rng = np.random.default_rng(7)
    values = [pbo(rng.standard_normal((800, 10)) * 0.01)["pbo"] for _ in range(24)]
    assert abs(np.mean(values) - 0.5) < 0.1


def test_pbo_of_identical_configurations_is_one_half():
    """Configurations that cannot be told apart: the winner always sits at the median (logit 0)."""
    x = np.random.default_rng(3).standard_normal((640, 1)) * 0.01
    r = pbo(np.tile(x, (1, 4)))
    assert r["pbo"] == 0.5 and np.all(r["logits"] == 0.0)


def test_pbo_with_one_real_edge_among_noise_is_near_zero():
    rng = np.random.default_rng(11)
    M = rng.standard_normal((1600, 8)) * 0.01
    M[:, 5] += 0.004  # Sharpe 0.4 per bar: wins in sample and out of sample
    r = pbo(M)
    assert r["pbo"] < 0.02 and r["selected"][5] == r["n_combinations"]
    assert r["prob_oos_loss"] == 0.0


def test_pbo_flat_configuration_and_bad_blocks():
    rng = np.random.default_rng(0)
    M = np.column_stack([np.zeros(64), rng.standard_normal(64) * 0.01 + 0.02])
    r = pbo(M, n_blocks=4)  # a flat configuration has Sharpe 0, no NaN
    assert r["pbo"] == 0.0 and np.all(np.isfinite(r["logits"]))
    for bad in (3, 0, 22):
        with pytest.raises(ConfigError, match="--blocks"):
            pbo(M, n_blocks=bad)
    with pytest.raises(ConfigError, match="too few"):
        pbo(M[:3], n_blocks=4)
    with pytest.raises(ConfigError, match="at least two"):
        pbo(M[:, :1])


def test_sharpe_difference_identical_and_clear_cases():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(2000) * 0.01 + 0.001
    same = sharpe_difference(a, a.copy(), bars_per_year=252)
    assert same["diff"] == 0.0 and same["p_value"] == 1.0
    b = rng.standard_normal(2000) * 0.01
    strong = sharpe_difference(a + 0.002, b, bars_per_year=252, n_boot=500)
    assert strong["p_value"] < 0.01 and strong["ci_low"] > 0
    assert strong["diff"] == pytest.approx(sharpe(a + 0.002, 252) - sharpe(b, 252), rel=1e-2)  # plug-in vs ddof=1
    assert strong["ci_low"] < strong["diff"] < strong["ci_high"]
    flat = sharpe_difference(a, np.zeros_like(a))
    assert flat["p_value"] is None and "never vary" in flat["note"]
    short = sharpe_difference(a[:10], b[:10])
    assert short["p_value"] is None and "too few" in short["note"]


def test_sharpe_difference_holds_its_size_under_dependence():
    """Correlated, autocorrelated (AR 0.4), fat-tailed (t4) pairs with equal Sharpe: the test
    rejects at 5% about 5% of the time (loose bounds for 120 repetitions)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(21)
    rejections = 0
    for k in range(120):
        e = lfilter([1.0], [1.0, -0.4], rng.standard_t(4, size=(1000, 3)), axis=0)
        res = sharpe_difference(e[:, 0] + 0.7 * e[:, 2], e[:, 1] + 0.7 * e[:, 2], n_boot=300, seed=k)
        rejections += res["p_value"] <= 0.05
    assert rejections / 120 < 0.12


def test_align_holm_and_compare_symbol():
    t1 = np.array([1, 2, 3, 4, 5], dtype=np.int64)
    t2 = np.array([5, 3, 2, 9], dtype=np.int64)
    times, M = align([t1, t2], [np.array([.1, .2, .3, .4, .5]), np.array([5., 3., 2., 9.])])
    assert times.tolist() == [2, 3, 5] and M.tolist() == [[.2, 2.], [.3, 3.], [.5, 5.]]
    assert holm([0.01, None, 0.04, 0.03]) == [pytest.approx(0.03), None, pytest.approx(0.06), pytest.approx(0.06)]
    rng = np.random.default_rng(2)
    n = 512
    t = np.arange(n, dtype=np.int64)
    rets = [rng.standard_normal(n) * 0.01 + d for d in (0.0, 0.003, 0.0)]
    c = compare_symbol(["a", "b", "a-again"], [t, t, t], [rets[0], rets[1], rets[0]], bars_per_year=252,
                       configurations=["x", "y", "x"], n_blocks=8, n_boot=200)
    assert c["best"] == 1 and [d["label"] for d in c["differences"]] == ["a", "a-again"]
    assert c["pbo_runs"] == [0, 1] and c["pbo"]["n_configurations"] == 2  # a configuration run twice counts once
    one = compare_symbol(["a", "b"], [t, t], [rets[0], rets[0]], bars_per_year=252, configurations=["x", "x"])
    assert one["pbo"] is None and "two distinct" in one["pbo_note"]
