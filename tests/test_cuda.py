"""The CUDA training path (``pytest -m cuda``; skipped without a CUDA device): PPO with AMP bf16
on and off and with torch.compile on and off trains, stays finite, and the policy it saves backtests
to the same actions on the GPU as on the CPU. The env's torch account step against the simulator
on CUDA is in tests/test_env_parity.py and tests/test_simulator_torch_parity.py (their cuda
parameters); `python -m benchmarks.gpu_check` runs all of them with the GPU figures."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _env(device, n_envs=256):
    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from backtest.sample_data import sample_bars
    from models.env import TradingEnv

    bars = sample_bars(seed=0, symbols=("SMPA",))[0]
    schema = default_schema()
    feats = compute_features(bars, schema)
    norm = Normaliser.fit(feats, 0, 3000)
    return TradingEnv(norm.transform(feats), bars, schema, n_envs=n_envs, episode_len=64,
                      train_range=(0, 3000), device=device, seed=0), bars, schema, norm


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("compile_", [False, True], ids=["eager", "compiled"])
def test_ppo_trains_on_cuda_with_and_without_amp_and_compile(amp, compile_, tmp_path):
    from models.config import mode_config
    from models.ppo import PPOTrainer

    env, *_ = _env("cuda")
    cfg = mode_config("smoke", n_envs=256, n_steps=32, minibatch_size=2048, total_steps=256 * 32 * 3, amp=amp,
                      compile=compile_, seed=3)
    trainer = PPOTrainer(env, env.schema, cfg, device="cuda", verbose=0, run_dir=tmp_path)
    result = trainer.train(resume=False)
    assert result.updates == 3 and all(math.isfinite(h["pg_loss"]) and math.isfinite(h["v_loss"])
                                      for h in result.history)
    assert trainer.amp == (amp and torch.cuda.is_bf16_supported())
    assert next(trainer.net.parameters()).dtype == torch.float32  # master weights stay float32


def test_a_cuda_trained_policy_backtests_the_same_on_gpu_and_cpu(tmp_path):
    """The backtest runs the policy in float32: the saved checkpoint decides the same on both."""
    from backtest.observation import BacktestObservationBuilder
    from models.fast_runner import run_policy
    from backtest.simulator import SimConfig
    from models.config import mode_config
    from models.policy import load_policy
    from models.ppo import PPOTrainer

    env, bars, schema, norm = _env("cuda")
    cfg = mode_config("smoke", n_envs=256, n_steps=32, minibatch_size=2048, total_steps=256 * 32 * 2, amp=True,
                      seed=4)
    trainer = PPOTrainer(env, schema, cfg, device="cuda", verbose=0, run_dir=tmp_path, normaliser=norm,
                         action_meanings=env.action_meanings)
    trainer.train(resume=False)
    path = trainer.save(tmp_path / "p.pt")
    from backtest.features import compute_features

    builder = BacktestObservationBuilder(compute_features(bars, schema), schema, norm, SimConfig().account)
    runs = [run_policy(load_policy(path, device=d), builder, bars, SimConfig(), 3000, 3400) for d in ("cpu", "cuda")]
    agree = (runs[0].actions == runs[1].actions).mean()
    assert agree >= 0.99, agree  # float32 on both; a few near ties may fall the other way
    assert dataclasses.asdict(cfg)["amp"] is True
