"""Fault injection (issue 9): SIGKILL during training, during a checkpoint write and during report
writing, SIGINT, a failed write and a diverging fold. After each, a rerun of the same command
keeps what finished, trusts nothing half-written, and ends with the uninterrupted run's results.

Faults are armed with the ``WALKFORWARD_FAULT`` variable (`walkforward.faults`).
"""

from __future__ import annotations

import errno
import json
import signal

import pytest

from tests.run_helpers import TINY, assert_all_files_load, assert_same_results, run_cli, start_cli, wait_for

CMD = ["run", "--out", "run", *TINY, "-q"]


def _rerun_matches(tmp_path, reference) -> None:
    rerun = run_cli(CMD, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_all_files_load(tmp_path / "run")
    assert_same_results(tmp_path / "run", reference)


@pytest.mark.parametrize("fault", ["train_update@SMPA/1", "checkpoint_write@SMPA/1", "report_write"])
def test_sigkill_then_rerun_loses_nothing(fault, reference_run, tmp_path):
    ref, _ = reference_run
    killed = run_cli(CMD, tmp_path, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    fold0 = tmp_path / "run" / "SMPA" / "fold_0"
    assert (fold0 / "result.json").exists()  # the fold finished before the kill is kept
    kept = (fold0 / "checkpoint.pt").read_bytes()
    if fault.startswith("checkpoint_write"):
        assert list((tmp_path / "run" / "SMPA" / "fold_1").glob(".checkpoint.pt.*"))  # the torn write is there
        assert not (tmp_path / "run" / "SMPA" / "fold_1" / "checkpoint.pt").exists()
    _rerun_matches(tmp_path, ref)
    assert (fold0 / "checkpoint.pt").read_bytes() == kept  # not retrained


def test_sigint_exits_130_and_resumes(reference_run, tmp_path):
    ref, _ = reference_run
    proc = start_cli(CMD, tmp_path)
    assert wait_for(tmp_path / "run" / "SMPA" / "fold_0" / "train_log.jsonl", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "rerun" in err and "Traceback" not in err
    _rerun_matches(tmp_path, ref)


def test_diverging_fold_is_recorded_and_the_rest_finish(tmp_path):
    two_symbols = [a if a != "SMPA" else "SMPA,SMPB" for a in CMD]
    proc = run_cli(two_symbols, tmp_path, fault="nan_rewards@SMPA/0")
    assert proc.returncode == 1, proc.stderr
    assert "FAILED SMPA fold 0" in proc.stderr and "diverged" in proc.stderr
    run = tmp_path / "run"
    failures = json.loads((run / "failures.json").read_text())
    assert [(f["symbol"], f["fold"]) for f in failures] == [("SMPA", 0)]
    assert "TrainingDiverged" in failures[0]["error"]
    for fold in ("SMPA/fold_1", "SMPB/fold_0", "SMPB/fold_1"):  # the other folds and symbols finished
        assert (run / fold / "result.json").exists(), fold
    summary = json.loads((run / "summary.json").read_text())
    assert {s["symbol"]: s["metrics"]["folds"] for s in summary["symbols"]} == {"SMPA": 1, "SMPB": 2}
    assert_all_files_load(run)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_write_failure_is_one_clear_line(code, tmp_path, monkeypatch, capsys):
    """A full disk or a refused write ends with one line naming the file, exit 2, no traceback."""
    import backtest.result_files as result_files
    from walkforward.cli import main

    def refuse(path, data):
        raise OSError(code, __import__("os").strerror(code), str(path))

    monkeypatch.setattr(result_files, "write_bytes", refuse)  # every file of a run is written through it
    rc = main(["run", "--out", str(tmp_path / "run"), *TINY, "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "cannot write" in err and "manifest.json" in err


def test_out_inside_a_file_is_refused(tmp_path, capsys):
    from walkforward.cli import main

    (tmp_path / "file").write_text("x")
    rc = main(["run", "--out", str(tmp_path / "file" / "run"), *TINY, "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
