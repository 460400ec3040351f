"""Verdict levels, reasons and threshold validation."""

from __future__ import annotations

import math

import pytest

from backtest.errors import ConfigError
from reports.verdict import DEPLOY, DROP, PAPER, VerdictThresholds, verdict

GOOD = {"consistency": 0.8, "pf": 1.4, "max_drawdown": 0.10, "random_percentile": 97.0}


def test_deploy_at_the_boundaries():
    v = verdict(GOOD)
    assert v["verdict"] == DEPLOY and v["reasons"] == [] and v["not_deploy"] == []


def test_paper_lists_why_not_deploy():
    v = verdict({**GOOD, "pf": 1.2, "random_percentile": 90.0})
    assert v["verdict"] == PAPER
    assert any("profit factor 1.2 < 1.4" in r for r in v["reasons"])
    assert any("percentile 90.0 < 95" in r for r in v["reasons"])
    assert all(r.startswith("not DEPLOY:") for r in v["reasons"])


def test_drop_lists_every_failing_paper_criterion():
    v = verdict({"consistency": 0.5, "pf": 1.0, "max_drawdown": 0.25, "random_percentile": 99.0})
    assert v["verdict"] == DROP and len(v["reasons"]) == 3
    assert len(v["not_deploy"]) == 3


def test_missing_numbers_fail_their_criterion():
    v = verdict({**GOOD, "random_percentile": None})
    assert v["verdict"] == PAPER and v["not_deploy"] == ["no random-policy baseline to beat"]
    v = verdict({**GOOD, "pf": None})
    assert v["verdict"] == DROP and any("undefined" in r for r in v["reasons"])


def test_infinite_pf_passes():
    assert verdict({**GOOD, "pf": math.inf})["verdict"] == DEPLOY


def test_thresholds_configurable_and_validated():
    th = VerdictThresholds(deploy_pf=2.0)
    assert verdict(GOOD, th)["verdict"] == PAPER
    assert VerdictThresholds.from_dict(th.to_dict()) == th
    with pytest.raises(ConfigError, match="paper_max_drawdown"):
        VerdictThresholds(paper_max_drawdown=1.5)
    with pytest.raises(ConfigError, match="at least as strict"):
        VerdictThresholds(deploy_pf=1.0, paper_pf=1.2)
    with pytest.raises(ConfigError, match="unknown verdict thresholds"):
        VerdictThresholds.from_dict({"deploy_sharpe": 1.0})
    with pytest.raises(Exception):
        th.deploy_pf = 3.0  # frozen
