"""PPO trainer: determinism, learning on a planted signal, logging, validation and best state."""

import json
import math

import pytest
import torch

from models.ppo import BEST_NAME, PPOTrainer, ppo_minibatch_loss, validation_score
from toy_env import ACTIONS3, ToyEnv, mean_reward, small_config, one_torch_thread  # noqa: F401 (autouse fixture)


class ObsOnlyEnv:
    """The toy env without `market_windows`/`bar_index`: forces the full-observation buffer."""

    def __init__(self, env):
        self._env = env
        self.n_envs, self.obs_dim, self.n_actions, self.device = env.n_envs, env.obs_dim, env.n_actions, env.device

    def reset(self):
        return self._env.reset()

    def step(self, actions):
        return self._env.step(actions)


def _params(trainer):
    return [p.detach().clone() for p in trainer.net.parameters()]


def test_same_seed_gives_identical_parameters_on_cpu():
    runs = []
    for _ in range(2):
        env = ToyEnv(seed=4)
        trainer = PPOTrainer(env, env.schema, small_config(seed=11), verbose=0)
        trainer.train()
        runs.append(_params(trainer))
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    env = ToyEnv(seed=4)
    other = PPOTrainer(env, env.schema, small_config(seed=12), verbose=0)
    other.train()
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], _params(other)))


def test_unique_bar_buffer_matches_full_observation_buffer():
    cfg = small_config(total_steps=64 * 16, n_epochs=1, critic_epochs=1)
    env = ToyEnv(seed=2)
    a = PPOTrainer(env, env.schema, cfg, verbose=0)
    assert a.bar_mode
    a.train()
    b = PPOTrainer(ObsOnlyEnv(ToyEnv(seed=2)), env.schema, cfg, verbose=0)
    assert not b.bar_mode
    b.train()
    for pa, pb in zip(_params(a), _params(b)):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)


def test_learns_planted_signal_and_beats_random():
    env = ToyEnv(n_envs=64, seed=0)
    cfg = small_config(total_steps=64 * 32 * 12, n_steps=32, n_epochs=4, minibatch_size=512, hidden=(64, 64))
    trainer = PPOTrainer(env, env.schema, cfg, verbose=0)
    result = trainer.train()
    policy = trainer.policy()
    gen = torch.Generator().manual_seed(9)
    trained = mean_reward(ToyEnv(n_envs=256, seed=123), policy)
    random = mean_reward(ToyEnv(n_envs=256, seed=123), lambda o: torch.randint(0, 3, (o.shape[0],), generator=gen))
    # the oracle earns about E|N(0,1)| = 0.8 per step; random about 0
    assert trained > 0.4 > abs(random) + 0.3, (trained, random)
    assert result.history[-1]["reward_mean"] > result.history[0]["reward_mean"] + 0.1


def test_update_log_fields_and_jsonl(tmp_path):
    env = ToyEnv(seed=1)
    log = tmp_path / "log.jsonl"
    seen = []
    trainer = PPOTrainer(env, env.schema, small_config(), verbose=0, log_path=log, progress=seen.append)
    result = trainer.train()
    keys = {"explained_variance", "approx_kl", "clip_frac", "entropy", "pg_loss", "v_loss", "steps_per_s",
            "reward_pnl", "reward_exploration", "actor_lr", "critic_lr", "global_step", "episode_return"}
    assert keys <= set(result.history[0])
    assert len(seen) == len(result.history) == small_config().n_updates
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["update"] for x in lines if x["event"] == "update"] == [1, 2, 3, 4]
    # logged component mean equals the mean reward (the toy reward is its pnl component)
    assert result.history[0]["reward_pnl"] == pytest.approx(result.history[0]["reward_mean"], abs=1e-5)


def test_validation_keeps_best_state_and_writes_best_checkpoint(tmp_path):
    env = ToyEnv(seed=1)
    scores = iter([0.01, 0.05, -0.02, 0.03])
    calls = []

    def validate(policy):
        obs = env.reset()
        calls.append(policy(obs).shape)
        return {"net_return": next(scores), "trades": 10, "pf": 1.2, "hold_share": 0.5}

    trainer = PPOTrainer(env, env.schema, small_config(validation_interval=1), validate=validate, verbose=0,
                         run_dir=tmp_path, action_meanings=ACTIONS3)
    result = trainer.train()
    assert len(calls) == 4 and calls[0] == (64,)
    assert [v["update"] for v in result.validation_history] == [1, 2, 3, 4]
    assert result.best_validation["update"] == 2 and result.best_validation["net_return"] == 0.05
    from models.checkpoint import load_checkpoint

    best = load_checkpoint(tmp_path / BEST_NAME)
    assert best["update"] == 2
    assert all(torch.equal(best["network"]["state_dict"][k], v) for k, v in result.best_state.items())
    last = load_checkpoint(tmp_path / "last.pt")
    assert [v["score"] for v in last["validation_history"]] == [v["score"] for v in result.validation_history]


