"""Verdict v2: one constructed case per level, the criteria table, thresholds, retired keys."""

from __future__ import annotations

import math

import pytest

from backtest.errors import ConfigError
from reports.verdict import DEPLOY, DROP, INCONCLUSIVE, PAPER, VerdictThresholds, criteria, verdict

#: Exactly at every DEPLOY boundary.
GOOD = {"trades": 30, "folds": 3, "pf_ci_low": 1.1, "pf_ci_high": 2.0, "consistency": 0.8, "pf": 1.4,
        "max_drawdown": 0.10, "timing_null_p": 0.05, "excess_p": 0.05, "dsr": 0.95}


def test_deploy_at_the_boundaries():
    v = verdict(GOOD)
    assert v["verdict"] == DEPLOY and v["reasons"] == [] and v["not_deploy"] == []
    assert all(row["passed"] for row in v["criteria"])


def test_each_deploy_criterion_alone_keeps_it_from_deploy():
    for key, bad in (("consistency", 0.79), ("pf", 1.39), ("max_drawdown", 0.11), ("timing_null_p", 0.06),
                     ("excess_p", 0.051), ("dsr", 0.94)):
        v = verdict({**GOOD, key: bad})
        assert v["verdict"] == PAPER, key
        assert len(v["not_deploy"]) == 1 and v["reasons"][0].startswith("not DEPLOY:"), key


def test_paper_lists_why_not_deploy():
    v = verdict({**GOOD, "pf": 1.2, "timing_null_p": 0.1})
    assert v["verdict"] == PAPER
    assert any("profit factor 1.2 < 1.4" in r for r in v["reasons"])
    assert any("timing-null p-value 0.100 > 0.050" in r for r in v["reasons"])
    assert verdict({**GOOD, "timing_null_p": 0.11})["verdict"] == DROP  # PAPER's null level is 0.10


def test_drop_when_the_timing_null_is_not_beaten_even_loosely():
    """A policy that earns only through its exposure: every seeds' gate passes, but the timing
    null (its own exposure moved in time) does as well as it does."""
    v = verdict({**GOOD, "pf": 3.0, "consistency": 1.0, "timing_null_p": 0.6, "excess_p": 0.7})
    assert v["verdict"] == DROP
    assert v["not_paper"] == ["timing-null p-value 0.600 > 0.100",
                              "excess over exposure-matched buy & hold, p-value 0.700 > 0.500"]


def test_drop_lists_every_failing_paper_criterion():
    v = verdict({**GOOD, "consistency": 0.5, "pf": 1.0, "max_drawdown": 0.25})
    assert v["verdict"] == DROP and len(v["reasons"]) == 3
    assert all(r.startswith("not PAPER:") for r in v["reasons"])


def test_inconclusive_when_evidence_is_thin_whatever_else_holds():
    for thin in ({"trades": 5}, {"folds": 1}, {"trades": 1, "pf_ci_low": None, "pf_ci_high": None,
                                               "pf_ci_note": "1 round trip(s): a bootstrap needs at least 2"}):
        v = verdict({**GOOD, "pf": math.inf, **thin})
        assert v["verdict"] == INCONCLUSIVE, thin
        assert v["reasons"][0].startswith("too little evidence:")
    v = verdict({**GOOD, "pf": 2.0, "pf_ci_low": None, "pf_ci_high": None, "pf_ci_note": "1 round trip(s)"})
    assert v["verdict"] == INCONCLUSIVE and "PF 95% interval undefined (1 round trip(s))" in v["reasons"][0]


def test_many_winners_and_no_loser_is_judged_on_the_rest_of_the_evidence():
    """The issue's perfect-foresight policy: 283 round trips, all winners, excess p 3e-54. PF inf,
    no interval to compute, and that is not "too little evidence"."""
    ok = {**GOOD, "trades": 283, "pf": math.inf, "pf_ci_low": None, "pf_ci_high": None,
          "pf_ci_note": "no losing round trip: PF is inf in every resample"}
    v = verdict({**ok, "excess_p": 3e-54})
    assert v["verdict"] == DEPLOY
    row = next(r for r in v["criteria"] if r["name"] == "pf_interval")
    assert row["passed"] and row["text"] == "PF inf: 283 round trips, no loser (no interval needed)"
    assert verdict({**ok, "timing_null_p": 0.6})["verdict"] == DROP  # the rest still decides


