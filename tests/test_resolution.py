"""`auto` is resolved once per run (walkforward.resolution): recorded in the manifest and the
fingerprint, used by every fold and every resume, refused where this machine cannot honour it."""

from __future__ import annotations

import json

import pytest

from backtest.errors import ConfigError
from walkforward.config import RunConfig
from walkforward.orchestrator import run_fingerprint, run_resolution
from walkforward.resolution import Resolution, resolve


def _recorded(tmp_path, config: RunConfig, **change) -> Resolution:
    """Write a run directory whose manifest records a resolution (this machine's, changed)."""
    here = resolve(config)
    rec = Resolution(change.pop("device", here.device), {**here.trainer, **change}, {"cpu_native_bf16": True})
    out = tmp_path / "run"
    out.mkdir(exist_ok=True)
    (out / "manifest.json").write_text(json.dumps({"base_fingerprint": config.fingerprint(),
                                                   "resolution": rec.to_dict()}))
    return rec


def test_a_rerun_uses_the_recorded_resolution_not_this_machines(tmp_path):
    config = RunConfig(out=str(tmp_path / "run"))
    rec = _recorded(tmp_path, config, n_envs=32, hidden=[64, 32])
    got = run_resolution(config)
    assert got.trainer["n_envs"] == 32 and got.trainer["hidden"] == [64, 32]
    assert got.train_config(seed=7).n_envs == 32 and got.train_config(seed=7).seed == 7
    assert run_fingerprint(config, got) == run_fingerprint(config, rec)
    assert run_fingerprint(config, got) != run_fingerprint(config, resolve(config))  # the resolution is identity
    other = RunConfig(out=str(tmp_path / "run"), seed=5)  # another config: resolved afresh
    assert run_resolution(other).trainer["n_envs"] == resolve(other).trainer["n_envs"]


def test_a_resume_this_machine_cannot_honour_is_refused(tmp_path, monkeypatch):
    config = RunConfig(out=str(tmp_path / "run"))
    _recorded(tmp_path, config, device="cuda")
    with pytest.raises(ConfigError, match="cannot resume.*trained on CUDA and this machine has no CUDA device"):
        run_resolution(config)
    _recorded(tmp_path, config, device="cpu", amp=True)
    monkeypatch.setattr("models.config.cpu_has_native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="bf16 matmul.*this CPU has not.*start a new --out"):
        run_resolution(config)


def test_the_refusal_through_the_cli_is_one_line_and_leaves_the_run(tmp_path, capsys):
    from walkforward.cli import build_parser, main
    from walkforward.commands.run import load_config

    argv = ["run", "--out", str(tmp_path / "run")]
    _recorded(tmp_path, load_config(build_parser().parse_args(argv)), device="cuda")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot resume") and len(err.splitlines()) == 1
    assert (tmp_path / "run" / "manifest.json").exists()  # the existing run is left as it was


def test_manifest_records_the_resolution_and_folds_use_it(tmp_path):
    from walkforward.orchestrator import _pending_work, build_manifest, load_series, plan_symbols
    from walkforward.store import open_run

    config = RunConfig(out=str(tmp_path / "r"), folds=2, symbols=("SMPA",), trainer={"n_envs": 16})
    res = run_resolution(config)
    plans = plan_symbols(config, load_series(config), fingerprint=run_fingerprint(config, res))
    manifest = build_manifest(config, plans, None, fingerprint=run_fingerprint(config, res),
                              base_fingerprint=config.fingerprint(), resolution=res.to_dict())
    store = open_run(config.out, manifest)
    assert json.loads((store.root / "manifest.json").read_text())["resolution"]["trainer"]["n_envs"] == 16
    _, batches = _pending_work(config, store, plans, res, False)
    specs = [s for b in batches for s in b]
    assert len(specs) == 2 and {s.train_config.n_envs for s in specs} == {16}
    assert [s.train_config.seed for s in specs] == [0, 1]
    assert all(s.world["resolution"] == res.to_dict() and s.world["account"]["max_position"] == 0.2 for s in specs)


def test_the_cpu_mode_discounts_less_on_intraday_bars_unless_the_trainer_table_says(tmp_path):
    """Mode cpu trains a 15-minute symbol with gamma 0.9 and a daily one with 0.5 (BENCHMARKS.md,
    issue 24); a [trainer] gamma wins on both; the manifest records the intraday settings."""
    from benchmarks.learning_worlds import make_world
    from walkforward.orchestrator import _pending_work, build_manifest, load_series, plan_symbols
    from walkforward.store import open_run

    daily = make_world("lag1_daily_030", 0)
    assert daily.timeframe.days == 1

    def gammas(config) -> dict:
        res = run_resolution(config)
        series = [*load_series(config), daily]
        plans = plan_symbols(config, series, fingerprint=run_fingerprint(config, res))
        manifest = build_manifest(config, plans, None, fingerprint=run_fingerprint(config, res),
                                  base_fingerprint=config.fingerprint(), resolution=res.to_dict())
        _, batches = _pending_work(config, open_run(config.out, manifest), plans, res, False)
        return {s.symbol: s.train_config.gamma for b in batches for s in b}

    config = RunConfig(out=str(tmp_path / "cpu"), mode="cpu", folds=2, symbols=("SMPA",))
    assert gammas(config) == {"SMPA": 0.9, daily.symbol: 0.5}
    manifest = json.loads((tmp_path / "cpu" / "manifest.json").read_text())
    assert manifest["resolution"]["intraday"] == {"gamma": 0.9}
    assert Resolution.from_dict(manifest["resolution"]).train_config(seed=3, intraday=True).gamma == 0.9
    told = RunConfig(out=str(tmp_path / "told"), mode="cpu", folds=2, symbols=("SMPA",),
                     trainer={"gamma": 0.7})
    assert gammas(told) == {"SMPA": 0.7, daily.symbol: 0.7}
    smoke = RunConfig(out=str(tmp_path / "smoke"), folds=2, symbols=("SMPA",))
    assert gammas(smoke) == {"SMPA": 0.99, daily.symbol: 0.99}  # other modes keep one discount


def test_a_resolution_recorded_before_the_intraday_settings_keeps_its_fingerprint():
    """Runs made before `Resolution.intraday` existed resume with one discount and the same identity."""
    old = {"device": "cpu", "trainer": {"gamma": 0.5}, "machine": {}}
    rec = Resolution.from_dict(old)
    assert rec.intraday == {} and rec.identity() == {"device": "cpu", "trainer": {"gamma": 0.5}}
    assert rec.to_dict() == old
    with pytest.raises(ConfigError, match="malformed"):
        Resolution.from_dict({**old, "intraday": [0.9]})
