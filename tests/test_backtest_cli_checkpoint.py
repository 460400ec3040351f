"""`walkforward backtest CHECKPOINT DATA`: load (weights_only), rebuild features with the
checkpoint's schema and normaliser, run the fast runner, print a summary, write CSVs with --out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from backtest.config_codec import to_plain
from backtest.data import load_bars
from backtest.features import compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from models.fast_runner import run_policy
from backtest.sample_data import generate_equity_bars
from backtest.simulator import SimConfig
from backtest.trades import EQUITY_CSV_COLUMNS, TRADES_CSV_COLUMNS
from models.checkpoint import save_checkpoint
from models.config import TrainConfig
from models.network import ActorCritic, SimpleSchema
from models.policy import load_policy
from toy_env import one_torch_thread  # noqa: F401 (autouse fixture)
from walkforward.cli import main

ACTIONS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_ckpt")
    bars = generate_equity_bars("SMPA", "2022-01-03", "2022-02-10", seed=7)
    data = root / "SMPA.csv"
    bars.frame[["open", "high", "low", "close", "volume"]].rename_axis("date").to_csv(data)
    schema = default_schema()
    feats = compute_features(bars, schema)
    torch.manual_seed(0)
    net = ActorCritic(schema, len(ACTIONS), (16, 8))
    with torch.no_grad():  # an untrained net that trades
        net.actor_body[-1].weight.mul_(300.0)
    default = SimConfig()  # the world it "trained" in: the default account and equity costs
    world = {"account": to_plain(default.account), "friction": to_plain(default.friction_for("equity")),
             "pdt": default.pdt, "seed": default.seed, "asset_class": "equity"}
    ckpt = save_checkpoint(root / "model.pt", network=net, config=TrainConfig(hidden=(16, 8)), schema=schema,
                           action_meanings=ACTIONS, normaliser=Normaliser.fit(feats, 0, 300), fold_id=2, world=world)
    return root, data, ckpt


def _direct(data, ckpt, start=None, stop=None):
    """What the CLI should produce: the runner on the same loaded bars."""
    bars = load_bars(str(data))[0]
    policy = load_policy(ckpt)
    builder = BacktestObservationBuilder(compute_features(bars, policy.schema), policy.schema, policy.normaliser,
                                         SimConfig().account)
    start = policy.schema.warmup_bars if start is None else start
    return bars, run_policy(policy, builder, bars, SimConfig(), start, len(bars) if stop is None else stop)


def test_checkpoint_backtest_writes_what_the_runner_gives(files, tmp_path, capsys):
    root, data, ckpt = files
    out = tmp_path / "out"
    assert main(["backtest", str(ckpt), str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SMPA" in printed and "actions" in printed and "fold 2" in printed
    trades = pd.read_csv(out / "SMPA" / "trades.csv")
    equity = pd.read_csv(out / "SMPA" / "equity.csv")
    assert tuple(trades.columns) == TRADES_CSV_COLUMNS and tuple(equity.columns) == EQUITY_CSV_COLUMNS
    bars, run = _direct(data, ckpt)
    assert len(equity) == len(bars) - default_schema().warmup_bars
    np.testing.assert_array_equal(equity["action"].to_numpy(), run.actions)  # action ids, HOLD = 0
    np.testing.assert_allclose(equity["equity"].to_numpy(), run.sim.equity, rtol=1e-12)
    assert len(trades) == len(run.sim.trades) > 0
    assert equity["position"].iloc[-1] == 0.0  # closed at the end
    assert pd.Timestamp(equity["timestamp"].iloc[0]) == bars.index[default_schema().warmup_bars]


def test_segment_by_dates_and_no_files_without_out(files, tmp_path, monkeypatch, capsys):
    root, data, ckpt = files
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", str(ckpt), str(data), "--start", "2022-01-25", "--stop", "2022-02-01"]) == 0
    assert not any(tmp_path.iterdir())  # printed only
    printed = capsys.readouterr().out
    bars = load_bars(str(data))[0]
    a = int(bars.index.searchsorted(pd.Timestamp("2022-01-25", tz="UTC")))
    b = int(bars.index.searchsorted(pd.Timestamp("2022-02-01", tz="UTC")))
    assert f"bars {a}..{b - 1}" in printed
    _, run = _direct(data, ckpt, a, b)
    assert f"{len(run.sim.trades):>7}" in printed


def test_bad_segment_and_foreign_schema_exit_2_without_output(files, tmp_path, capsys):
    root, data, ckpt = files
    out = tmp_path / "out"
    assert main(["backtest", str(ckpt), str(data), "--start", "10", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "warm-up" in err and err.count("\n") == 1 and "Traceback" not in err
    assert captured.out == ""  # refused before the summary header
    assert not out.exists()
    toy = SimpleSchema(4, 3, 5)
    net = ActorCritic(toy, len(ACTIONS), (8, 8))
    path = save_checkpoint(tmp_path / "toy.pt", network=net, config=TrainConfig(hidden=(8, 8)), schema=toy,
                           action_meanings=ACTIONS)
    assert main(["backtest", str(path), str(data), "--out", str(out)]) == 2
    assert "FeatureSchema" in capsys.readouterr().err
    assert main(["backtest", "--baseline", "flat", str(data), "--start", "5"]) == 2
    assert not out.exists()
