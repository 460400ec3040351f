"""`walkforward.learning_check`: the in-sample figures and the signs, in words, that a fold's
training did not learn (issue 24)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from walkforward.learning_check import diagnose, segment_figures, symbol_training_notes

MEANINGS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]


def _record(best_update=3, entropy=1.0, pf_train=1.3, pf_test=1.2):
    hist = [{"update": u} for u in (1, 2, 3)]
    return {"validation_history": hist, "best_validation": {"update": best_update},
            "training_log": [{"entropy": 1.9}, {"entropy": entropy}], "action_meanings": MEANINGS,
            "figures": {"train": {"pf": pf_train}, "val": {"pf": 1.1}, "test": {"pf": pf_test}}}


def test_a_fold_that_learned_gets_no_note():
    assert diagnose(_record()) == []


def test_each_sign_of_not_learning_in_words():
    (first,) = diagnose(_record(best_update=1))
    assert first.startswith("validation never improved on its first point (update 1 of 3)")
    (flat,) = diagnose(_record(entropy=0.96 * math.log(7)))
    assert "near the uniform 1.95" in flat and "never committed" in flat
    assert diagnose(_record(entropy=0.94 * math.log(7))) == []
    (memo,) = diagnose(_record(pf_train=3.0, pf_test=1.4))
    assert memo == "in-sample PF 3.00 is far above the test PF 1.40: it learned its training bars, not the market"
    assert diagnose(_record(pf_train=2.7, pf_test=1.4)) == []  # less than twice: no note
    assert diagnose(_record(pf_train=1.4, pf_test=0.5)) == []  # not a high PF in sample: no note
    assert len(diagnose(_record(pf_train=float("inf"), pf_test=None))) == 1
    # no losing trade on test either (both PF infinite, as a null run's fold showed): no note
    assert diagnose(_record(pf_train=float("inf"), pf_test=float("inf"))) == []
    assert diagnose(_record(pf_train=9.0, pf_test=float("inf"))) == []
    assert len(diagnose(_record(best_update=1, entropy=2.0, pf_train=4.0, pf_test=0.5))) == 3


def test_symbol_notes_name_the_fold_and_skip_untrained_folds():
    folds = [{**_record(best_update=1), "fold": 0}, {**_record(), "fold": 1},
             {"fold": 2, "figures": {"train": {"pf": 9.0}, "test": {"pf": 0.1}}}]  # an actions file: not trained
    assert symbol_training_notes(folds) == ["fold 0: " + diagnose(_record(best_update=1))[0]]


def test_segment_figures_are_the_backtest_s_own():
    from backtest.sample_data import generate_equity_bars
    from backtest.simulator import simulate
    from reports.metrics import sharpe

    bars = generate_equity_bars("FIG", "2020-01-01", "2021-01-01", seed=3, timeframe="1D")
    acts = np.random.default_rng(0).integers(0, 7, 150)
    sim = simulate(bars, acts, start=50, close_at_end=True)
    f = segment_figures(sim, 252.0)
    eq = np.r_[sim.initial_equity, sim.equity]
    # trades and PF over round trips, as every figure the reports show (partial exits are one trade)
    assert f["pf"] == sim.profit_factor() and f["net_return"] == sim.net_return
    assert f["trades"] == len(sim.round_trip_pnl()) < len(sim.trades)
    assert f["sharpe"] == pytest.approx(sharpe(eq[1:] / eq[:-1] - 1.0, 252.0), rel=1e-12)
