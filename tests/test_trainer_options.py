"""Trainer options of issue 24 session 2: weight decay (AdamW), an entropy schedule, early
stopping on validation, augmented paths; each changes what it says and nothing when off."""

from __future__ import annotations

import pytest
import torch

from backtest.errors import ConfigError
from models.config import TrainConfig, mode_config
from models.ppo import PPOTrainer
from toy_env import ToyEnv, small_config, one_torch_thread  # noqa: F401 (autouse fixture)


def _params(trainer):
    return [p.detach().clone() for p in trainer.net.parameters()]


def test_weight_decay_switches_to_adamw_and_shrinks_the_weights():
    env = ToyEnv(seed=3)
    plain = PPOTrainer(env, env.schema, small_config(), verbose=0)
    assert type(plain.actor_opt) is torch.optim.Adam
    decayed = PPOTrainer(ToyEnv(seed=3), env.schema, small_config(weight_decay=0.5), verbose=0)
    assert type(decayed.actor_opt) is torch.optim.AdamW and type(decayed.critic_opt) is torch.optim.AdamW
    assert all(g["weight_decay"] == 0.5 for g in decayed.actor_opt.param_groups + decayed.critic_opt.param_groups)
    plain.train()
    decayed.train()
    norm = lambda t: sum(float(p.detach().pow(2).sum()) for n, p in t.net.named_parameters() if n.endswith("weight"))  # noqa: E731
    assert norm(decayed) < norm(plain)


def test_entropy_weight_is_constant_or_linear_to_its_final_value():
    cfg = small_config(total_steps=64 * 16 * 5, ent_coef=0.04)
    assert [cfg.ent_coef_at(u) for u in range(cfg.n_updates)] == [0.04] * 5
    cfg = small_config(total_steps=64 * 16 * 5, ent_coef=0.04, ent_coef_final=0.0)
    assert [round(cfg.ent_coef_at(u), 12) for u in range(5)] == [0.04, 0.03, 0.02, 0.01, 0.0]


def test_entropy_schedule_changes_training_only_when_it_moves_the_weight():
    runs = []
    for final in (None, 0.01, 0.5):
        env = ToyEnv(seed=5)
        t = PPOTrainer(env, env.schema, small_config(ent_coef=0.01, ent_coef_final=final), verbose=0)
        t.train()
        runs.append(_params(t))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))  # a final equal to the start: constant
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], runs[2]))


def test_early_stop_ends_training_after_k_validations_without_a_new_best():
    scores = iter([0.05, 0.01, 0.9, 0.02, 0.9, 0.3, 0.3, 0.3, 0.3, 0.3])  # a tie is no new best
    env = ToyEnv(seed=1)
    cfg = small_config(total_steps=64 * 16 * 10, validation_interval=1, early_stop=2)
    trainer = PPOTrainer(env, env.schema, cfg, verbose=0,
                         validate=lambda pol: {"net_return": next(scores), "trades": 10, "pf": 1.0})
    result = trainer.train()
    # update 1 best, 2 not, 3 a new best (the count starts again), 4 and 5 not: stop after 5
    assert result.updates == 5 and len(result.validation_history) == 5
    assert result.best_validation["update"] == 3 and trainer.stopped_early()
    assert trainer.train().updates == 5  # a second call (or a resume) stays stopped
    off = PPOTrainer(ToyEnv(seed=1), env.schema, small_config(total_steps=64 * 16 * 10, validation_interval=1),
                     verbose=0, validate=lambda pol: {"net_return": 0.0, "trades": 10, "pf": 1.0})
    assert off.train().updates == 10


@pytest.mark.parametrize("kw, match", [
    (dict(weight_decay=-0.1), "weight_decay=-0.1 must be >= 0"),
    (dict(ent_coef_final=-1.0), "ent_coef_final=-1.0 must be >= 0"),
    (dict(early_stop=-1), "early_stop=-1 must be a non-negative integer"),
    (dict(augment_paths=5), "augment_paths=5 needs n_envs=64 divisible by augment_paths \\+ 1 = 6"),
    (dict(augment_block=0.5), "augment_block=0.5 must be >= 1"),
])
def test_bad_values_are_refused_with_the_parameter_and_the_fix(kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw)


def test_options_round_trip_through_the_checkpoint_dict():
    cfg = mode_config("cpu", weight_decay=0.1, ent_coef_final=0.0, early_stop=3, augment_paths=3, augment_block=5.0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("weight_decay", "ent_coef_final", "early_stop",
                                                                "augment_paths", "augment_block")}
    assert TrainConfig.from_dict(old).augment_paths == 0  # a checkpoint written before the options loads


@pytest.mark.slow
def test_walkforward_run_takes_the_options_from_the_config_file(tmp_path):
    """`[trainer]` keys reach every fold's trainer through the CLI; a bad one is one line on
    stderr, exit 2, nothing written."""
    from models.checkpoint import load_checkpoint
    from tests.run_helpers import TINY, run_cli

    cfg = tmp_path / "run.toml"
    cfg.write_text("[trainer]\naugment_paths = 1\naugment_block = 5.0\nweight_decay = 0.1\n"
                   "ent_coef_final = 0.0\nearly_stop = 2\n", encoding="utf-8")
    proc = run_cli(["run", "--out", "run", *TINY, "--config", str(cfg), "-q", "--no-ledger"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    ck = load_checkpoint(tmp_path / "run" / "SMPA" / "fold_0" / "checkpoint.pt")
    got = ck["config"]
    assert (got["augment_paths"], got["augment_block"], got["weight_decay"], got["ent_coef_final"],
            got["early_stop"]) == (1, 5.0, 0.1, 0.0, 2)
    cfg.write_text("[trainer]\naugment_paths = 5\n", encoding="utf-8")
    bad = run_cli(["run", "--out", "bad", *TINY, "--config", str(cfg), "-q", "--no-ledger"], tmp_path)
    assert bad.returncode == 2 and "augment_paths=5 needs n_envs=64 divisible" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