def test_resizing_orders_count_as_evidence_when_round_trips_are_few():
    """A policy in the market throughout has one round trip per fold; its resizing orders are
    its timing decisions (the timing null moves them within the episode)."""
    assert verdict({**GOOD, "trades": 5})["verdict"] == INCONCLUSIVE
    v = verdict({**GOOD, "trades": 5, "resizing_orders": 30})
    assert v["verdict"] == DEPLOY
    row = next(r for r in v["criteria"] if r["name"] == "trades")
    assert row["text"] == "closed round trips 5 < 30, but resizing orders 30 >= 30"
    assert verdict({**GOOD, "trades": 5, "resizing_orders": 29})["verdict"] == INCONCLUSIVE


def test_a_degenerate_timing_null_fails_its_criterion_with_the_reason():
    """Fewer distinct arrangements than 1/alpha: no p-value the null gives can mean anything,
    whatever it reads (the issue's stitched p 0.000999 from rounding)."""
    v = verdict({**GOOD, "timing_null_p": 0.000999, "timing_null_arrangements_log10": 0.0})
    assert v["verdict"] == DROP
    assert v["not_deploy"][0].startswith("timing null degenerate: it can lay out only 1 distinct arrangement(s)")
    assert "fewer than 1/alpha = 20" in v["not_deploy"][0] and "1/alpha = 10" in v["not_paper"][0]
    # 10 arrangements: too few for DEPLOY (alpha 0.05), enough for PAPER (alpha 0.10)
    v = verdict({**GOOD, "timing_null_arrangements_log10": 1.0})
    assert v["verdict"] == PAPER and len(v["not_deploy"]) == 1
    assert verdict({**GOOD, "timing_null_arrangements_log10": math.log10(20.0)})["verdict"] == DEPLOY


def test_missing_numbers_fail_their_criterion_and_say_why():
    v = verdict({**GOOD, "timing_null_p": None})
    assert v["not_deploy"] == ["timing-null p-value undefined (no timing-null draws in the fold results)"]
    assert v["verdict"] == DROP  # PAPER needs it too
    assert verdict({**GOOD, "dsr": None})["verdict"] == PAPER


def test_infinite_pf_passes_its_gate():
    assert verdict({**GOOD, "pf": math.inf})["verdict"] == DEPLOY


def test_criteria_table_has_value_threshold_and_outcome():
    rows = criteria({**GOOD, "pf": 1.2}, VerdictThresholds())
    pf = next(r for r in rows if r["level"] == "deploy" and r["name"] == "pf")
    assert (pf["value"], pf["op"], pf["threshold"], pf["passed"]) == (1.2, ">=", 1.4, False)
    assert [r["level"] for r in rows].count("evidence") == 3
    assert {r["name"] for r in rows if r["level"] == "deploy"} == {
        "consistency", "pf", "max_drawdown", "timing_null_p", "excess_p", "dsr"}


def test_thresholds_configurable_and_validated():
    th = VerdictThresholds(deploy_pf=2.0)
    assert verdict(GOOD, th)["verdict"] == PAPER
    assert verdict({**GOOD, "trades": 10}, VerdictThresholds(min_trades=10))["verdict"] == DEPLOY
    assert VerdictThresholds.from_dict(th.to_dict()) == th
    with pytest.raises(ConfigError, match="paper_max_drawdown"):
        VerdictThresholds(paper_max_drawdown=1.5)
    with pytest.raises(ConfigError, match="at least as strict"):
        VerdictThresholds(deploy_pf=1.0, paper_pf=1.2)
    with pytest.raises(ConfigError, match="at least as strict"):
        VerdictThresholds(deploy_null_alpha=0.3)
    with pytest.raises(ConfigError, match="significance level"):
        VerdictThresholds(deploy_excess_alpha=0.0)
    with pytest.raises(ConfigError, match="min_trades"):
        VerdictThresholds(min_trades=0)
    with pytest.raises(ConfigError, match="unknown verdict thresholds"):
        VerdictThresholds.from_dict({"deploy_sharpe": 1.0})
    with pytest.raises(Exception):
        th.deploy_pf = 3.0  # frozen


def test_retired_v1_threshold_is_refused_from_users_and_ignored_in_old_runs():
    with pytest.raises(ConfigError, match="deploy_random_percentile no longer exists.*timing null"):
        VerdictThresholds.from_dict({"deploy_random_percentile": 95.0})
    with pytest.warns(UserWarning, match="ignored"):
        th = VerdictThresholds.from_dict({"deploy_random_percentile": 95.0, "deploy_pf": 1.5}, strict=False)
    assert th.deploy_pf == 1.5
