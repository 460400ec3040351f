"""AccountConfig validation and the one action decoder."""

import numpy as np
import pytest

from backtest.account import BUY, CLOSE, HOLD, SELL, AccountConfig, ActionSpace
from backtest.errors import ConfigError


def test_decoder_tables():
    space = ActionSpace()
    assert space.meanings == ("HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75")
    assert list(space.kind) == [HOLD, BUY, BUY, BUY, SELL, SELL, SELL]
    assert list(space.size) == [0.0, 0.25, 0.5, 0.75, 0.25, 0.5, 0.75]
    full = AccountConfig(include_close_action=True).action_space
    assert full.n == 8 and full.kind[7] == CLOSE and full.size[7] == 1.0
    assert space.decode(5) == ("sell", 0.5) and space.id_of("buy_75") == 3
    with pytest.raises(ValueError):
        space.kind[0] = 2  # read-only: nobody edits the one decoder


def test_validate_actions():
    space = ActionSpace()
    assert space.validate([0, 6, 3]).dtype == np.int64
    with pytest.raises(ConfigError, match="position 1 holds 7"):
        space.validate([0, 7])
    with pytest.raises(ConfigError, match="unknown action"):
        space.id_of("CLOSE")


@pytest.mark.parametrize("kwargs, name", [
    ({"initial_equity": 0}, "initial_equity"), ({"safety_buffer": 1.0}, "safety_buffer"),
    ({"base_allocation": 0.0}, "base_allocation"), ({"max_position": 1.5}, "max_position"),
    ({"allow_short": 1}, "allow_short"), ({"initial_equity": float("inf")}, "initial_equity"),
    ({"min_order_notional": -1.0}, "min_order_notional"), ({"min_order_notional": float("nan")}, "min_order_notional"),
    ({"min_order_notional": True}, "min_order_notional"),
])
def test_config_validation_names_parameter(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        AccountConfig(**kwargs)


def test_defaults_and_buy_fraction():
    cfg = AccountConfig()
    assert (cfg.initial_equity, cfg.safety_buffer, cfg.base_allocation, cfg.max_position) == (1000, 0.3, 0.15, 0.2)
    assert not cfg.allow_short and cfg.fractional and not cfg.include_close_action
    assert cfg.buy_fraction == (1.0 - 0.3) * 0.15
