"""The fast runner across the PDT threshold: an account near 25,000 equals the naive loop.

`tests/test_runner.py` runs a 1,000 account, always under the threshold, so the rule
always binds and the day-trades-left feature of a speculated HOLD state never depends on
which close was the previous one. Here all of the equity is tradable (``max_position=1.0``)
and starts at or just under 25,000, so the previous close moves across the threshold
from session to session: a speculated state that did not roll the previous-close
equity at a new session shows the wrong day trades left, and the policy (whose account
weights are scaled up) decides differently from the naive loop.
"""

from __future__ import annotations

import pytest
import torch

from backtest.account import AccountConfig
from backtest.features import compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.runner import run_policy_naive
from models.fast_runner import run_policy
from backtest.sample_data import generate_equity_bars
from backtest.simulator import SimConfig
from models.network import ActorCritic
from models.policy import Policy
from toy_env import one_torch_thread  # noqa: F401 (autouse fixture)

ACTIONS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]
SCHEMA = default_schema()


@pytest.fixture(scope="module")
def bars_and_features():
    bars = generate_equity_bars("SMPA", "2022-01-03", "2022-03-31", seed=3)
    return bars, compute_features(bars, SCHEMA)


def _policy(seed: int) -> Policy:
    """An untrained network scaled to trade often and to heed its account features."""
    torch.manual_seed(seed)
    net = ActorCritic(SCHEMA, len(ACTIONS), (32, 16)).eval()
    with torch.no_grad():
        net.actor_body[-1].weight.mul_(300.0)
        net.actor_body[-1].bias[0] = 0.0
        net.actor_account.weight.mul_(5.0)
    return Policy(net, SCHEMA, ACTIONS)


@pytest.mark.parametrize("equity,seed", [(25_000.0, 0), (24_000.0, 2)])
def test_runner_equals_naive_loop_near_the_pdt_threshold(bars_and_features, equity, seed):
    bars, feats = bars_and_features
    acct = AccountConfig(initial_equity=equity, safety_buffer=0.0, base_allocation=1.0, max_position=1.0)
    builder = BacktestObservationBuilder(feats, SCHEMA, Normaliser.fit(feats, 0, len(feats) // 2), acct)
    cfg = SimConfig(account=acct, pdt="on")
    policy = _policy(seed)
    start, stop = SCHEMA.warmup_bars, len(bars)
    naive = run_policy_naive(policy, builder, bars, cfg, start, stop)
    assert naive.sim.pdt_rejections > 0  # the rule binds on some days ...
    eq = naive.sim.equity
    assert eq.min() < 25_000.0 < eq.max()  # ... and the account crosses the threshold
    for mode in ("speculative", "compiled", "auto"):
        fast = run_policy(policy, builder, bars, cfg, start, stop, mode=mode)
        differ = (fast.actions != naive.actions).nonzero()[0]
        assert differ.size == 0, f"{mode}: {differ.size} decisions differ, first at bar {start + int(differ[0])}"
        assert fast.sim.fills.tobytes() == naive.sim.fills.tobytes()
