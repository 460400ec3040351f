"""`walkforward run` end to end: run directory, summary, PF from trades.csv, resume after a kill,
refusal to mix runs, warm start, and the process pool and Ray against the local engine.

Runs are tiny (tests/run_helpers.py) so the file stays within CI's budget; what is checked
is the plumbing and the bookkeeping, not the model's skill.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pandas as pd
import pytest

from tests.run_helpers import TINY, assert_all_files_load, assert_same_results, run_cli, start_cli, wait_for


def _profit_factor(pnl: np.ndarray) -> float | None:
    if len(pnl) == 0:
        return None
    loss = -pnl[pnl < 0].sum()
    return float(pnl[pnl > 0].sum() / loss) if loss > 0 else float("inf")


def test_run_directory_layout(reference_run):
    run, proc = reference_run
    assert "SMPA" in proc.stdout and "report:" in proc.stdout
    manifest = json.loads((run / "manifest.json").read_text())
    assert [s["symbol"] for s in manifest["symbols"]] == ["SMPA"]
    assert manifest["symbols"][0]["timeframe"] == "15min"
    index = (run / "index.html").read_text()
    assert ">15min<" in index and manifest["symbols"][0]["data"]["sha256"][:12] in index
    for name in ("summary.json", "index.html", "SMPA/report.html", "assets/plotly.min.js"):
        assert (run / name).is_file(), name
    for k in (0, 1):
        fold = run / "SMPA" / f"fold_{k}"
        for name in ("checkpoint.pt", "trades.csv", "equity.csv", "result.json", "train_log.jsonl"):
            assert (fold / name).is_file(), (k, name)
        assert not (fold / "training").exists()  # scratch removed once the fold completed
        result = json.loads((fold / "result.json").read_text())
        assert result["fold"] == k and result["symbol"] == "SMPA"
        assert result["training_log"]
        for entry in result["training_log"]:  # every series of the report's training chart is there
            for key in ("policy_loss", "value_loss", "entropy", "explained_variance", "clip_fraction"):
                assert isinstance(entry[key], float), (k, key, entry)
        assert len(result["baselines"]["random"]["net_returns"]) == 5
        equity = pd.read_csv(fold / "equity.csv")
        test = result["segments"]["test"]
        assert len(equity) == test[1] - test[0]
    assert not (run / "failures.json").exists()
    assert_all_files_load(run)


def test_summary_pf_equals_pf_recomputed_from_trades(reference_run):
    run, _ = reference_run
    summary = json.loads((run / "summary.json").read_text())
    (sym,) = summary["symbols"]
    # PF is over round trips (DESIGN 3.8): a trade record ends its round trip when the position
    # after its exit bar (equity.csv) is 0; partial exits are summed into theirs
    pnl = []
    for k in (0, 1):
        fold = run / "SMPA" / f"fold_{k}"
        trades, equity = pd.read_csv(fold / "trades.csv"), pd.read_csv(fold / "equity.csv")
        flat_at = dict(zip(pd.to_datetime(equity["timestamp"], utc=True), equity["position"] == 0))
        total = 0.0
        for exit_time, net in zip(pd.to_datetime(trades["exit_time"], utc=True), trades["net_pnl"]):
            total += net
            if flat_at[exit_time]:
                pnl.append(total)
                total = 0.0
        assert total == 0.0  # every fold ends flat
    pnl = np.asarray(pnl)
    expected = _profit_factor(pnl)
    stored = sym["pf"]
    if expected is None:
        assert stored is None
    elif np.isinf(expected):
        assert stored == "inf"
    else:
        assert stored == pytest.approx(expected, rel=1e-12)
    assert sym["metrics"]["trades"] == len(pnl)
    assert sym["verdict"] in ("DEPLOY", "PAPER", "DROP", "INCONCLUSIVE")
    assert {c["level"] for c in sym["criteria"]} == {"evidence", "deploy", "paper"}


def test_no_dust_trades(reference_run):
    """With min_order_notional = 1, a partial sell leaves at least 1 and so sells at least
    0.25 / 0.75 of it: no trade is worth less than a third (the dust rule of AccountConfig)."""
    run, _ = reference_run
    for k in (0, 1):
        trades = pd.read_csv(run / "SMPA" / f"fold_{k}" / "trades.csv")
        notional = trades["quantity"] * trades["exit_price"]
        assert (notional > 0.3).all(), trades[notional <= 0.3]
        assert np.allclose(trades["entry_price"], trades["entry_price"].clip(lower=0.5 * trades["exit_price"]))


def test_checkpoint_in_fold_is_the_selected_model(reference_run):
    """The fold's checkpoint loads (weights_only), belongs to the fold and is the best validation."""
    from models.policy import load_policy

    run, _ = reference_run
    result = json.loads((run / "SMPA" / "fold_0" / "result.json").read_text())
    policy = load_policy(run / "SMPA" / "fold_0" / "checkpoint.pt")
    assert policy.info["fold_id"] == "SMPA/fold_0"
    scores = [v["score"] for v in result["validation_history"]]
    assert result["best_validation"]["score"] == max(scores)


