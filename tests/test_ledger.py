"""The research ledger (DESIGN 3.11): trials counted per configuration on the same data (not
per rerun or resume), declared and forgotten trials in the basis, concurrent writers, a
corrupted / foreign / locked ledger (the run completes, one warning line), the `ledger`
command, and `walkforward compare` end to end on `evaluate` runs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.sample_data import generate_equity_bars
from walkforward import ledger as research_ledger
from walkforward.cli import main
from walkforward.ledger import Ledger, TrialRecord

SMALL = ["--folds", "3", "--test-size", "120", "--null-draws", "40", "--random-seeds", "8", "-q"]


def _bars_file(path: Path, seed: int):
    bars = generate_equity_bars("ACME", "2015-01-01", "2021-01-01", seed=seed, timeframe="1D", annual_drift=0.1)
    frame = bars.frame[["open", "high", "low", "close", "volume"]].copy()
    frame.index = frame.index.tz_convert("America/New_York").date
    frame.rename_axis("date").to_csv(path)
    return bars


def _momentum_file(path: Path, bars, lookback: int) -> Path:
    """Long after a rise over ``lookback`` closes (up to t-1), else sell it all."""
    from backtest.account import ActionSpace

    c = bars.close
    past = np.r_[np.full(lookback + 1, np.nan), c[lookback:-1] / c[:-lookback - 1] - 1.0]
    acts = np.where(past > 0, 3, 6)
    meanings = ActionSpace().meanings
    pd.DataFrame({"timestamp": bars.index.tz_convert("America/New_York").date,
                  "action": [meanings[a] for a in acts]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """A daily bar file and four momentum rules' actions files (lookbacks 5, 10, 20, 40)."""
    d = tmp_path_factory.mktemp("ledger_data")
    bars = _bars_file(d / "ACME.csv", seed=3)
    rules = {k: _momentum_file(d / f"mom{k}.csv", bars, k) for k in (5, 10, 20, 40)}
    return d / "ACME.csv", rules, bars