def test_validation_score_penalises_few_trades_and_breaks_ties_by_pf():
    assert validation_score({"net_return": 0.02, "trades": 10, "pf": 1.5}, 5) == (0.02, 1.5)
    assert validation_score({"net_return": 0.0, "trades": 0}, 5)[0] == pytest.approx(-0.05)
    assert validation_score({"net_return": 0.0, "trades": 0}, 5) < validation_score({"net_return": -0.01, "trades": 5}, 5)
    assert validation_score({"net_return": 0.01, "trades": 9, "pf": float("inf")}, 5)[1] == 10.0
    assert validation_score({"net_return": 0.01, "trades": 9, "pf": float("nan")}, 5)[1] == 0.0


def test_minibatch_loss_known_values():
    logits = torch.zeros(2, 2)  # p = 0.5 each
    actions = torch.tensor([0, 1])
    old_logp = torch.log(torch.tensor([0.25, 0.5]))  # ratios 2 and 1
    adv = torch.tensor([1.0, -1.0])
    out = ppo_minibatch_loss(logits, torch.tensor([1.0, 0.0]), actions, old_logp, adv, torch.tensor([3.0, 0.0]),
                             clip=0.2, norm_adv=False)
    # sample 0: ratio 2 clipped to 1.2 -> -1.2; sample 1: ratio 1 -> +1; mean = -0.1
    assert out["pg_loss"].item() == pytest.approx(-0.1)
    assert out["v_loss"].item() == pytest.approx(0.5 * (4 + 0) / 2)
    assert out["entropy"].item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert out["clip_frac"].item() == pytest.approx(0.5)


@pytest.mark.parametrize("native_bf16", [False, True])
def test_cpu_honours_amp_only_with_native_bf16_and_never_compiles(native_bf16, monkeypatch):
    import models.ppo

    monkeypatch.setattr(models.ppo, "cpu_has_native_bf16", lambda: native_bf16)
    env = ToyEnv(seed=1)
    trainer = PPOTrainer(env, env.schema, small_config(total_steps=64 * 16, amp=True, compile=True), verbose=0)
    assert trainer.amp is native_bf16 and not trainer.net._compiled
    assert (trainer.windows.dtype == torch.bfloat16) is native_bf16
    result = trainer.train()
    assert result.updates == 1 and all(math.isfinite(v) for v in (result.history[0]["pg_loss"],
                                                                     result.history[0]["v_loss"]))
    assert all(p.dtype == torch.float32 for p in trainer.net.parameters())  # master weights stay float32


def test_low_precision_view_equals_the_cast_windows():
    from models.ppo import low_precision_view

    env = ToyEnv(seed=2)
    view = low_precision_view(env.market_windows)
    assert view.dtype == torch.bfloat16 and view.shape == env.market_windows.shape
    assert torch.equal(view, env.market_windows.to(torch.bfloat16))


def test_env_and_config_mismatch_is_refused():
    from backtest.errors import ConfigError

    env = ToyEnv(n_envs=32)
    with pytest.raises(ConfigError, match="n_envs"):
        PPOTrainer(env, env.schema, small_config(), verbose=0)


def test_projection_table_matches_direct_projection_and_has_a_size_rule():
    from models.ppo import projection_table

    env = ToyEnv(seed=3)
    trainer = PPOTrainer(env, env.schema, small_config(), verbose=0)
    table = projection_table(trainer.net, env.market_windows, max_rows=env.n_bars)
    direct = trainer.net.market_projection(env.market_windows[[5, 100, 511]].contiguous())
    torch.testing.assert_close(table[[5, 100, 511]], direct)
    assert projection_table(trainer.net, env.market_windows, max_rows=env.n_bars - 1) is None


