"""Mid-fold resume (DESIGN 3.6): the training state saved at every validation point lets a fold
killed half-way resume there, with results byte for byte those of an uninterrupted run on a
CPU; a kill during the state write leaves the previous state loadable."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import fresh_ledger
from tests.run_helpers import _env, assert_same_results, run_cli

#: Four PPO updates per fold (64 envs x 64 steps each), a validation after every one.
LONG = ["--symbols", "SMPA", "--folds", "2", "--steps", "16384", "--random-seeds", "5", "--null-draws", "20"]
CMD = ["run", "--out", "run", *LONG, "-q"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("uninterrupted_long")
    with fresh_ledger(tmp_path_factory):
        proc = run_cli(CMD, cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "run"


def _log(run, fold: int) -> list[dict]:
    return [json.loads(line) for line in (run / "SMPA" / f"fold_{fold}" / "train_log.jsonl").read_text().splitlines()]


def test_sigkill_mid_fold_resumes_at_the_last_validation_point(uninterrupted, tmp_path):
    killed = run_cli(CMD, tmp_path, fault="train_update@SMPA/1#3")  # after fold 1's third update
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    scratch = tmp_path / "run" / "SMPA" / "fold_1" / "training"
    assert sorted(p.name for p in scratch.iterdir()) == ["best.pt", "last.pt"]  # latest state and best only
    rerun = run_cli(CMD, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    resumed = [r for r in _log(tmp_path / "run", 1) if r.get("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0]["update"] == 2 and resumed[0]["resumed_from_step"] == 2 * 4096
    assert resumed[0]["episodes_continued"]
    updates = [r["update"] for r in _log(tmp_path / "run", 1) if r.get("event") == "update"]
    assert updates == [1, 2, 3, 4]  # the killed attempt's third update is not logged twice
    assert_same_results(tmp_path / "run", uninterrupted)
    assert_same_fold_records(tmp_path / "run", uninterrupted)


def _record(run, fold: int) -> dict:
    """A fold's result.json without what a clock measures (the training log's steps per second)."""
    rec = json.loads((run / "SMPA" / f"fold_{fold}" / "result.json").read_text())
    rec["training_log"] = [{k: v for k, v in row.items() if k != "steps_per_s"} for row in rec["training_log"]]
    return rec


def assert_same_fold_records(run, reference) -> None:
    """Every result.json field of a resumed run equals the uninterrupted run's: the training log
    (losses, KL, entropy, rewards of every update, those before the kill included), validation
    history, best validation, baselines, cost sensitivity, steps and hashes."""
    for k in (0, 1):
        a, b = _record(run, k), _record(reference, k)
        assert [r["update"] for r in a["training_log"]] == [1, 2, 3, 4], a["training_log"]
        assert all(r["steps_per_s"] is not None for r in
                   json.loads((run / "SMPA" / f"fold_{k}" / "result.json").read_text())["training_log"])
        for key in sorted(set(a) | set(b)):
            assert a.get(key) == b.get(key), (k, key)


TORN_WRITE = """
import os, signal, sys, torch
real, seen = torch.save, {"n": 0}
def torn(obj, f, *args, **kwargs):
    name = os.path.basename(str(f))
    if name.startswith(".last.pt.") and "SMPA/fold_1" in str(f):
        seen["n"] += 1
        if seen["n"] == 3:  # the third state write of fold 1: half a file, then a power cut
            real(obj, f, *args, **kwargs)
            data = open(f, "rb").read()
            open(f, "wb").write(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, f, *args, **kwargs)
torch.save = torn
from walkforward.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_during_the_state_write_leaves_the_previous_state(uninterrupted, tmp_path):
    proc = subprocess.run([sys.executable, "-c", TORN_WRITE, *CMD], cwd=tmp_path, env=_env(None),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    scratch = tmp_path / "run" / "SMPA" / "fold_1" / "training"
    assert list(scratch.glob(".last.pt.*.tmp"))  # the torn write is there, beside the old state
    from models.checkpoint import load_checkpoint

    state = load_checkpoint(scratch / "last.pt")
    assert state["update"] == 2 and state["training_state"]["env"] is not None  # the previous one, whole
    rerun = run_cli(CMD, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(scratch.parent.glob("training"))  # cleared once the fold completed
    assert_same_results(tmp_path / "run", uninterrupted)
    assert_same_fold_records(tmp_path / "run", uninterrupted)


def test_a_state_of_other_inputs_is_not_resumed(uninterrupted, tmp_path):
    """A saved state belongs to its fold's inputs: after a config change the fold starts over."""
    killed = run_cli(CMD, tmp_path, fault="train_update@SMPA/0#3")
    assert killed.returncode == -signal.SIGKILL
    other = [a if a != "20" else "40" for a in CMD]  # more null draws: other inputs for every fold
    rerun = run_cli([*other, "--force"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert not [r for r in _log(tmp_path / "run", 0) if r.get("event") == "resumed"]