def _evaluate(rule, data, out, *extra) -> int:
    return main(["evaluate", str(rule), str(data), "--out", str(out), *SMALL, *extra])


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_default_location_and_switch(monkeypatch, tmp_path):
    monkeypatch.delenv(research_ledger.ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert research_ledger.resolve() == tmp_path / "xdg" / "rl-walkforward" / "ledger.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert research_ledger.resolve() == Path.home() / ".local" / "share" / "rl-walkforward" / "ledger.sqlite"
    monkeypatch.setenv(research_ledger.ENV, str(tmp_path / "env.sqlite"))
    assert research_ledger.resolve() == tmp_path / "env.sqlite"
    assert research_ledger.resolve(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"
    assert research_ledger.resolve(False) is None


def test_tests_never_touch_the_user_ledger():
    import os

    path = Path(os.environ[research_ledger.ENV])
    assert Path.home() / ".local" not in path.parents


def test_trials_grow_with_configurations_not_with_reruns(tmp_path, daily, capsys):
    data, rules, _ = daily
    assert _evaluate(rules[5], data, tmp_path / "a") == 0
    first = _summary(tmp_path / "a")
    assert first["n_trials"] == 1 and "1 distinct configuration" in first["n_trials_basis"]
    assert first["symbols"][0]["n_trials_basis"] == first["n_trials_basis"]
    before = (tmp_path / "a" / "summary.json").read_bytes()
    assert _evaluate(rules[5], data, tmp_path / "a") == 0  # a rerun: the same trial, the same summary
    assert (tmp_path / "a" / "summary.json").read_bytes() == before
    assert _evaluate(rules[10], data, tmp_path / "b") == 0
    second = _summary(tmp_path / "b")["symbols"][0]
    assert second["metrics"]["n_trials"] == 2 and second["metrics"]["dsr_benchmark_sharpe"] > 0
    assert _evaluate(rules[5], data, tmp_path / "a-copy") == 0  # same configuration elsewhere: still 2
    assert _summary(tmp_path / "a-copy")["n_trials"] == 2
    assert _evaluate(rules[20], data, tmp_path / "c", "--trials", "3") == 0  # 3 distinct + 3 declared
    third = _summary(tmp_path / "c")
    assert third["n_trials"] == 6 and "+ 3 declared" in third["n_trials_basis"]
    # two configurations recorded before it (5 and 10): the DSR's dispersion is their Sharpe spread
    assert third["symbols"][0]["metrics"]["dsr_trial_sharpe_var"] > 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["symbols"][0]["n_trials"] == 6
    page = (tmp_path / "c" / "ACME" / "report.html").read_text()
    assert 'id="n-trials-basis"' in page and "+ 3 declared" in page
    sets = Ledger(research_ledger.resolve()).data_sets()
    assert len(sets) == 1 and sets[0]["configurations"] == 3 and sets[0]["runs"] == 4
    assert not _warnings(capsys.readouterr().err)


def test_a_resumed_run_is_one_trial(tmp_path, daily):
    import walkforward

    data, rules, _ = daily
    ledger = tmp_path / "own.sqlite"
    out = tmp_path / "run"
    kwargs = dict(out=str(out), folds=3, test_size=120, null_draws=40, n_random_seeds=8, quiet=True, ledger=ledger)
    walkforward.evaluate(rules[5], data, **kwargs)
    (out / "summary.json").unlink()  # as if killed before the reports: the last fold is redone on resume
    (out / "ACME" / "fold_2" / "result.json").unlink()
    outcome = walkforward.evaluate(rules[5], data, **kwargs)
    assert outcome.resumed and outcome.summary["n_trials"] == 1
    assert [s["runs"] for s in Ledger(ledger).data_sets()] == [1]
    declared = walkforward.evaluate(rules[10], data, **{**kwargs, "out": str(tmp_path / "other"), "trials": 2})
    assert declared.summary["n_trials"] == 4
    with pytest.raises(Exception, match="--trials"):
        walkforward.evaluate(rules[10], data, **{**kwargs, "out": str(tmp_path / "neg"), "trials": -1})
    assert not (tmp_path / "neg").exists()


def test_no_ledger_counts_the_run_alone(tmp_path, daily):
    data, rules, _ = daily
    path = tmp_path / "unused.sqlite"
    assert _evaluate(rules[5], data, tmp_path / "a", "--ledger", str(path)) == 0
    assert _evaluate(rules[10], data, tmp_path / "b", "--no-ledger", "--trials", "1") == 0
    s = _summary(tmp_path / "b")
    assert s["n_trials"] == 2 and "ledger off" in s["n_trials_basis"] and "+ 1 declared" in s["n_trials_basis"]
    assert [t["run_dir"] for t in Ledger(path).data_sets()[0]["trials"]] == [str((tmp_path / "a").resolve())]
    assert main(["evaluate", str(rules[5]), str(data), "--ledger", "x", "--no-ledger", *SMALL]) == 2


def test_forget_removes_trials_and_the_basis_says_so(tmp_path, daily, capsys):
    data, rules, _ = daily
    for k, name in ((5, "a"), (10, "b")):
        assert _evaluate(rules[k], data, tmp_path / name) == 0
    assert main(["ledger", "--forget", str(tmp_path / "a")]) == 0
    assert "forgot 1 trial" in capsys.readouterr().out
    assert main(["ledger", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["data_sets"][0]["configurations"] == 1 and listing["data_sets"][0]["forgotten"] == 1
    assert _evaluate(rules[20], data, tmp_path / "c") == 0
    s = _summary(tmp_path / "c")
    assert s["n_trials"] == 2 and "1 configuration forgotten" in s["n_trials_basis"]
    assert main(["ledger", "--forget", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no trials of that run" in err
    assert main(["ledger"]) == 0
    text = capsys.readouterr().out
    assert "2 configuration(s), 2 run(s), 1 forgotten" in text and str((tmp_path / "c").resolve()) in text


def test_corrupted_ledger_warns_once_and_the_run_completes(tmp_path, daily, capsys):
    data, rules, _ = daily
    bad = tmp_path / "ledger.sqlite"
    bad.write_bytes(b"this is not a database, it was truncated by a full disk" * 50)
    assert _evaluate(rules[5], data, tmp_path / "a", "--ledger", str(bad)) == 0
    warned = _warnings(capsys.readouterr().err)
    assert len(warned) == 1 and "not a readable SQLite database" in warned[0] and "results are complete" in warned[0]
    s = _summary(tmp_path / "a")
    assert s["n_trials"] == 1 and "ledger unavailable" in s["n_trials_basis"]
    assert (tmp_path / "a" / "index.html").exists() and (tmp_path / "a" / "ACME" / "report.html").exists()
    for argv in (["ledger", "--ledger", str(bad)], ["compare", "--ledger-data", "ab", "--ledger", str(bad),
                                                     "--out", str(tmp_path / "cmp")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: research ledger") and "corrupted" in err


def test_foreign_sqlite_file_is_left_alone(tmp_path, daily, capsys):
    data, rules, _ = daily
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE customers (name TEXT)")
    assert _evaluate(rules[5], data, tmp_path / "a", "--ledger", str(foreign)) == 0
    warned = _warnings(capsys.readouterr().err)
    assert len(warned) == 1 and "not a walkforward ledger" in warned[0]
    with sqlite3.connect(foreign) as con:
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["customers"]


def test_locked_ledger_warns_and_a_rerun_records(tmp_path, daily, capsys, monkeypatch):
    data, rules, _ = daily
    path = tmp_path / "ledger.sqlite"
    Ledger(path).record([])  # a ledger in WAL mode
    monkeypatch.setattr(research_ledger, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        assert _evaluate(rules[5], data, tmp_path / "a", "--ledger", str(path)) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    warned = _warnings(capsys.readouterr().err)
    assert len(warned) == 1 and "locked by another process" in warned[0] and "not recorded" in warned[0]
    assert _summary(tmp_path / "a")["n_trials"] == 1
    assert Ledger(path).data_sets() == []
    assert _evaluate(rules[5], data, tmp_path / "a", "--ledger", str(path)) == 0  # the rerun records it
    assert [s["runs"] for s in Ledger(path).data_sets()] == [1]


_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from walkforward.ledger import Ledger, TrialRecord
    path, who, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    for k in range(n):
        rec = TrialRecord(symbol="ACME", data_hash="d" * 64, tests=((10, 20), (30, 40)), fingerprint=f"{who}{k % 7}",
                          run_dir=f"/runs/{who}/{k}", times=np.arange(20, dtype=np.int64),
                          returns=np.full(20, k * 1e-3))
        Ledger(path).record([rec])
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    import time

    path = tmp_path / "fresh" / "ledger.sqlite"  # not created yet: both race to create it too
    start = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), who, "60", str(start)],
                              stderr=subprocess.PIPE, text=True) for who in ("p", "q")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    sets = Ledger(path).data_sets()
    assert len(sets) == 1 and sets[0]["runs"] == 120 and sets[0]["configurations"] == 14
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    trials = Ledger(path).trials(sets[0]["data_key"])
    assert all(np.all(t.returns == t.returns[0]) and t.times.tolist() == list(range(20)) for t in trials)


def test_two_evaluations_at_once_are_both_recorded(tmp_path, daily):
    from tests.run_helpers import start_cli

    data, rules, _ = daily
    path = tmp_path / "ledger.sqlite"
    procs = [start_cli(["evaluate", str(rules[k]), str(data), "--out", str(tmp_path / f"e{k}"), "--ledger", str(path),
                        *SMALL], tmp_path) for k in (5, 10)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "warning" not in err, err
    sets = Ledger(path).data_sets()
    assert sets[0]["configurations"] == 2 and sets[0]["runs"] == 2


def test_the_trained_run_counts_its_trials(reference_run):
    run, _ = reference_run
    manifest = json.loads((run / "manifest.json").read_text())
    entry = manifest["symbols"][0]
    assert entry["n_trials"] == 1 and "research ledger" in entry["n_trials_basis"]
    assert json.loads((run / "summary.json").read_text())["n_trials_basis"] == entry["n_trials_basis"]


def test_recorded_returns_are_the_stitched_out_of_sample_returns(tmp_path, daily):
    from reports.metrics import bar_returns

    data, rules, _ = daily
    assert _evaluate(rules[5], data, tmp_path / "a") == 0
    [stored] = Ledger(research_ledger.resolve()).trials(Ledger(research_ledger.resolve()).data_sets()[0]["data_key"])
    eq = pd.concat([pd.read_csv(tmp_path / "a" / "ACME" / f"fold_{k}" / "equity.csv") for k in range(3)])
    fold = tmp_path / "a" / "ACME"  # each fold measured from the equity it started with (carried in)
    r = np.concatenate([bar_returns(pd.read_csv(fold / f"fold_{k}" / "equity.csv")["equity"].to_numpy(),
                                    json.loads((fold / f"fold_{k}" / "result.json").read_text())["initial_equity"])
                        for k in range(3)])
    np.testing.assert_allclose(stored.returns, r, rtol=1e-12, atol=1e-15)
    assert stored.times.tolist() == pd.DatetimeIndex(pd.to_datetime(eq["timestamp"], utc=True)).as_unit("ns").asi8.tolist()
    assert stored.verdict == _summary(tmp_path / "a")["symbols"][0]["verdict"] and stored.metrics["trades"] > 0
    assert isinstance(stored, TrialRecord) and stored.kind == "evaluate" and len(stored.tests) == 3


def test_compare_four_evaluations_end_to_end(tmp_path, daily, capsys):
    data, rules, _ = daily
    runs = []
    for k in (5, 10, 20, 40):
        runs.append(tmp_path / f"mom{k}")
        assert _evaluate(rules[k], data, runs[-1]) == 0
    capsys.readouterr()
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "--out", str(out), "--bootstrap", "300"]) == 0
    text = capsys.readouterr().out
    assert "PBO" in text and "(best)" in text and "compare.html" in text
    result = json.loads((out / "compare.json").read_text())
    [sym] = result["symbols"]
    assert sym["symbol"] == "ACME" and len(sym["runs"]) == 4 and len(sym["differences"]) == 3
    assert sym["bars"] == 360 and 0.0 <= sym["pbo"]["pbo"] <= 1.0 and sym["pbo"]["n_combinations"] == 12870
    assert all(d["p_value"] is not None and 0 < d["p_value"] <= 1 for d in sym["differences"])
    best = [r for r in sym["runs"] if r["best"]]
    assert len(best) == 1 and best[0]["sharpe_common"] == max(r["sharpe_common"] for r in sym["runs"])
    page = (out / "compare.html").read_text()
    assert 'data-chart="pbo-logits"' in page and 'data-chart="equity-0"' in page
    assert (out / "assets" / "plotly.min.js").exists() and "cdn" not in page.lower()
    # the same comparison from the ledger alone (prefix of the data hash), as JSON
    key = Ledger(research_ledger.resolve()).data_sets()[0]["data_hash"][:10]
    assert main(["compare", "--ledger-data", key, "--out", str(tmp_path / "cmp2"), "--bootstrap", "300",
                 "--json"]) == 0
    from_ledger = json.loads(capsys.readouterr().out)
    assert from_ledger["source"] == "research ledger"
    assert from_ledger["symbols"][0]["pbo"]["pbo"] == sym["pbo"]["pbo"]
    assert [d["p_value"] for d in from_ledger["symbols"][0]["differences"]] == [d["p_value"] for d in sym["differences"]]


def test_compare_refuses_runs_on_different_data(tmp_path, daily, capsys):
    data, rules, bars = daily
    other = tmp_path / "other"
    other.mkdir()
    other_bars = _bars_file(other / "ACME.csv", seed=4)
    assert _evaluate(rules[5], data, tmp_path / "a") == 0
    assert _evaluate(_momentum_file(other / "mom5.csv", other_bars, 5), other / "ACME.csv", tmp_path / "b") == 0
    assert main(["evaluate", str(rules[5]), str(data), "--out", str(tmp_path / "c"), *SMALL[2:], "--folds", "2"]) == 0
    capsys.readouterr()
    for pair, why in (("b", "different data"), ("c", "test different segments")):
        assert main(["compare", str(tmp_path / "a"), str(tmp_path / pair), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err
    assert main(["compare", str(tmp_path / "a"), "--out", str(tmp_path / "x")]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "a")]) == 2
    assert "is a run directory" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_a_one_bar_change_of_segment_sizes_is_another_trial_on_the_same_data(tmp_path, daily, capsys):
    """The data key is the bars' content and the test period's time span: --test-size 121 tests
    on bars overlapping --test-size 120's, so it is the second trial, not a fresh start; more null
    draws or random-policy seeds change no return and are the same trial (same DSR, bit for bit)."""
    data, rules, _ = daily
    assert _evaluate(rules[5], data, tmp_path / "a") == 0
    assert _summary(tmp_path / "a")["n_trials"] == 1
    assert main(["evaluate", str(rules[5]), str(data), "--out", str(tmp_path / "draws"), "--folds", "3",
                 "--test-size", "120", "--null-draws", "61", "--random-seeds", "9", "-q"]) == 0
    again = _summary(tmp_path / "draws")
    assert again["n_trials"] == 1
    assert again["symbols"][0]["metrics"]["dsr"] == _summary(tmp_path / "a")["symbols"][0]["metrics"]["dsr"]
    assert main(["evaluate", str(rules[5]), str(data), "--out", str(tmp_path / "b"), "--folds", "3",
                 "--test-size", "121", "--null-draws", "40", "--random-seeds", "8", "-q"]) == 0
    assert _summary(tmp_path / "b")["n_trials"] == 2
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert len(manifest["symbols"][0]["test_span"]) == 2
    assert manifest["trial_fingerprint"] != manifest["config_fingerprint"]
    assert not _warnings(capsys.readouterr().err)


def _record(run_dir: str, fp: str, returns, start="2020-01-01", data_hash="h1") -> TrialRecord:
    times = pd.date_range(start, periods=len(returns), freq="D", tz="UTC").as_unit("ns").asi8
    return TrialRecord(symbol="X", data_hash=data_hash, tests=((0, len(returns)),), fingerprint=fp,
                       run_dir=run_dir, times=np.asarray(times, np.int64), returns=np.asarray(returns, np.float64))


def test_ledger_counts_across_upsert_forget_and_re_record(tmp_path):
    """Known answers: an upsert (same run, data and fingerprint) is one row; forgetting a run
    removes its trials and says one was forgotten; recording it again brings it back; another
    data hash or a test period that does not overlap is not the same data."""
    book = Ledger(tmp_path / "l.sqlite")
    span = (int(pd.Timestamp("2020-01-01", tz="UTC").value), int(pd.Timestamp("2020-01-10", tz="UTC").value))
    a, b = [0.01, -0.02, 0.03, 0.0, 0.01], [0.02, 0.01, -0.01, 0.02, 0.0]
    book.record([_record(str(tmp_path / "ra"), "A", a), _record(str(tmp_path / "rb"), "B", b, start="2020-01-03")])
    book.record([_record(str(tmp_path / "ra"), "A", a)])  # upsert
    book.record([_record(str(tmp_path / "rc"), "C", a, data_hash="h2"), _record(str(tmp_path / "rd"), "D", b,
                                                                                 start="2021-01-01")])
    found, gone = book.count_overlapping("h1", *span)
    assert set(found) == {"A", "B"} and gone == 0
    ra = np.asarray(a)
    assert found["A"] == pytest.approx(ra.mean() / ra.std(ddof=1))
    assert book.forget(tmp_path / "ra")[0]["fingerprint"] == "A"
    found, gone = book.count_overlapping("h1", *span)
    assert set(found) == {"B"} and gone == 1
    book.record([_record(str(tmp_path / "ra"), "A", a)])  # re-recorded: counted again, no longer forgotten
    found, gone = book.count_overlapping("h1", *span)
    assert set(found) == {"A", "B"} and gone == 0


def test_deflated_sharpe_uses_the_trials_sharpe_variance_by_hand():
    """DSR = PSR at SR0 = sqrt(V) ((1 - gamma) z(1 - 1/N) + gamma z(1 - 1/(N e))), V the variance of
    the recorded trials' per-bar Sharpe ratios (Bailey & Lopez de Prado 2014), computed by hand."""
    import math

    from scipy.stats import kurtosis, norm, skew

    from reports.metrics import deflated_sharpe

    r = np.random.default_rng(3).normal(0.001, 0.01, 500)
    srs = np.array([0.02, 0.05, -0.01, 0.08])
    v = float(np.var(srs, ddof=1))
    dsr, sr0 = deflated_sharpe(r, 4, v)
    g = 0.5772156649015329
    want0 = math.sqrt(v) * ((1 - g) * norm.ppf(1 - 1 / 4) + g * norm.ppf(1 - 1 / (4 * math.e)))
    assert sr0 == pytest.approx(want0, rel=1e-12)
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = skew(r, bias=False), kurtosis(r, fisher=False, bias=False)
    want = norm.cdf((sr - want0) * math.sqrt(499) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr))
    assert dsr == pytest.approx(want, rel=1e-12)
    own, _ = deflated_sharpe(r, 4)  # without the ledger's spread: the estimator's own variance
    assert own != pytest.approx(dsr)
