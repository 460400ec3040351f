"""ActorCritic: exact parameter counts, split first layer, unique-bar path, checkpoint size."""

import pytest
import torch

from models.checkpoint import save_checkpoint
from models.config import PRESETS, TrainConfig
from toy_env import one_torch_thread  # noqa: F401 (autouse fixture)
from models.network import (CKPT_TOLERANCE_BYTES, ActorCritic, SimpleSchema, count_parameters,
                            estimate_checkpoint_bytes)


def _net(window=5, n_market=3, n_account=2, n_actions=7, hidden=(16, 8), seed=0):
    torch.manual_seed(seed)
    schema = SimpleSchema(window, n_market, n_account)
    return ActorCritic(schema, n_actions, hidden), schema


@pytest.mark.parametrize("preset", list(PRESETS))
def test_parameter_count_matches_built_model(preset):
    net, _ = _net(window=4, n_market=3, n_account=5, hidden=preset)
    assert count_parameters(12, 5, 7, preset) == sum(p.numel() for p in net.parameters())


def test_parameter_count_real_observation_size():
    net, _ = _net(window=100, n_market=58, n_account=5, hidden="tiny")
    assert count_parameters(5800, 5, 7, "tiny") == sum(p.numel() for p in net.parameters())


def test_no_account_features():
    net, schema = _net(n_account=0)
    assert count_parameters(15, 0, 7, (16, 8)) == sum(p.numel() for p in net.parameters())
    logits, value = net(torch.randn(4, schema.obs_dim))
    assert logits.shape == (4, 7) and value.shape == (4,)


def test_split_first_layer_equals_forward():
    net, schema = _net()
    obs = torch.randn(6, schema.obs_dim)
    logits, value = net(obs)
    proj = net.market_projection(obs[:, :15])
    l2, v2 = net.heads_from_projection(proj, obs[:, 15:])
    torch.testing.assert_close(logits, l2)
    torch.testing.assert_close(value, v2)
    torch.testing.assert_close(net.market_projection(obs[:, :15], "critic"), proj[:, net.h1:])
    torch.testing.assert_close(net.value(obs), value)


@pytest.mark.parametrize("bars", [[3, 3, 7, 1, 7, 3, 0, 9], [3, 8, 7, 1, 2, 5, 0, 9]],
                         ids=["deduplicated", "all-distinct"])
def test_unique_bar_path_matches_values_and_gradients(bars):
    """Both market_for_bars paths (shared bars projected once, or every row when nearly all
    bars are distinct) give the full network's values and gradients."""
    net, schema = _net()
    windows = torch.randn(10, 15)
    bars = torch.tensor(bars)
    account = torch.randn(len(bars), 2)
    obs = torch.cat([windows[bars], account], 1)

    logits, value = net(obs)
    (logits.sum() + value.sum()).backward()
    direct = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    l2, v2 = net.heads_from_projection(net.market_for_bars(bars, windows), account)
    (l2.sum() + v2.sum()).backward()
    torch.testing.assert_close(l2, logits)
    torch.testing.assert_close(v2, value)
    for a, b in zip(direct, (p.grad for p in net.parameters())):
        torch.testing.assert_close(a, b)


def test_reused_gather_buffer_is_safe_across_minibatches_and_loud_when_misused():
    """market_for_bars gathers into one kept buffer per shape: consecutive forward/backward
    pairs get exact gradients; two gathers of the same shape before one backward raise (the
    autograd version check) instead of silently using overwritten windows."""
    net, _ = _net()
    windows = torch.randn(10, 15)
    account = torch.randn(4, 2)
    for bars in (torch.tensor([3, 3, 7, 1]), torch.tensor([0, 9, 9, 2])):
        net.zero_grad()
        logits, value = net(torch.cat([windows[bars], account], 1))
        (logits.sum() + value.sum()).backward()
        direct = [p.grad.clone() for p in net.parameters()]
        net.zero_grad()
        l2, v2 = net.heads_from_projection(net.market_for_bars(bars, windows), account)
        (l2.sum() + v2.sum()).backward()
        for a, b in zip(direct, (p.grad for p in net.parameters())):
            torch.testing.assert_close(a, b)
    first = net.market_for_bars(torch.tensor([3, 3, 7, 1]), windows)
    second = net.market_for_bars(torch.tensor([0, 9, 9, 2]), windows)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (first[0].sum() + second[1].sum()).backward()


def test_actor_and_critic_parameters_are_disjoint_and_complete():
    net, _ = _net()
    actor, critic = {id(p) for p in net.actor_parameters()}, {id(p) for p in net.critic_parameters()}
    assert not actor & critic
    assert actor | critic == {id(p) for p in net.parameters()}


@pytest.mark.parametrize("hidden", [(16, 8), (64, 32, 16)])
def test_checkpoint_size_estimate(tmp_path, hidden):
    net, schema = _net(window=20, n_market=10, hidden=hidden)
    opt_a = torch.optim.Adam(net.actor_parameters())
    opt_c = torch.optim.Adam(net.critic_parameters())
    logits, value = net(torch.randn(4, schema.obs_dim))
    (logits.sum() + value.sum()).backward()
    opt_a.step()
    opt_c.step()  # materialise Adam state
    path = save_checkpoint(tmp_path / "c.pt", network=net, config=TrainConfig(hidden=hidden), schema=schema,
                           action_meanings=[str(i) for i in range(7)], optimizers={"actor": opt_a, "critic": opt_c})
    size = path.stat().st_size
    estimate = estimate_checkpoint_bytes(200, 2, 7, hidden)
    assert abs(size - estimate) <= CKPT_TOLERANCE_BYTES, (size, estimate)