def test_kill_after_first_fold_then_resume_gives_identical_results(reference_run, tmp_path):
    ref, _ = reference_run
    proc = start_cli(["run", "--out", "run", *TINY, "-q"], tmp_path)
    marker = tmp_path / "run" / "SMPA" / "fold_0" / "result.json"
    assert wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    first = (tmp_path / "run" / "SMPA" / "fold_0" / "checkpoint.pt").read_bytes()
    rerun = run_cli(["run", "--out", "run", *TINY], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "already complete" in rerun.stderr
    assert (tmp_path / "run" / "SMPA" / "fold_0" / "checkpoint.pt").read_bytes() == first  # not retrained
    assert_same_results(tmp_path / "run", ref)


def test_same_command_twice_is_byte_identical(reference_run, tmp_path):
    """Determinism on CPU: a second process running the same command (same seed) writes the
    same summary.json, trades and equity files, byte for byte."""
    run, _ = reference_run
    proc = run_cli(["run", "--out", "run", *TINY, "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_results(tmp_path / "run", run)


def _actor_market_weight(path):
    from models.checkpoint import load_checkpoint

    return load_checkpoint(path)["network"]["state_dict"]["actor_market.weight"]


def test_warm_start_trains_each_fold_from_the_previous_checkpoint(reference_run, tmp_path):
    """--warm-start: fold 1 starts from fold 0's selected weights (after one short update it
    is still next to them), while the fresh run's fold 1 starts from its own random init."""
    fresh, _ = reference_run
    proc = run_cli(["run", "--out", "run", *TINY, "--warm-start", "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    assert json.loads((run / "manifest.json").read_text())["config"]["warm_start"] is True
    r0, r1 = (json.loads((run / "SMPA" / f"fold_{k}" / "result.json").read_text()) for k in (0, 1))
    assert r0["warm_start_from"] is None
    assert r1["warm_start_from"].endswith("fold_0/checkpoint.pt")
    w0 = _actor_market_weight(run / "SMPA" / "fold_0" / "checkpoint.pt")
    warm = (_actor_market_weight(run / "SMPA" / "fold_1" / "checkpoint.pt") - w0).norm()
    cold = (_actor_market_weight(fresh / "SMPA" / "fold_1" / "checkpoint.pt") - w0).norm()
    assert warm < 0.1 * cold, (float(warm), float(cold))
    results = [run / "SMPA" / f"fold_{k}" / "result.json" for k in (0, 1)]
    stamps = [r.stat().st_mtime_ns for r in results]
    summary = (run / "summary.json").read_bytes()
    again = run_cli(["run", "--out", "run", *TINY, "--warm-start", "-q"], tmp_path)  # resumes: nothing to redo
    assert again.returncode == 0, again.stderr
    assert [r.stat().st_mtime_ns for r in results] == stamps and (run / "summary.json").read_bytes() == summary


def test_changed_config_refuses_to_mix_results(reference_run):
    run, _ = reference_run
    before = (run / "summary.json").read_bytes()
    proc = run_cli(["run", "--out", str(run), *TINY, "--seed", "7"], run.parent)
    assert proc.returncode == 2
    assert "different config" in proc.stderr and "Traceback" not in proc.stderr
    assert (run / "summary.json").read_bytes() == before


def test_python_entry_point_and_all_engines_agree(tmp_path):
    """`walkforward.run` on the local engine, on a pool of 2 processes and on a local Ray
    cluster (2 CPUs) gives the same per-symbol summary and byte-identical trades and equity."""
    pytest.importorskip("ray")
    import ray

    import walkforward

    kw = dict(symbols=["SMPA"], folds=2, trainer={"total_steps": 2048}, n_random_seeds=3, quiet=True)
    local = walkforward.run(out=str(tmp_path / "local"), **kw)
    procs = walkforward.run(out=str(tmp_path / "processes"), engine="processes", n_workers=2, **kw)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        remote = walkforward.run(out=str(tmp_path / "ray"), engine="ray", **kw)
    finally:
        ray.shutdown()
    assert local.ok and procs.ok and remote.ok
    for name, other in (("processes", procs), ("ray", remote)):
        assert other.summary["symbols"] == local.summary["symbols"], name  # summary["run"] names the engine
        for rel in ("SMPA/fold_0/trades.csv", "SMPA/fold_1/trades.csv", "SMPA/fold_1/equity.csv"):
            assert (tmp_path / name / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), (name, rel)


def test_cost_sensitivity_reruns_the_trained_model(reference_run):
    """Each fold re-runs its model at 0x, 0.5x, 1x and 2x costs; at 1x that is the test itself."""
    run, _ = reference_run
    for k in (0, 1):
        record = json.loads((run / "SMPA" / f"fold_{k}" / "result.json").read_text())
        cs = record["cost_sensitivity"]
        assert cs["multiples"] == [0.0, 0.5, 1.0, 2.0]
        assert cs["net_return"][2] == record["test"]["net_return"]
        assert cs["trades"][2] == record["test"]["trades"]
    sym = json.loads((run / "summary.json").read_text())["symbols"][0]
    assert sym["metrics"]["cost_sensitivity"]["net_return"][2] == pytest.approx(sym["metrics"]["net_return"], rel=1e-12)


def test_each_fold_reports_its_checkpoint_in_sample_beside_validation_and_test(reference_run):
    """Issue 24: the selected checkpoint backtested on its own training segment too, its PF and
    Sharpe beside validation and test in result.json, summary.json, the symbol page and the
    terminal, with the reward it was trained with and the smoke mode's warning in words."""
    from models.policy import load_policy
    from walkforward.config import RunConfig
    from walkforward.fold_job import evaluate

    run, proc = reference_run
    summary = json.loads((run / "summary.json").read_text())
    training = summary["symbols"][0]["training"]
    assert training["mode"] == "smoke" and training["reward"].startswith("net_pnl (pnl 0.95, drawdown 0.05)")
    assert any("too small to judge a market" in n for n in training["notes"])
    result = json.loads((run / "SMPA" / "fold_0" / "result.json").read_text())
    figs = result["figures"]
    assert set(figs) == {"train", "val", "test"}
    assert figs["test"]["net_return"] == pytest.approx(result["test"]["net_return"])
    assert figs["test"]["pf"] == result["test"]["pf"] and figs["test"]["trades"] == result["test"]["trades"]
    assert [f["fold"] for f in training["folds"]] == [0, 1] and training["folds"][0]["train"] == figs["train"]
    # the in-sample figures are the checkpoint's own backtest on its training bars
    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from backtest.observation import BacktestObservationBuilder
    from backtest.sample_data import sample_bars

    bars = next(b for b in sample_bars(seed=0) if b.symbol == "SMPA")
    schema = default_schema()
    raw = compute_features(bars, schema)
    train = result["segments"]["train"]
    sim_config = RunConfig().sim_config("equity")
    builder = BacktestObservationBuilder(raw, schema, Normaliser.fit(raw, *train), sim_config.account)
    policy = load_policy(run / "SMPA" / "fold_0" / "checkpoint.pt", expected_schema=schema)
    again = evaluate(policy, builder, bars, sim_config, *train).sim
    assert figs["train"]["net_return"] == pytest.approx(again.net_return, abs=1e-12)
    page = (run / "SMPA" / "report.html").read_text()
    assert 'id="in-sample"' in page and 'data-fold="1"' in page and "too small to judge a market" in page
    assert "SMPA: DROP; NOT LEARNED? mode smoke is a quick demo" in proc.stdout or \
        "; NOT LEARNED? mode smoke is a quick demo" in proc.stdout  # -q: the notes still print
