"""Known-answer tests for each reward component and RewardConfig validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from backtest.errors import ConfigError
from models.reward import COMPONENTS, RewardConfig, reward_components, total_reward

D = torch.float64
CFG = RewardConfig()


def t(*xs):
    return torch.tensor(xs, dtype=D)


def fills(status, side, pos_before, entry_before, exec_price):
    return {"status": torch.tensor(status), "side": torch.tensor(side), "position_before": t(*pos_before),
            "entry_before": t(*entry_before), "exec_price": t(*exec_price)}


def comps(cfg=CFG, *, eq0, eq1, pos, entry, open_, close, fill, peak, max_position=0.2):
    return reward_components(cfg, equity_before=t(*eq0), equity_after=t(*eq1), position=t(*pos),
                             entry_price=t(*entry), open_=t(*open_), close=t(*close), fill=fill, peak_equity=t(*peak),
                             max_position=max_position)


HOLDS = fills([0, 0, 0], [0, 0, 0], [0.0, 0, 0], [0.0, 0, 0], [0.0, 0, 0])
HOLDS4 = fills([0] * 4, [0] * 4, [0.0] * 4, [0.0] * 4, [0.0] * 4)


def test_defaults_match_design():
    """The default pays net P&L (with a small drawdown penalty); the seeds' weights are a preset."""
    assert CFG.weights == (0.0, 0.0, 0.95, 0.0, 0.0, 0.05) and CFG.preset_name == "net_pnl"
    assert RewardConfig.preset("seeds").weights == (0.35, 0.10, 0.25, 0.15, 0.10, 0.05)
    assert RewardConfig.preset("seeds").preset_name == "seeds"
    assert RewardConfig(pnl=0.5, direction=0.5, drawdown=0.0).preset_name == "custom"
    assert RewardConfig.preset("seeds").describe().startswith("seeds (direction 0.35, magnitude 0.1, pnl 0.25")
    assert CFG.drawdown_threshold == 0.15 and CFG.pnl_scale == 100.0 and CFG.pnl_clip == 2.0
    with pytest.raises(ConfigError, match="reward preset 'sharpe' is unknown"):
        RewardConfig.preset("sharpe")


def test_reward_preset_from_the_run_config():
    from walkforward.config import RunConfig

    assert RunConfig(reward={"preset": "seeds"}).reward == RewardConfig.preset("seeds")
    assert RunConfig().reward.preset_name == "net_pnl"
    with pytest.raises(ConfigError, match=r"reward.preset='nope' is unknown"):
        RunConfig(reward={"preset": "nope"})


def test_pnl_is_clamped_100x_net_return_not_tanh():
    c = comps(eq0=[1000, 1000, 1000], eq1=[1005, 970, 1030], pos=[0, 0, 0], entry=[0, 0, 0], open_=[1, 1, 1],
              close=[1, 1, 1], fill=HOLDS, peak=[1005, 1000, 1030])
    assert torch.allclose(c["pnl"], t(0.5, -2.0, 2.0))  # 100 x 0.005; -3 and +3 clamp to +-2


def test_direction_is_exposure_times_sign_of_bar_move():
    # exposure = pos * close / (0.2 * equity): 40 * 10.5 / 200 clips to 1; -10 * 10.5 / 200 = -0.525
    c = comps(eq0=[1000] * 4, eq1=[1000] * 4, pos=[40.0, -10.0, 0.0, 0.1], entry=[10, 10, 0, 10],
              open_=[10, 10, 10, 10], close=[10.5, 10.5, 10.5, 9.5], fill=HOLDS4, peak=[1000] * 4)
    assert torch.allclose(c["direction"], t(1.0, -0.525, 0.0, -0.1 * 9.5 / 200))


def test_magnitude_scales_exposure_times_move():
    # exposure = pos * close / (0.2 * equity): 2 * 10.1 / 200 = 0.101; move 1% -> 100 * 0.101 * 0.01
    c = comps(eq0=[1000] * 3, eq1=[1000] * 3, pos=[2.0, 2.0, 40.0], entry=[10] * 3, open_=[10, 10, 10],
              close=[10.1, 9.9, 10.1], fill=HOLDS, peak=[1000] * 3)
    assert torch.allclose(c["magnitude"][:2], t(100 * (20.2 / 200) * 0.01, -100 * (19.8 / 200) * 0.01))
    assert float(c["magnitude"][2]) == 1.0  # exposure clipped to 1, product clipped to 1


