"""The documented step order, batched in torch (`models.env_step`, the code the training
environment runs), reproduces the numba kernel's cash, position, entry price, equity and
PDT state BIT FOR BIT (float64) when every account walks the whole series.

`models.env.TradingEnv` steps through exactly this function (`step_accounts`); the
per-env, per-step comparison with observations and fills is `tests/test_env_parity.py`.
Lots only shape trade records, so they are left out.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import CommissionModel, FrictionConfig, ImpactModel, VolumeCap
from backtest.simulator import SimConfig, Simulator
from models.env_step import Accounts, MarketTensors, StepParams, step_accounts
from tests.strategies import bars_strategy

F64 = torch.float64


def torch_run(bars, acts, cfg: SimConfig):
    """The env's batched step over ``acts[B, T]`` from bar 0; returns per-bar cash, pos, entry, equity."""
    B, T = acts.shape
    device = torch.get_default_device()
    market = MarketTensors.build(bars, cfg, device)
    params = StepParams.from_config(cfg, bars.asset_class)
    space = cfg.account.action_space
    kind_tab = torch.as_tensor(np.array(space.kind), device=device)
    size_tab = torch.as_tensor(np.array(space.size), device=device)
    acc = Accounts.zeros(B, device)
    acc.reset(torch.ones(B, dtype=torch.bool, device=device), torch.zeros(B, dtype=torch.int64, device=device),
              params.initial_equity, market)
    out = {k: torch.zeros(B, T, dtype=F64) for k in ("cash", "pos", "entry", "equity")}
    for t in range(T):
        bar = torch.full((B,), t, dtype=torch.int64, device=device)
        a = torch.as_tensor(acts[:, t], device=device)
        step_accounts(acc, bar, a, kind_tab, size_tab, market, params)
        for k, v in (("cash", acc.cash), ("pos", acc.position), ("entry", acc.entry_price), ("equity", acc.equity)):
            out[k][:, t] = v.cpu()
    return out, (acc.dt0, acc.dt1, acc.dt2, acc.pending)


DEVICES = ["cpu"] + [pytest.param("cuda", marks=pytest.mark.cuda)] * torch.cuda.is_available()


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=10)
@given(bars=bars_strategy(min_bars=20, max_bars=160, asset_class="equity",
                          timeframes=("5min", "15min", "30min", "1h")),
       seed=st.integers(0, 2**40), short=st.booleans(), fractional=st.booleans(),
       impact=st.sampled_from(["auto", "portfolio"]), vcap=st.sampled_from([0.0, 0.001]),
       min_notional=st.sampled_from([0.0, 1.0, 40.0]))
def test_torch_mirror_is_bit_identical(device, bars, seed, short, fractional, impact, vcap, min_notional):
    acct = AccountConfig(initial_equity=3000.0 if fractional else 30_000.0, allow_short=short,
                         fractional=fractional, include_close_action=True, min_order_notional=min_notional)
    fr = FrictionConfig(impact=ImpactModel(mode=impact, min_sessions=2, lookback=5),
                        commission=CommissionModel(per_share=0.005, per_order=0.2, per_notional=0.0003),
                        volume_cap=VolumeCap(vcap))
    cfg = SimConfig(account=acct, friction=fr, pdt="on", seed=seed)
    rng = np.random.default_rng(seed % 2**32)
    acts = rng.choice(8, size=(6, len(bars)), p=[0.3] + [0.1] * 7)
    sim = Simulator(bars, cfg)
    with torch.device(device):
        out, pdt_state = torch_run(bars, acts, cfg)
    out = {k: v.cpu() for k, v in out.items()}
    pdt_state = [x.cpu() for x in pdt_state]
    for b in range(acts.shape[0]):
        sim.reset(0)
        r = sim.run(acts[b])
        assert torch.equal(out["cash"][b], torch.from_numpy(r.cash))
        assert torch.equal(out["pos"][b], torch.from_numpy(r.position))
        assert torch.equal(out["equity"][b], torch.from_numpy(r.equity))
        assert float(out["entry"][b, -1]) == float(sim.account_state()["entry_price"])
        state = sim.state
        assert [int(x[b]) for x in pdt_state] == [int(state[n]) for n in ("dt0", "dt1", "dt2", "pending")]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("commission, equity, expect", [
    # 1,000 all in: orders of about 60-1,000, so the minimum, the span between and the maximum all occur
    (CommissionModel(per_notional=0.003, min_per_order=1.0, max_per_order=2.0), 1000.0,
     {"min", "between", "max", "cash"}),
    # IBKR Pro Fixed style on a 100 share: under 200 shares the minimum, above it the fee
    (CommissionModel(per_share=0.005, min_per_order=1.0, max_per_notional=0.01), 30_000.0, {"min", "between", "cash"}),
    # a 0.2%-of-notional cap below a 1% fee (and below the minimum on small orders): always the cap
    (CommissionModel(per_notional=0.01, max_per_notional=0.002, min_per_order=0.5), 1000.0, {"max", "cash"}),
])
def test_torch_mirror_is_bit_identical_where_commission_limits_bind(device, commission, equity, expect):
    """Commission minimums and maximums (issue 25): an all-in account whose orders meet the
    minimum, the maximum or the span between, and whose buys are cut for cash with the clipped
    commission; the torch mirror equals the kernel bit for bit."""
    from backtest.sample_data import generate_equity_bars

    bars = generate_equity_bars("EQ", "2023-03-01", "2023-04-15", seed=4, timeframe="1h")
    acct = AccountConfig(initial_equity=equity, safety_buffer=0.0, base_allocation=1.0, max_position=1.0,
                         fractional=commission.per_share == 0, include_close_action=True)
    cfg = SimConfig(account=acct, friction=FrictionConfig(commission=commission), pdt="off", seed=9)
    acts = np.random.default_rng(3).choice(8, size=(4, len(bars)), p=[0.3] + [0.1] * 7)
    sim = Simulator(bars, cfg)
    with torch.device(device):
        out, _ = torch_run(bars, acts, cfg)
    seen = set()
    plain = CommissionModel(per_share=commission.per_share, per_notional=commission.per_notional)
    for b in range(acts.shape[0]):
        sim.reset(0)
        r = sim.run(acts[b])
        for name, mine in (("cash", r.cash), ("pos", r.position), ("equity", r.equity)):
            assert torch.equal(out[name][b].cpu(), torch.from_numpy(mine)), name
        f = r.fills[r.fills["status"] == 1]
        fee = plain.cash(f["qty"], f["qty"] * f["exec_price"])
        seen |= {"min"} if np.any(f["commission"] > fee) else set()
        seen |= {"max"} if np.any(f["commission"] < fee) else set()
        seen |= {"between"} if np.any(f["commission"] == fee) else set()
        seen |= {"cash"} if np.any(f["reason"] == 1) else set()
    assert seen == expect, seen
