"""Checkpoints carry the world they were trained in (DESIGN 3.6): a fold trained with a
non-default account, costs, PDT mode and reward, backtested from its checkpoint outside the
run through the CLI, reproduces the fold's trades.csv and equity.csv byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.run_helpers import run_cli
from walkforward.cli import main

WORLD_TOML = """\
pdt = "on"
seed = 3
[account]
max_position = 0.10
initial_equity = 5000
[friction.spread]
spread = 0.001
[friction.commission]
per_notional = 0.001
min_per_order = 0.25
max_per_order = 0.3
[reward]
preset = "seeds"
direction = 0.30
pnl = 0.30
"""
FLAGS = ["--symbols", "SMPA", "--folds", "2", "--steps", "2048", "--random-seeds", "5", "--null-draws", "20"]


@pytest.fixture(scope="module")
def world_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("world")
    (cwd / "world.toml").write_text(WORLD_TOML)
    proc = run_cli(["run", "--config", "world.toml", "--out", "run", *FLAGS, "-q"], cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, cwd / "run"


def _segment(run, k):
    return json.loads((run / "SMPA" / f"fold_{k}" / "result.json").read_text())["segments"]["test"]


def test_backtest_of_a_checkpoint_reproduces_its_fold_byte_for_byte(world_run, capsys):
    cwd, run = world_run
    for k in (0, 1):
        a, b = _segment(run, k)
        out = cwd / f"bt{k}"
        ckpt = run / "SMPA" / f"fold_{k}" / "checkpoint.pt"
        assert main(["backtest", str(ckpt), "--sample", "--start", str(a), "--stop", str(b), "--out", str(out)]) == 0
        assert "settings that differ from the checkpoint's: none" in capsys.readouterr().out
        for name in ("trades.csv", "equity.csv"):
            assert (out / "SMPA" / name).read_bytes() == (run / "SMPA" / f"fold_{k}" / name).read_bytes(), (k, name)


def test_flags_and_config_override_the_world_and_say_so(world_run, capsys, tmp_path):
    cwd, run = world_run
    a, b = _segment(run, 0)
    ckpt = run / "SMPA" / "fold_0" / "checkpoint.pt"
    other = tmp_path / "other.toml"
    other.write_text("[account]\nmax_position = 0.2\n")
    out = tmp_path / "o"
    assert main(["backtest", str(ckpt), "--sample", "--start", str(a), "--stop", str(b), "--seed", "1",
                 "--config", str(other), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SMPA: account.max_position: checkpoint 0.1 -> 0.2 (--config)" in printed
    assert "SMPA: seed: checkpoint 3 -> 1 (--seed)" in printed
    assert (out / "SMPA" / "equity.csv").read_bytes() != (run / "SMPA" / "fold_0" / "equity.csv").read_bytes()
    bad = tmp_path / "bad.toml"
    bad.write_text("[friction.spread]\nsprd = 0.001\n")
    assert main(["backtest", str(ckpt), "--sample", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "unknown key 'friction.spread.sprd'" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_inspect_shows_the_world(world_run, capsys):
    _, run = world_run
    assert main(["inspect", str(run / "SMPA" / "fold_0" / "checkpoint.pt")]) == 0
    text = capsys.readouterr().out
    assert "PDT on, slippage seed 3" in text and "max_position=0.1" in text and "initial_equity=5000" in text
    assert "spread: spread=0.001" in text and "direction=0.3" in text and "resolved     device cpu" in text
    assert "reward       custom: direction=0.3" in text  # the seeds preset with two weights changed
    assert main(["inspect", str(run / "SMPA" / "fold_0" / "checkpoint.pt"), "--json"]) == 0
    world = json.loads(capsys.readouterr().out)["world"]
    assert world["account"]["max_position"] == 0.1 and world["reward"]["pnl"] == 0.3 and world["pdt"] == "on"
    com = world["friction"]["commission"]
    assert (com["per_notional"], com["min_per_order"], com["max_per_order"], com["max_per_notional"]) == \
        (0.001, 0.25, 0.3, 0.0)
    assert world["resolution"]["trainer"]["n_envs"] == 64


def test_a_checkpoint_without_a_world_loads_with_a_warning(tmp_path, world_run, capsys):
    import torch

    from models.checkpoint import load_checkpoint

    _, run = world_run
    data = load_checkpoint(run / "SMPA" / "fold_0" / "checkpoint.pt")
    old = {k: v for k, v in data.items() if k != "world"}
    old["format_version"] = 1
    torch.save(old, tmp_path / "v1.pt")
    assert main(["backtest", str(tmp_path / "v1.pt"), "--sample", "--start", "3000", "--stop", "3100"]) == 0
    out, err = capsys.readouterr()
    assert "defaults assumed" in out
    assert err.count("records no account, costs or PDT mode") == 1 and err.startswith("warning: ")


def test_the_commission_limits_travel_and_an_old_world_without_them_has_none(world_run, capsys, tmp_path):
    """The fold's trades paid the world's clipped commission (0.1% of notional, at least 0.25, at
    most 0.30: orders under 250 pay the minimum, over 300 the maximum); a world written before
    the limits existed loads with none, and its backtest pays the plain 0.1%."""
    import pandas as pd
    import torch

    from models.checkpoint import load_checkpoint

    cwd, run = world_run
    fold = run / "SMPA" / "fold_0"
    fold_trades = pd.read_csv(fold / "trades.csv")
    notional = fold_trades["quantity"].abs() * (fold_trades["entry_price"] + fold_trades["exit_price"])
    # each trade's exit fill alone paid at least the 0.25 minimum; none paid the plain 0.1%
    assert len(fold_trades) > 0 and (fold_trades["commission"] >= 0.25).all()
    assert not np.allclose(fold_trades["commission"], 0.001 * notional, rtol=1e-9)
    data = load_checkpoint(fold / "checkpoint.pt")
    for key in ("min_per_order", "max_per_order", "max_per_notional"):
        del data["world"]["friction"]["commission"][key]
    torch.save(data, tmp_path / "old_world.pt")
    a, b = _segment(run, 0)
    out = tmp_path / "bt"
    assert main(["backtest", str(tmp_path / "old_world.pt"), "--sample", "--start", str(a), "--stop", str(b),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    trades = pd.read_csv(out / "SMPA" / "trades.csv")
    notional = trades["quantity"].abs() * (trades["entry_price"] + trades["exit_price"])
    assert len(trades) > 0
    assert trades["commission"].to_numpy() == pytest.approx(0.001 * notional.to_numpy(), rel=1e-9)


def test_a_checkpoint_on_crypto_data_keeps_its_account_and_takes_crypto_costs(world_run, capsys, tmp_path):
    """The world's account (5000 initial equity, 10% position cap), PDT mode and seed travel to
    DATA of another class; its equity costs do not: the trades pay crypto's 0.25% commission on
    notional (per_notional of the crypto defaults), and the printout says so."""
    import pandas as pd

    from backtest.sample_data import generate_crypto_bars

    _, run = world_run
    bars = generate_crypto_bars("BTCX", "2023-01-01", "2023-03-15", timeframe="15min", seed=2)
    bars.frame[["open", "high", "low", "close", "volume"]].reset_index().to_csv(tmp_path / "BTCX.csv", index=False)
    out = tmp_path / "bt"
    ckpt = run / "SMPA" / "fold_0" / "checkpoint.pt"
    assert main(["backtest", str(ckpt), str(tmp_path / "BTCX.csv"), "--asset-class", "crypto",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("BTCX: costs: the checkpoint trained on equity bars and DATA is crypto: the crypto defaults are used"
            in printed)
    trades = pd.read_csv(out / "BTCX" / "trades.csv")
    equity = pd.read_csv(out / "BTCX" / "equity.csv")
    assert len(trades) > 0
    notional = trades["quantity"].abs() * (trades["entry_price"] + trades["exit_price"])
    assert trades["commission"].to_numpy() == pytest.approx(0.0025 * notional.to_numpy(), rel=1e-9)
    first = equity.iloc[0]
    assert first["equity"] == pytest.approx(5000.0, rel=0.01)  # the world's account, not the default 1000
    assert (equity["position"].abs() * equity["close"] <= 0.1 * equity["equity"] * 1.05).all()
