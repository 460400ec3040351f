"""What each fold of a real `walkforward run` used, checked from its files (DESIGN 3.2, 3.7).

The splitter and the normaliser are tested on their own; these tests check what the
orchestrator and the fold job hand them, from the run directory alone:

- the normaliser in every fold's checkpoint equals one fitted on exactly that fold's
  training rows (not train + validation, not the whole series);
- every fold's segments in ``result.json`` are separated by at least the feature window
  plus the reward horizon (the embargo), whatever the splitter was given;
- the checkpoint a fold tests is the BEST validation's, in a run with several
  validations where the best is not the last one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.run_helpers import run_cli

#: Bars a training reward looks ahead (`models.reward`: the step's return to the close).
REWARD_HORIZON = 1


def _folds(run):
    return sorted((run / "SMPA").glob("fold_*/result.json"))


def _sample_smpa():
    from backtest.sample_data import sample_bars

    return next(b for b in sample_bars(seed=0) if b.symbol == "SMPA")


def test_every_checkpoint_normaliser_is_fitted_on_exactly_its_training_rows(reference_run):
    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from models.checkpoint import load_checkpoint
    from walkforward.store import data_hash

    run, _ = reference_run
    bars = _sample_smpa()
    raw = compute_features(bars, default_schema())
    results = _folds(run)
    assert len(results) == 2
    for path in results:
        result = json.loads(path.read_text())
        assert result["data_hash"] == data_hash(bars)  # the same bars the run used
        train = result["segments"]["train"]
        saved = Normaliser.from_dict(load_checkpoint(path.parent / "checkpoint.pt")["normaliser"])
        want = Normaliser.fit(raw, train[0], train[1])
        np.testing.assert_array_equal(saved.mean, want.mean, err_msg=f"{path.parent.name}: normaliser mean")
        np.testing.assert_array_equal(saved.std, want.std, err_msg=f"{path.parent.name}: normaliser std")


def test_every_fold_keeps_the_embargo_between_its_segments(reference_run):
    from backtest.features import default_schema

    run, _ = reference_run
    gap = default_schema().window + REWARD_HORIZON  # 101 bars at the default window
    results = _folds(run)
    assert len(results) == 2
    for path in results:
        seg = json.loads(path.read_text())["segments"]
        train, val, test, warmup = (seg[k] for k in ("train", "val", "test", "warmup"))
        assert train[0] < train[1] <= val[0] < val[1] <= test[0] < test[1]
        assert val[0] - train[1] >= gap, f"{path.parent.name}: train -> val gap {val[0] - train[1]} < {gap}"
        assert test[0] - val[1] >= gap, f"{path.parent.name}: val -> test gap {test[0] - val[1]} < {gap}"
        assert warmup[1] == test[0] and warmup[1] - warmup[0] >= default_schema().window
        assert warmup[0] >= val[1]  # the test's warm-up rows are not validation rows


@pytest.mark.slow
def test_the_tested_checkpoint_is_the_best_validation_not_the_last(tmp_path):
    """Three PPO updates, one validation after each: the best (by the documented score and
    tie-break, `models.ppo.validation_score`) is an earlier one, and the fold's checkpoint
    is that update's, not the last."""
    from models.checkpoint import load_checkpoint

    proc = run_cli(["run", "--out", "run", "--symbols", "SMPA", "--folds", "1", "--steps", "12288",
                    "--random-seeds", "5", "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "SMPA" / "fold_0" / "result.json").read_text())
    history = result["validation_history"]
    assert len(history) >= 2
    best = max(history, key=lambda v: (v["score"], min(v["pf"] if v["pf"] is not None else 0.0, 10.0)))
    assert best["update"] != history[-1]["update"], "precondition: the best validation must not be the last"
    assert result["best_validation"]["update"] == best["update"]
    ckpt = load_checkpoint(tmp_path / "run" / "SMPA" / "fold_0" / "checkpoint.pt")
    assert (ckpt["update"], ckpt["global_step"]) == (best["update"], best["global_step"])
