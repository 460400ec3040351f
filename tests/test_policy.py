"""load_policy: deterministic batched inference, numpy/torch, projection path, mismatch refusals."""

import warnings

import numpy as np
import pytest
import torch

from backtest.errors import SchemaMismatchError
from backtest.normaliser import Normaliser
from models.checkpoint import save_checkpoint
from models.config import TrainConfig
from models.network import ActorCritic, SimpleSchema
from models.policy import load_policy
from toy_env import one_torch_thread  # noqa: F401 (autouse fixture)

ACTIONS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]


@pytest.fixture()
def saved(tmp_path):
    schema = SimpleSchema(6, 4, 3, version="v-test")
    torch.manual_seed(1)
    net = ActorCritic(schema, len(ACTIONS), (32, 16))
    with torch.no_grad():  # make the policy head non-trivial so argmax varies
        net.actor_body[-1].weight.mul_(300)
    path = save_checkpoint(tmp_path / "p.pt", network=net, config=TrainConfig(hidden=(32, 16)), schema=schema,
                           action_meanings=ACTIONS, normaliser=Normaliser(np.zeros(4), np.full(4, 2.0)))
    return path, net, schema


def test_numpy_and_torch_inputs_agree_with_network(saved):
    path, net, schema = saved
    policy = load_policy(path)
    obs = np.random.default_rng(0).normal(size=(50, schema.obs_dim)).astype(np.float32)
    a_np = policy.act(obs)
    a_t = policy(torch.from_numpy(obs))
    assert isinstance(a_np, np.ndarray) and a_np.dtype == np.int64
    assert isinstance(a_t, torch.Tensor)
    np.testing.assert_array_equal(a_np, a_t.numpy())
    np.testing.assert_array_equal(a_np, net(torch.from_numpy(obs))[0].argmax(-1).numpy())
    assert len(set(a_np.tolist())) > 1
    assert policy.act(obs[0]) == a_np[0]  # a single observation
    assert policy.act(obs.astype(np.float64)).tolist() == a_np.tolist()


def test_read_only_observations_act_without_a_warning(saved):
    """Feature matrices are read-only views; acting on one must not print PyTorch's
    'NumPy array is not writable' warning on a user's terminal."""
    path, _, schema = saved
    policy = load_policy(path)
    obs = np.random.default_rng(3).normal(size=(9, schema.obs_dim)).astype(np.float32)
    frozen = obs.copy()
    frozen.flags.writeable = False
    m = schema.window * schema.n_market
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(policy.act(frozen), policy.act(obs))
        np.testing.assert_array_equal(policy.market_projection(frozen[:, :m]),
                                      policy.market_projection(obs[:, :m]))


def test_small_batches_give_the_same_actions(saved):
    path, _, schema = saved
    obs = np.random.default_rng(1).normal(size=(37, schema.obs_dim))
    big = load_policy(path).act(obs)
    policy = load_policy(path)
    policy.batch_size = 5
    np.testing.assert_array_equal(policy.act(obs), big)


def test_projection_path_equals_act(saved):
    path, _, schema = saved
    policy = load_policy(path)
    obs = np.random.default_rng(2).normal(size=(20, schema.obs_dim)).astype(np.float32)
    m = schema.window * schema.n_market
    proj = policy.market_projection(obs[:, :m])
    np.testing.assert_array_equal(policy.act_from_projection(proj, obs[:, m:]), policy.act(obs))


def test_exposes_schema_actions_and_normaliser(saved):
    path, _, schema = saved
    policy = load_policy(path)
    assert policy.schema == schema
    assert policy.action_meanings == ACTIONS
    assert policy.normaliser == Normaliser(np.zeros(4), np.full(4, 2.0))


def test_feature_schema_round_trip(tmp_path):
    from backtest.features import default_schema

    schema = default_schema()
    net = ActorCritic(schema, len(ACTIONS), (8, 4))
    path = save_checkpoint(tmp_path / "f.pt", network=net, config=TrainConfig(hidden=(8, 4)), schema=schema,
                           action_meanings=ACTIONS)
    policy = load_policy(path, expected_schema=schema, expected_actions=ACTIONS)
    assert policy.schema == schema and policy.schema.version == schema.version
    assert policy.obs_dim == schema.obs_dim


def test_schema_and_action_mismatch_refused(saved):
    path, _, schema = saved
    load_policy(path, expected_schema=schema, expected_actions=ACTIONS)  # matching: fine
    with pytest.raises(SchemaMismatchError, match="window"):
        load_policy(path, expected_schema=SimpleSchema(7, 4, 3, version="v-test"))
    with pytest.raises(SchemaMismatchError, match="action space"):
        load_policy(path, expected_actions=ACTIONS + ["CLOSE"])
    with pytest.raises(SchemaMismatchError, match="columns"):
        load_policy(path).act(np.zeros((2, schema.obs_dim + 1)))