def test_env_breaking_the_bar_contract_is_caught():
    class OffByOne(ObsOnlyEnv):
        """Exposes windows shifted by one bar against the observations it returns."""

        market_windows = torch.roll(ToyEnv(seed=1).market_windows, 1, dims=0)

        @property
        def bar_index(self):
            return self._env.bar_index

    env = OffByOne(ToyEnv(seed=1))
    with pytest.raises(ValueError, match="bar contract"):
        PPOTrainer(env, ToyEnv().schema, small_config(), verbose=0).train()


def test_lookahead_rollout_matches_per_step_projection(monkeypatch):
    """Look-ahead blocks (TradingEnv.steps_left) give the per-step rollout: same actions,
    log-probs, values, V(final_obs) and bootstrap value, across block edges, episode ends
    and the rollout's end (float32: up to matmul rounding). Blocks shorter than 8 steps
    are not worth their extra row: then the rollout projects per step."""
    import contextlib

    from models import ppo
    from models.network import ActorCritic
    from tests.test_env import make_env

    class Hidden:
        """The same env without `steps_left`: the per-step path."""

        def __init__(self, env):
            self._env = env

        def __getattr__(self, name):
            if name == "steps_left":
                raise AttributeError(name)
            return getattr(self._env, name)

    monkeypatch.setattr(ppo, "LOOKAHEAD_MAX_ROWS", 8 * 8)  # blocks of up to 7 steps for 8 envs
    results = []
    for wrap in (lambda e: e, Hidden):
        env = make_env(n_envs=8, episode_len=12, seed=5)
        torch.manual_seed(0)
        net = ActorCritic(env.schema, env.n_actions, (16, 8))
        buf = ppo.Rollout.allocate(25, 8, env.obs_dim, net.market_dim, True, "cpu")
        stats = ppo.RolloutStats(torch.zeros(()), torch.zeros(()), torch.zeros(8))
        calls = []
        real = net.market_projection
        net.market_projection = lambda w, part="both": calls.append(w.shape[0]) or real(w, part)
        obs, last = ppo.collect_rollout(wrap(env), net, buf, env.reset(), torch.Generator().manual_seed(1), stats,
                                        contextlib.nullcontext, None, env.market_windows)
        results.append((buf, last, calls))
    (ahead, last_a, calls_a), (step, last_s, calls_s) = results
    assert calls_s == [8] * 25 + [8] * 2 + [8]  # per step, per episode end and the bootstrap
    # blocks of (k + 1) x 8 rows, k <= 7, cut at episode ends (12 steps) and the rollout's end;
    # V(final_obs) and the bootstrap value come from the blocks' last rows
    assert calls_a == [64, 48, 64, 48, 16]
    assert torch.equal(ahead.actions, step.actions) and torch.equal(ahead.bars, step.bars)
    assert torch.equal(ahead.dones, step.dones) and ahead.dones.any()
    for name in ("logp", "values", "final_values"):
        torch.testing.assert_close(getattr(ahead, name), getattr(step, name), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(last_a, last_s, rtol=1e-5, atol=1e-6)
    assert ppo.Lookahead(net, env.market_windows, 8).max_steps == 7
    monkeypatch.setattr(ppo, "LOOKAHEAD_MAX_ROWS", 8 * 7)
    env = make_env(n_envs=8, episode_len=12, seed=5)
    calls.clear()
    ppo.collect_rollout(env, net, buf, env.reset(), torch.Generator().manual_seed(1), stats, contextlib.nullcontext,
                        None, env.market_windows)
    assert set(calls) == {8}  # per step


def test_a_second_train_call_carries_on_like_one_longer_call():
    """train() again after raising total_steps continues the same episodes (the benchmark
    drives the trainer one update per call): with a constant learning rate, 1 + 2 updates
    in two calls give the parameters of 3 updates in one call."""
    import dataclasses

    flat_lr = dict(warmup_frac=0.0, final_lr_frac=1.0, n_steps=16, total_steps=64 * 16 * 3)
    env = ToyEnv(seed=2)
    one = PPOTrainer(env, env.schema, small_config(**flat_lr), verbose=0)
    one.train()
    env = ToyEnv(seed=2)
    cfg = small_config(**flat_lr)
    two = PPOTrainer(env, env.schema, dataclasses.replace(cfg, total_steps=64 * 16), verbose=0)
    two.train()
    two.cfg = cfg
    two.train()
    assert two.update == one.update == 3
    assert all(torch.equal(a, b) for a, b in zip(_params(one), _params(two)))
