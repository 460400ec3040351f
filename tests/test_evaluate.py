"""`walkforward evaluate`: any strategy's decisions through exactly what a trained model's go
through, bad action files refused up front, and the bounded verdict calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.sample_data import generate_equity_bars
from walkforward.cli import main

SMALL = ["--folds", "3", "--test-size", "120", "--null-draws", "40", "--random-seeds", "8", "-q"]


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """A daily bar file and its bars (2015-2020, XNYS sessions)."""
    bars = generate_equity_bars("ACME", "2015-01-01", "2021-01-01", seed=3, timeframe="1D", annual_drift=0.1)
    d = tmp_path_factory.mktemp("data")
    path = d / "ACME.csv"
    frame = bars.frame[["open", "high", "low", "close", "volume"]].copy()
    frame.index = frame.index.tz_convert("America/New_York").date  # daily file with plain dates
    frame.rename_axis("date").to_csv(path)
    return path, bars


def _actions_file(path: Path, bars, actions, names=True, symbol=None) -> Path:
    from backtest.account import ActionSpace

    meanings = ActionSpace().meanings
    frame = pd.DataFrame({"timestamp": bars.index.tz_convert("America/New_York").date,
                          "action": [meanings[a] for a in actions] if names else actions})
    if symbol is not None:
        frame["symbol"] = symbol
    frame.to_csv(path, index=False)
    return path


def _momentum(bars) -> np.ndarray:
    """Long while the last 10 closes rose (closes up to t-1 only), else sell it all."""
    c = bars.close
    past = np.r_[np.full(11, np.nan), c[10:-1] / c[:-11] - 1.0]
    return np.where(past > 0, 3, 6).astype(np.int64)


def test_evaluate_end_to_end_writes_a_full_run(tmp_path, daily, capsys):
    path, bars = daily
    acts = _momentum(bars)
    actions = _actions_file(tmp_path / "signals.csv", bars, acts)
    out = tmp_path / "ev"
    assert main(["evaluate", str(actions), str(path), "--out", str(out), *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "ACME" in printed and "report:" in printed
    summary = json.loads((out / "summary.json").read_text())
    s = summary["symbols"][0]
    assert s["verdict"] in ("DEPLOY", "PAPER", "DROP", "INCONCLUSIVE") and len(s["criteria"]) == 14
    assert s["metrics"]["timing_null_draws"] == 40 and s["metrics"]["excess_p"] is not None
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "evaluate" and manifest["actions"]["sha256"]
    for k in range(3):
        fold = out / "ACME" / f"fold_{k}"
        result = json.loads((fold / "result.json").read_text())
        assert result["training_log"] == [] and result["checkpoint"] is None
        assert result["source"]["actions_file"]["path"].endswith("signals.csv")
        test = range(*result["segments"]["test"])
        equity = pd.read_csv(fold / "equity.csv")
        assert equity["action"].tolist() == acts[test.start:test.stop].tolist()  # the file's decisions, as is
        assert not (fold / "checkpoint.pt").exists()
    page = (out / "ACME" / "report.html").read_text()
    assert 'id="criteria"' in page and "No training" in page
    # a rerun resumes (nothing to do) and gives the same summary; new actions are refused without --force
    before = (out / "summary.json").read_bytes()
    assert main(["evaluate", str(actions), str(path), "--out", str(out), *SMALL]) == 0
    assert (out / "summary.json").read_bytes() == before
    _actions_file(actions, bars, np.where(acts == 3, 2, acts))
    assert main(["evaluate", str(actions), str(path), "--out", str(out), *SMALL]) == 2
    assert "different config" in capsys.readouterr().err


def test_python_entry_point_and_ids(tmp_path, daily):
    import walkforward

    path, bars = daily
    acts = _momentum(bars)
    actions = _actions_file(tmp_path / "ids.csv", bars, acts, names=False, symbol="ACME")
    outcome = walkforward.evaluate(actions, path, out=str(tmp_path / "py"), folds=3, test_size=120, null_draws=40,
                                   n_random_seeds=8, quiet=True)
    assert outcome.summary["symbols"][0]["symbol"] == "ACME" and len(outcome.outcomes) == 3


def test_same_decisions_as_a_trained_model_give_the_same_results(tmp_path, reference_run):
    """The model's own test decisions, as an actions file: `evaluate` reproduces the run's
    trades, equity, baselines and every summary metric, byte for byte."""
    run, _ = reference_run
    rows = []
    for k in (0, 1):
        eq = pd.read_csv(run / "SMPA" / f"fold_{k}" / "equity.csv")
        rows.append(eq[["timestamp", "action"]])
    actions = tmp_path / "model_actions.csv"
    pd.concat(rows).to_csv(actions, index=False)
    out = tmp_path / "ev"
    from tests.run_helpers import run_cli

    proc = run_cli(["evaluate", str(actions), "--symbols", "SMPA", "--folds", "2", "--random-seeds", "5", "--fold-start", "flat",
                    "--out", str(out), "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for k in (0, 1):
        for name in ("trades.csv", "equity.csv"):
            assert (out / "SMPA" / f"fold_{k}" / name).read_bytes() == (run / "SMPA" / f"fold_{k}" / name).read_bytes()
        a = json.loads((out / "SMPA" / f"fold_{k}" / "result.json").read_text())
        b = json.loads((run / "SMPA" / f"fold_{k}" / "result.json").read_text())
        assert a["baselines"] == b["baselines"] and a["test"] == b["test"]
    sa = json.loads((out / "summary.json").read_text())["symbols"][0]
    sb = json.loads((run / "summary.json").read_text())["symbols"][0]
    # Away from 1x costs a trained policy re-decides on its own account (its account features
    # see the other costs) while an actions file's decisions are fixed: the cost curves agree
    # at 1x and may part elsewhere; every other metric is the same number.
    ca, cb = sa["metrics"].pop("cost_sensitivity"), sb["metrics"].pop("cost_sensitivity")
    one_a, one_b = ca["multiples"].index(1.0), cb["multiples"].index(1.0)
    assert ca["net_return"][one_a] == cb["net_return"][one_b] and ca["pf"][one_a] == cb["pf"][one_b]
    assert sa["metrics"] == sb["metrics"] and sa["verdict"] == sb["verdict"] and sa["criteria"] == sb["criteria"]


def _bad(tmp_path, daily, mutate, capsys) -> str:
    path, bars = daily
    frame = pd.read_csv(_actions_file(tmp_path / "a.csv", bars, _momentum(bars)))
    frame = mutate(frame)
    frame.to_csv(tmp_path / "a.csv", index=False)
    out = tmp_path / "never"
    assert main(["evaluate", str(tmp_path / "a.csv"), str(path), "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "Traceback" not in err
    assert not out.exists()  # nothing written on bad input
    return err


def test_timestamp_matching_no_bar_names_the_row(tmp_path, daily, capsys):
    err = _bad(tmp_path, daily, lambda f: f.assign(timestamp=f["timestamp"].where(f.index != 4, "2016-01-02")),
               capsys)  # a Saturday
    assert "row 5: timestamp 2016-01-02" in err and "matches no ACME bar" in err


def test_unknown_action_names_the_row(tmp_path, daily, capsys):
    err = _bad(tmp_path, daily, lambda f: f.assign(action=f["action"].where(f.index != 9, "BUY_99")), capsys)
    assert "row 10: unknown action 'BUY_99'" in err and "BUY_25" in err


def test_missing_bar_in_a_test_segment_is_named(tmp_path, daily, capsys):
    err = _bad(tmp_path, daily, lambda f: f.drop(index=len(f) - 5), capsys)
    assert "no action for ACME bar" in err and "test segment of fold 2" in err


def test_duplicate_rows_and_bad_columns(tmp_path, daily, capsys):
    err = _bad(tmp_path, daily, lambda f: pd.concat([f, f.iloc[[7]]]), capsys)
    assert "both decide ACME" in err
    err = _bad(tmp_path, daily, lambda f: f.rename(columns={"action": "signal"}), capsys)
    assert "missing column(s) action" in err
    err = _bad(tmp_path, daily, lambda f: f.assign(symbol=np.where(f.index == 2, "OTHER", "ACME")), capsys)
    assert "row 3: symbol 'OTHER' is not in DATA" in err


def test_bounded_verdict_calibration():
    """Seeded and bounded (about 30 s): no DEPLOY for policies without skill in any family (random,
    long-biased, hold longer, rules on random walks, never flat, resizing at random, short at random
    in a falling market), DEPLOY for strong planted edges (long/flat, short, resizing). Full figures
    per family: ``python -m benchmarks.bench_verdict`` (BENCHMARKS.md)."""
    from benchmarks.bench_verdict import NULL_FAMILIES, calibrate, run_case

    nulls = calibrate(2 * len(NULL_FAMILIES), 0, null_draws=200, random_seeds=20, seed0=4000, progress=False,
                      families=NULL_FAMILIES)
    assert [r["verdict"] for r in nulls].count("DEPLOY") == 0
    # a policy at the cap throughout has nothing for the timing null to move: it fails with the reason
    never = [r for r in nulls if r["policy"] == "never_flat"]
    assert never and all(r["timing_null_arrangements_log10"] < 1 and not r["criteria"][("paper", "timing_null_p")]
                         for r in never)
    seeds_gates = [r for r in nulls if all(r["criteria"][("deploy", k)] for k in ("consistency", "pf", "max_drawdown"))]
    assert len(seeds_gates) >= 2  # the seeds' gates alone would have deployed these
    edges = [run_case("edge", 3000 + i, 0.65, null_draws=200, random_seeds=20) for i in range(5)]
    assert [r["verdict"] for r in edges].count("DEPLOY") >= 4
    for family in ("short_edge", "resize_edge"):
        rs = [run_case(family, 3100 + i, 0.65, null_draws=200, random_seeds=20) for i in range(3)]
        assert [r["verdict"] for r in rs].count("DEPLOY") >= 2, (family, [r["verdict"] for r in rs])


def test_report_recomputes_the_verdict_with_new_thresholds(tmp_path, daily, capsys):
    """[verdict] thresholds change no fold result: `report --config` and a rerun with a new
    [verdict] table both recompute the verdict without --force or retraining."""
    path, bars = daily
    actions = _actions_file(tmp_path / "signals.csv", bars, _momentum(bars))
    out = tmp_path / "ev"
    assert main(["evaluate", str(actions), str(path), "--out", str(out), *SMALL]) == 0
    strict = tmp_path / "strict.toml"
    strict.write_text("[verdict]\nmin_trades = 100000\n")
    assert main(["report", str(out), "--config", str(strict), "-q"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["symbols"][0]["verdict"] == "INCONCLUSIVE" and s["thresholds"]["min_trades"] == 100000
    assert json.loads((out / "manifest.json").read_text())["verdict_thresholds"]["min_trades"] == 100000
    assert main(["report", str(out), "-q"]) == 0  # a later rebuild keeps them
    assert json.loads((out / "summary.json").read_text())["thresholds"]["min_trades"] == 100000
    loose = tmp_path / "loose.toml"
    loose.write_text("[verdict]\nmin_trades = 1\nmin_folds = 1\n")
    capsys.readouterr()
    assert main(["evaluate", str(actions), str(path), "--out", str(out), "--config", str(loose), *SMALL]) == 0
    assert json.loads((out / "summary.json").read_text())["thresholds"]["min_trades"] == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[verdict]\ndeploy_random_percentile = 95\n")
    assert main(["report", str(out), "--config", str(bad)]) == 2
    assert "no longer exists" in capsys.readouterr().err
