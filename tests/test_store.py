"""RunStore: atomic writes, manifest and resume rules, fold markers, safe symbol names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtest.errors import ConfigError
from walkforward.config import RunConfig
from walkforward.folds import WalkForwardSplit
from walkforward.store import (
    MANIFEST,
    RunStore,
    data_hash,
    discard_on_error,
    fold_input_hash,
    make_manifest,
    open_run,
    package_versions,
    safe_name,
)
from backtest.result_files import write_bytes


def _frame(n=50, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-02 14:30", periods=n, freq="15min", tz="UTC", name="timestamp")
    close = 100 + np.cumsum(rng.normal(size=n))
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": rng.uniform(1, 2, n)},
        index=idx,
    )


def _manifest(seed=0, data_seed=0):
    return make_manifest(RunConfig(seed=seed), {"AAPL": data_hash(_frame(seed=data_seed))})


def _no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_atomic_writes_round_trip_and_leave_no_temp_files(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write_json("a/b.json", {"x": np.float64(1.5), "n": np.int64(3), "arr": np.arange(3), "inf": float("inf")})
    store.write_text("log.txt", "héllo\n")
    store.write_bytes("blob.bin", b"\x00\x01")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    store.write_csv("t.csv", frame)
    assert store.read_json("a/b.json") == {"x": 1.5, "n": 3, "arr": [0, 1, 2], "inf": float("inf")}
    raw = json.loads((store.root / "a/b.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    assert raw["inf"] == "inf"  # strict JSON, as reports read it
    assert (store.root / "log.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (store.root / "blob.bin").read_bytes() == b"\x00\x01"
    assert pd.read_csv(store.root / "t.csv").equals(frame)
    store.write_text("log.txt", "second\n")  # replace in place
    assert (store.root / "log.txt").read_text() == "second\n"
    assert _no_temp_files(store.root)


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path):
    store = RunStore(tmp_path)
    store.write_json("r.json", {"v": 1})
    with pytest.raises(TypeError):
        store.write_json("r.json", {"v": object()})  # fails while serialising: nothing written
    with pytest.raises(TypeError):
        write_bytes(tmp_path / "r.json", "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert store.read_json("r.json") == {"v": 1}
    assert _no_temp_files(tmp_path)


def test_atomic_file_for_path_writers(tmp_path):
    store = RunStore(tmp_path)
    with store.atomic_file("f/checkpoint.pt") as tmp:
        assert tmp.parent == tmp_path / "f" and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"v1")
    assert (tmp_path / "f/checkpoint.pt").read_bytes() == b"v1"
    assert (tmp_path / "f/checkpoint.pt").stat().st_mode & 0o777 == 0o644
    with pytest.raises(RuntimeError):
        with store.atomic_file("f/checkpoint.pt") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash while saving")
    assert (tmp_path / "f/checkpoint.pt").read_bytes() == b"v1"
    assert _no_temp_files(tmp_path)


def test_paths_cannot_escape_the_run(tmp_path):
    store = RunStore(tmp_path / "run")
    for bad in ("../x.json", "/etc/passwd", "a/../../x"):
        with pytest.raises(ConfigError, match="escapes the run directory"):
            store.write_text(bad, "x")
    assert not (tmp_path / "x.json").exists()


def _record(**fields) -> dict:
    """The smallest valid fold record (`backtest.result_files.FoldRecord`)."""
    return {"test_start": "2024-01-02T14:30:00+00:00", "test_end": "2024-01-05T20:45:00+00:00", **fields}


def test_the_fold_record_is_typed_at_the_writer(tmp_path):
    store = RunStore(tmp_path / "run")
    with pytest.raises(TypeError, match="pf"):
        store.mark_fold_complete("AAPL", 0, "h", _record(pf=1.0))  # not a field of result.json
    assert not (tmp_path / "run" / "AAPL" / "fold_0" / "result.json").exists()
    store.mark_fold_complete("AAPL", 0, "h", _record())
    written = store.fold_result("AAPL", 0)
    assert written["format_version"] == 2 and written["baselines"] == {} and written["training_log"] == []


@pytest.mark.parametrize(
    "name",
    ["../../x", "..", ".", "", "<script>alert(1)</script>", "BTC/USD", "a\\b", "x\x00y\n", "ÄPFEL", "日本株",
     "CON", "nul.txt", "A" * 300, ".hidden"],
)
def test_sanitised_names_stay_inside_run(tmp_path, name):
    store = RunStore(tmp_path / "run")
    safe = safe_name(name)
    assert safe and len(safe) <= 64 and safe not in (".", "..") and not safe.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in safe)
    assert safe != name  # every one of these had to change, so it carries the hash suffix
    store.mark_fold_complete(name, 0, "h", _record(test={"pf": 1.0}))
    marker = store.fold_dir(name, 0) / "result.json"
    assert marker.is_file() and store.root in marker.resolve().parents
    assert store.read_json(marker.relative_to(store.root))["symbol"] == name  # the real name stays in JSON
    assert store.completed_folds() == {name: {0: store.fold_result(name, 0)}}
    assert [p for p in tmp_path.iterdir()] == [store.root]


def test_safe_names_keep_plain_symbols_and_never_collide():
    assert safe_name("AAPL") == "AAPL" and safe_name("BRK.B") == "BRK.B" and safe_name("EUR_USD") == "EUR_USD"
    names = ["BTC/USD", "BTC_USD", "BTC\\USD", "BTC:USD", "btc/usd", "../BTC_USD", "BTC USD"]
    assert len({safe_name(n) for n in names}) == len(names)


@given(st.text(max_size=200))
def test_safe_name_property(name):
    safe = safe_name(name)
    assert 0 < len(safe) <= 64 and not safe.startswith(".")
    assert "/" not in safe and "\\" not in safe and safe not in (".", "..")
    assert all(32 < ord(c) < 127 for c in safe)
    assert safe == safe_name(name)  # deterministic


def test_data_hash_depends_on_numbers_and_index_only():
    f = _frame()
    assert data_hash(f) == data_hash(f.copy()) == data_hash(f[["close", "volume", "open", "high", "low"]])
    g = f.copy()
    g.iloc[10, g.columns.get_loc("close")] += 1e-9
    assert data_hash(g) != data_hash(f)
    h = f.copy()
    h.index = h.index + pd.Timedelta("1min")
    assert data_hash(h) != data_hash(f)


def test_manifest_contents():
    m = _manifest()
    assert m["config_fingerprint"] == RunConfig().fingerprint()
    assert m["config"]["mode"] == "smoke" and list(m["data_hashes"]) == ["AAPL"]
    assert m["seed"] == 0 and m["verdict_thresholds"]["deploy_pf"] == 1.4 and "created" in m
    extra = make_manifest(RunConfig(), {}, symbols=[{"symbol": "A/B", "dir": safe_name("A/B")}], initial_equity=1000.0)
    assert extra["symbols"][0]["dir"] == safe_name("A/B") and extra["initial_equity"] == 1000.0
    versions = package_versions()
    assert set(versions) == {"python", "rl-walkforward", "numpy", "pandas", "torch", "numba", "scipy",
                             "exchange-calendars"}
    assert versions["rl-walkforward"] is not None  # this package's own version is recorded too
    assert versions["numpy"] == np.__version__
    json.dumps(m)  # JSON-able


def test_reports_read_what_the_store_writes(tmp_path):
    summary = pytest.importorskip("reports.summary")
    store = RunStore(tmp_path)
    store.write_json("x.json", {"pf": float("inf"), "skew": float("nan"), "n": 2})
    assert summary.read_json(tmp_path / "x.json") == {"pf": float("inf"), "skew": None, "n": 2}


def test_open_run_new_resume_mismatch_force(tmp_path):
    out = tmp_path / "run"
    store = open_run(out, _manifest())
    assert not store.resumed and (out / MANIFEST).is_file()
    store.write_text("AAPL/fold_0/trades.csv", "x\n")
    store.mark_fold_complete("AAPL", 0, "hash0", _record(test={"pf": 2.0}))

    again = open_run(out, _manifest())  # same config and data: resume
    assert again.resumed and again.completed_folds()["AAPL"][0]["test"]["pf"] == 2.0

    with pytest.raises(ConfigError, match=r"different config \(seed 0 -> 1\); use --force .* or a new --out"):
        open_run(out, _manifest(seed=1))
    with pytest.raises(ConfigError, match="different data"):
        open_run(out, _manifest(data_seed=1))
    assert (out / "AAPL/fold_0/result.json").exists()  # refusal touched nothing

    forced = open_run(out, _manifest(seed=1), force=True)
    assert not forced.resumed and forced.completed_folds() == {}
    assert not (out / "AAPL").exists()
    assert forced.read_manifest()["config"]["seed"] == 1


def test_open_run_refuses_non_run_directories(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a run directory"):
        open_run(tmp_path, _manifest(), force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        open_run(tmp_path / "file", _manifest())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not open_run(empty, _manifest()).resumed


def test_fold_marker_and_input_hash(tmp_path):
    store = open_run(tmp_path / "run", _manifest())
    folds = WalkForwardSplit(n_folds=2, window=5).folds(500)
    fp, dh = RunConfig().fingerprint(), data_hash(_frame())
    h0 = fold_input_hash(fp, dh, folds[0])
    assert h0 == fold_input_hash(fp, dh, folds[0].to_dict())
    assert h0 != fold_input_hash(fp, dh, folds[1]) != fold_input_hash("x", dh, folds[1])
    assert h0 != fold_input_hash(fp, dh, folds[0], previous="abc")

    assert not store.is_fold_complete("AAPL", 0, h0)
    store.write_text("AAPL/fold_0/equity.csv", "partial")  # an interrupted fold: no marker yet
    assert not store.is_fold_complete("AAPL", 0, h0) and store.completed_folds() == {}
    store.mark_fold_complete("AAPL", 0, h0, _record(test={"net_return": 0.0125}))
    assert store.is_fold_complete("AAPL", 0, h0)
    assert not store.is_fold_complete("AAPL", 0, fold_input_hash(fp, dh, folds[1]))  # inputs changed: rerun
    assert store.fold_result("AAPL", 0)["test"]["net_return"] == 0.0125
    # a marker copied into another fold's directory does not count for it
    stray = store.fold_dir("AAPL", 1) / "result.json"
    stray.parent.mkdir(parents=True)
    stray.write_bytes((store.fold_dir("AAPL", 0) / "result.json").read_bytes())
    assert list(store.completed_folds()["AAPL"]) == [0] and store.fold_result("AAPL", 1) is None
    (store.fold_dir("AAPL", 0) / "result.json").write_text("{truncated")
    assert store.fold_result("AAPL", 0) is None  # unreadable marker = not complete


def test_discard_on_error_removes_new_dir_only(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError):
        with discard_on_error(out):
            open_run(out, _manifest())
            raise ConfigError("bad input")
    assert not out.exists()

    existing = tmp_path / "old"
    open_run(existing, _manifest())
    with pytest.raises(ValueError):
        with discard_on_error(existing):
            raise ValueError("x")
    assert (existing / MANIFEST).exists()

    kept = tmp_path / "kept"
    with pytest.raises(RuntimeError):
        with discard_on_error(kept):
            s = open_run(kept, _manifest())
            s.mark_fold_complete("AAPL", 0, "h", _record())
            raise RuntimeError("later failure")
    assert (kept / "AAPL" / "fold_0" / "result.json").exists()  # work done is kept (resumable)

    with discard_on_error(tmp_path / "fine"):
        open_run(tmp_path / "fine", _manifest())
    assert (tmp_path / "fine" / MANIFEST).exists()
    assert os.listdir(tmp_path / "fine") == [MANIFEST]
