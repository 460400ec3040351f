"""The trainer finds a planted edge (issue 24): bounded and seeded, it fails when the trainer
stops learning. One fold of the lag-1 world at 0.8 sigma (`benchmarks.learning_worlds`),
the ``cpu`` mode's window and features, 65,536 steps (about 30-50 s on a shared 2-core CPU);
the selected checkpoint must follow the planted rule on the test bars it never saw and
make money there. `benchmarks.bench_learning` measures the same thing at full size."""

from __future__ import annotations

import pytest

from benchmarks.bench_learning import learn_one_fold


@pytest.mark.slow
def test_cpu_trainer_finds_the_lag1_edge_out_of_sample():
    r = learn_one_fold("lag1_daily_080", 0, 65_536)
    assert r["oracle_test"]["pf"] > 2.0  # the edge is there on the test bars
    assert r["follows_rule"] > 0.3, r  # BUYs where the rule is long, far more than where it is flat
    assert r["test"]["pf"] > 1.2 and r["test"]["net_return"] > 0.0, r["test"]
    assert r["entropy"][-1] < r["entropy"][0]  # it committed to something
