"""Which saved training state a fold resumes (`walkforward.fold_job._resumable`): only one saved
for the same fold inputs (input hash) and holding the full training state. Through the CLI a
changed config needs --force, which clears the run, so this check is reached only when a fold's
inputs change under a resumed run (e.g. an earlier fold redone with another checkpoint): it is
tested here directly, on real checkpoints written by the trainer."""

from __future__ import annotations

from models.ppo import PPOTrainer
from toy_env import ACTIONS3, ToyEnv, one_torch_thread, small_config  # noqa: F401 (autouse fixture)
from walkforward.fold_job import _resumable


def _save(path, input_hash, with_state=True):
    import torch

    from models.checkpoint import load_checkpoint

    env = ToyEnv(n_envs=64, seed=0)
    trainer = PPOTrainer(env, env.schema, small_config(), action_meanings=ACTIONS3, verbose=0,
                         world={"input_hash": input_hash})
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save(path)  # the full state: optimisers and training_state
    if not with_state:  # as a best.pt: the model without the training state
        data = load_checkpoint(path)
        data.pop("training_state")
        torch.save(data, path)


def test_only_a_state_of_the_same_inputs_is_resumed(tmp_path):
    scratch = tmp_path / "training"
    assert not _resumable(scratch, "h1")  # nothing saved
    _save(scratch / "last.pt", "h1")
    assert _resumable(scratch, "h1")
    assert not _resumable(scratch, "h2")  # saved for other inputs: start over
    _save(scratch / "last.pt", "h1", with_state=False)
    assert not _resumable(scratch, "h1")  # no training state: cannot resume exactly
    (scratch / "last.pt").write_bytes(b"torn")
    assert not _resumable(scratch, "h1")  # unreadable: start over
