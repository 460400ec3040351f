"""Near ties in the fast runner: two logits 1e-7 apart (relative) are decided as the naive loop decides.

Batched and single-row float32 matmuls sum in different orders, so the fast runner's
logits differ from ``policy.act``'s by ~1e-6 relative. Where the top two are closer than
that, only the reference (``policy.act`` on the full observation) may decide
(`models.fast_runner.TIE_TOL`). An exact tie (`tests/test_runner.py`) does not test this: any
tolerance, zero included, hands an exact tie to the reference. Here HOLD and BUY_25 have
the same head row up to noise of 1e-7 of its size, so nearly every bar is a near tie whose
winner flips with the summation order; without the tolerance the fast path then differs
from the naive loop on hundreds of bars.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backtest.account import AccountConfig
from backtest.features import compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.runner import run_policy_naive
from models.fast_runner import run_policy
from backtest.sample_data import generate_crypto_bars
from backtest.simulator import SimConfig
from models.network import ActorCritic
from models.policy import Policy
from toy_env import one_torch_thread  # noqa: F401 (autouse fixture)

ACTIONS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]
SCHEMA = default_schema()


@pytest.fixture(scope="module")
def case():
    bars = generate_crypto_bars("SMPX-USD", "2022-01-01", "2022-01-08", seed=4)
    feats = compute_features(bars, SCHEMA)
    acct = AccountConfig()
    builder = BacktestObservationBuilder(feats, SCHEMA, Normaliser.fit(feats, 0, len(feats) // 2), acct)
    return bars, builder, SimConfig(account=acct)


def near_tie_policy(seed: int, rel: float = 1e-7) -> Policy:
    """HOLD's head row = BUY_25's plus noise of ``rel`` x its mean |weight|; both lifted on top."""
    torch.manual_seed(seed)
    net = ActorCritic(SCHEMA, len(ACTIONS), (32, 16)).eval()
    with torch.no_grad():
        net.actor_body[-1].weight.mul_(300.0)
        head = net.actor_body[-1]
        w = head.weight[1].clone()
        noise = torch.randn(w.shape, generator=torch.Generator().manual_seed(seed))
        head.weight[0] = w + noise * rel * w.abs().mean()
        head.bias[0] = head.bias[1]
        head.bias[0:2] += 50.0
    return Policy(net, SCHEMA, ACTIONS)


@pytest.mark.parametrize("seed", [0, 1])
def test_near_ties_are_decided_like_the_naive_loop(case, seed):
    bars, builder, cfg = case
    policy = near_tie_policy(seed)
    start, stop = SCHEMA.warmup_bars, SCHEMA.warmup_bars + 300
    naive = run_policy_naive(policy, builder, bars, cfg, start, stop)
    counts = np.bincount(naive.actions, minlength=len(ACTIONS))
    assert counts[0] > 0 and counts[1] > 0 and counts[0] + counts[1] == stop - start  # HOLD vs BUY_25 only
    for mode in ("speculative", "compiled"):
        fast = run_policy(policy, builder, bars, cfg, start, stop, mode=mode)
        assert fast.stats["reference_calls"] > 0.5 * (stop - start), fast.stats  # near ties were seen
        differ = np.flatnonzero(fast.actions != naive.actions)
        assert differ.size == 0, f"{mode}: {differ.size} decisions differ from the naive loop, first at bar " \
                                 f"{start + int(differ[0]) if differ.size else None}"
        np.testing.assert_array_equal(fast.sim.equity, naive.sim.equity)
        assert fast.sim.fills.tobytes() == naive.sim.fills.tobytes()