def test_stop_take_rewards_taking_profit_and_cutting_losses_and_punishes_riding_losses():
    f = fills([1, 1, 1, 0], [-1, -1, -1, 0], [2.0, 2.0, 2.0, 2.0], [100.0, 100.0, 100.0, 100.0],
              [103.5, 97.0, 100.5, 0.0])
    c = reward_components(CFG, equity_before=t(1000, 1000, 1000, 1000), equity_after=t(1000, 1000, 1000, 1000),
                          position=t(0.0, 0.0, 1.0, 2.0), entry_price=t(0.0, 0.0, 100.0, 100.0),
                          open_=t(100, 100, 100, 100), close=t(100, 100, 100, 97.5), fill=f,
                          peak_equity=t(1000, 1000, 1000, 1000), max_position=0.2)
    # +3.5% exit >= take 3%: +1; -3% exit <= -stop 2%: +0.5; +0.5%: 0; holding at -2.5%: -1
    assert torch.equal(c["stop_take"], t(1.0, 0.5, 0.0, -1.0))


def test_stop_take_short_positions_use_their_direction():
    f = fills([1], [1], [-2.0], [100.0], [96.0])  # covering a short 4% below entry: profit
    c = reward_components(CFG, equity_before=t(1000), equity_after=t(1000), position=t(0.0), entry_price=t(0.0),
                          open_=t(96), close=t(96), fill=f, peak_equity=t(1000), max_position=0.2)
    assert float(c["stop_take"][0]) == 1.0


def test_exploration_rewards_fills_and_punishes_rejections():
    f = fills([0, 1, 2], [0, 1, -1], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 10.0, 0.0])
    c = comps(eq0=[1000] * 3, eq1=[1000] * 3, pos=[0, 1, 0], entry=[0, 10, 0], open_=[10] * 3, close=[10] * 3,
              fill=f, peak=[1000] * 3)
    assert torch.equal(c["exploration"], t(0.0, 1.0, -1.0))


def test_drawdown_penalty_starts_above_threshold_and_saturates():
    c = comps(eq0=[1000] * 3, eq1=[900, 800, 500], pos=[0] * 3, entry=[0] * 3, open_=[1] * 3, close=[1] * 3,
              fill=HOLDS, peak=[1000] * 3)
    # dd 10% -> 0; dd 20% -> -10 * 0.05 = -0.5; dd 50% -> -1 (saturated)
    assert torch.allclose(c["drawdown"], t(0.0, -0.5, -1.0))


def test_total_is_the_weighted_sum():
    c = {name: t(float(i + 1)) for i, name in enumerate(COMPONENTS)}
    expected = sum(w * (i + 1) for i, w in enumerate(CFG.weights))
    assert torch.allclose(total_reward(CFG, c), t(expected))


@pytest.mark.parametrize("changes, match", [
    (dict(direction=0.5), "sum to 1"),
    (dict(direction=-0.1, magnitude=0.55), "direction"),
    (dict(pnl_clip=0.0), "pnl_clip"),
    (dict(drawdown_threshold=1.0), "drawdown_threshold"),
    (dict(stop_loss=float("nan")), "stop_loss"),
])
def test_invalid_configs_name_the_field(changes, match):
    with pytest.raises(ConfigError, match=match):
        dataclasses.replace(CFG, **changes)


def test_reweighting_is_accepted_when_it_sums_to_one():
    cfg = RewardConfig(direction=0.0, magnitude=0.0, pnl=1.0, stop_take=0.0, exploration=0.0, drawdown=0.0)
    assert cfg.weights[2] == 1.0


@given(st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_numpy_and_torch_give_the_same_bits(n, seed):
    """The CPU env computes the reward in numpy on the kernel's arrays, the GPU env in torch:
    every component (and the total) must be bit-identical, flat and losing accounts included."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def money(scale, zero_share=0.3):
        x = rng.normal(scale, scale / 3, n)
        return np.where(rng.random(n) < zero_share, 0.0, x)

    arrays = dict(equity_before=money(1000, 0.1) * rng.choice([1, -1], n, p=[0.9, 0.1]),
                  equity_after=money(1000, 0.1) * rng.choice([1, -1], n, p=[0.9, 0.1]),
                  position=money(5) * rng.choice([1, -1], n), entry_price=money(100), open_=money(100, 0.0),
                  close=money(100, 0.0), peak_equity=money(1100, 0.05))
    fill = {"status": rng.integers(0, 3, n), "side": rng.integers(-1, 2, n), "position_before": money(5),
            "entry_before": money(100), "exec_price": money(100)}
    cfg = dataclasses.replace(CFG, stop_loss=float(rng.uniform(0.001, 0.1)), take_profit=float(rng.uniform(0.001, 0.1)))
    as_numpy = reward_components(cfg, fill=fill, max_position=0.2, **arrays)
    as_torch = reward_components(cfg, fill={k: torch.from_numpy(v) for k, v in fill.items()}, max_position=0.2,
                                 **{k: torch.from_numpy(v) for k, v in arrays.items()})
    as_numpy["total"], as_torch["total"] = total_reward(cfg, as_numpy), total_reward(cfg, as_torch)
    for name, value in as_torch.items():
        assert as_numpy[name].dtype == np.float64, name
        np.testing.assert_array_equal(as_numpy[name].view(np.int64), value.numpy().view(np.int64), err_msg=name)
