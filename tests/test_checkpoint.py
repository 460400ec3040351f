"""Checkpoints: round trip, data-only loading (malicious pickles refused), resume, interrupts."""

import os
import pickle
import signal
import threading

import pytest
import torch
from hypothesis import given, settings, strategies as st

from backtest.errors import CheckpointError, SchemaMismatchError
from models.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from models.ppo import LAST_NAME, PPOTrainer
from models.policy import load_policy
from toy_env import ACTIONS3, ToyEnv, small_config, one_torch_thread  # noqa: F401 (autouse fixture)


def _trainer(run_dir=None, **cfg):
    env = ToyEnv(n_envs=64, seed=0)
    return PPOTrainer(env, env.schema, small_config(**cfg), run_dir=run_dir, action_meanings=ACTIONS3, verbose=0,
                      fold_id=3, data_hash="abc123"), env


def test_round_trip_gives_identical_actions_and_metadata(tmp_path):
    trainer, env = _trainer()
    trainer.train()
    path = trainer.save(tmp_path / "ck.pt")
    policy = load_policy(path)
    obs = env.reset()
    assert torch.equal(policy(obs), trainer.policy()(obs))
    data = load_checkpoint(path)
    assert data["format_version"] == FORMAT_VERSION
    assert data["fold_id"] == 3 and data["data_hash"] == "abc123"
    assert data["action_meanings"] == ACTIONS3
    assert data["global_step"] == trainer.global_step == small_config().steps_effective
    assert data["config"]["hidden"] == [32, 16]
    assert {"torch", "numpy", "python"} <= set(data["versions"])
    assert set(data["optimizers"]) == {"actor", "critic"}


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    trainer, _ = _trainer()
    trainer.save(tmp_path / "a.pt")
    trainer.save(tmp_path / "a.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


class _Payload:
    """Unpickling this would create a marker file (stands in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    obj = {"format": "rl-walkforward-checkpoint", "x": _Payload(marker)}
    if writer == "torch":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_policy(path)
    assert not marker.exists()


@settings(max_examples=15)
@given(content=st.binary(max_size=64))
def test_random_bytes_are_refused(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("rnd") / "rnd.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"junk", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(path)


def test_foreign_and_incomplete_checkpoints_are_refused(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not an rl-walkforward-checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    torch.save({"format": "rl-walkforward-checkpoint", "format_version": FORMAT_VERSION}, tmp_path / "part.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "part.pt")
    torch.save({"format": "rl-walkforward-checkpoint", "format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_continues_step_count_and_schedule(tmp_path):
    full, _ = _trainer(total_steps=64 * 16 * 6)
    full_hist = full.train().history
    first, _ = _trainer(run_dir=tmp_path, total_steps=64 * 16 * 6, checkpoint_interval=1)
    # a hard abort during update 3 (before its checkpoint): the run resumes from update 2
    first.progress = lambda rec: (_ for _ in ()).throw(KeyboardInterrupt) if rec["update"] == 3 else None
    with pytest.raises(KeyboardInterrupt):
        first.train()
    assert load_checkpoint(tmp_path / LAST_NAME)["update"] == 2
    second, _ = _trainer(run_dir=tmp_path, total_steps=64 * 16 * 6)
    res = second.train()
    assert [h["update"] for h in res.history] == [1, 2, 3, 4, 5, 6]  # the saved history, then the rest
    assert res.global_step == 6 * 64 * 16
    assert [h["actor_lr"] for h in res.history] == [h["actor_lr"] for h in full_hist]
    assert [h["critic_lr"] for h in res.history] == [h["critic_lr"] for h in full_hist]
    assert len({h["actor_lr"] for h in full_hist}) == 6  # the schedule really moves


def test_resume_into_other_architecture_is_refused(tmp_path):
    trainer, _ = _trainer(run_dir=tmp_path)
    trainer.train()
    other, _ = _trainer(run_dir=tmp_path, hidden=(64, 16))
    with pytest.raises(SchemaMismatchError, match="hidden"):
        other.train()


def test_first_sigint_finishes_update_saves_and_raises(tmp_path):
    trainer, _ = _trainer(run_dir=tmp_path, total_steps=64 * 16 * 10)
    sent = []

    def progress(rec):
        if rec["update"] == 2 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-run; the update in flight completes

    trainer.progress = progress
    assert threading.current_thread() is threading.main_thread()
    # whatever the process had (SIG_IGN when started in the background by a non-interactive shell)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    data = load_checkpoint(tmp_path / LAST_NAME)
    assert data["update"] == 2 and data["global_step"] == 2 * 64 * 16
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_second_sigint_quits_at_once():
    from models.ppo import _Interrupt

    handler = _Interrupt()
    handler(signal.SIGINT, None)
    assert handler.requested
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)


def test_inspect_command_describes_and_diffs(tmp_path, capsys):
    from walkforward.cli import main

    a, _ = _trainer()
    a.save(tmp_path / "a.pt")
    b, _ = _trainer(hidden=(64, 16), seed=3)
    b.save(tmp_path / "b.pt")
    assert main(["inspect", str(tmp_path / "a.pt")]) == 0
    out = capsys.readouterr().out
    n_params = sum(p.numel() for p in a.net.parameters())
    assert f"{n_params:,} parameters" in out and "hidden [32, 16]" in out and "toy-4x2+1" in out
    assert main(["inspect", str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]) == 0
    out = capsys.readouterr().out
    assert "hidden" in out and "config.seed" in out and "0  ->  3" in out
    assert main(["inspect", str(tmp_path / "a.pt"), str(tmp_path / "a.pt")]) == 0
    assert "no differences" in capsys.readouterr().out
    (tmp_path / "bad.pt").write_bytes(b"junk")
    assert main(["inspect", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_optimiser_state_survives_a_save_and_load(tmp_path):
    """Adam's moments are keyed by parameter index: a checkpoint must keep those keys as ints,
    or loading silently starts the optimiser afresh (a resumed run then trains differently)."""
    import dataclasses

    from toy_env import ToyEnv
    from models.config import TrainConfig
    from models.ppo import PPOTrainer

    env = ToyEnv(n_envs=8, window=4, n_market=3, n_account=2, n_bars=60, episode_len=10, n_actions=3, seed=0)
    cfg = TrainConfig(total_steps=8 * 16, n_envs=8, n_steps=16, minibatch_size=64, hidden=(16, 8), seed=1)
    a = PPOTrainer(env, env.schema, cfg, verbose=0)
    a.train(resume=False)
    a.save(tmp_path / "s.pt")
    b = PPOTrainer(ToyEnv(n_envs=8, window=4, n_market=3, n_account=2, n_bars=60, episode_len=10, n_actions=3,
                          seed=0), env.schema, cfg, verbose=0)
    b.load_state(tmp_path / "s.pt")
    for opt_a, opt_b in ((a.actor_opt, b.actor_opt), (a.critic_opt, b.critic_opt)):
        sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
        assert sa.keys() == sb.keys() and len(sa) > 0
        for k in sa:
            for name in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(sa[k][name], sb[k][name]), (k, name)
    assert dataclasses.asdict(a.cfg) == dataclasses.asdict(b.cfg)
