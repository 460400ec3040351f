"""The documented step order, re-implemented in batched torch, reproduces the numba kernel's
cash, position, entry price, equity and PDT state BIT FOR BIT (float64).

This is the contract the training environment (models.env) relies on: it uses the same
formulas (`backtest.costs`, `backtest.pdt`, `backtest.rng`) on tensors, in the order given
in the `backtest.simulator` docstring. Lots only shape trade records, so they are left out.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import (CommissionModel, FrictionConfig, ImpactModel, VolumeCap, commission_cash,
                            portfolio_impact, slippage_fraction, spread_fraction, sqrt_law_impact)
from backtest.pdt import NO_SESSION, PDT_EQUITY_THRESHOLD, day_trades_in_window
from backtest.rng import uniform
from backtest.simulator import CASH_MARGIN, SimConfig, Simulator
from tests.strategies import bars_strategy

F64 = torch.float64


def _impact(q, o, e, sigma, adv, impact: ImpactModel):
    if impact.mode == "none":
        return torch.zeros_like(q)
    notional = q * o
    eq = torch.where(e > 0.0, e, notional)
    port = torch.where(eq > 0.0, portfolio_impact(notional, torch.where(eq > 0.0, eq, 1.0), impact.k), 0.0)
    if impact.mode == "portfolio" or not (adv > 0.0 and sigma == sigma):
        return port
    return sqrt_law_impact(q, torch.full_like(q, adv), torch.full_like(q, sigma), impact.y)


def torch_run(m, acts, acct: AccountConfig, fr: FrictionConfig, seed: int):
    """Batched mirror of the kernel over ``acts[B, T]``; returns per-bar cash, pos, entry, equity."""
    B, T = acts.shape
    space = acct.action_space
    kind_tab, size_tab = torch.tensor(np.array(space.kind)), torch.tensor(np.array(space.size))
    cash = torch.full((B,), acct.initial_equity, dtype=F64)
    pos, entry = torch.zeros(B, dtype=F64), torch.zeros(B, dtype=F64)
    equity, prev_close = cash.clone(), cash.clone()
    cur = torch.full((B,), NO_SESSION)
    pending, dt0, dt1, dt2 = (torch.full((B,), NO_SESSION) for _ in range(4))
    u_all = uniform(seed, torch.arange(T))
    half = spread_fraction(fr.spread.spread)
    pn, ps, po = fr.commission.per_notional, fr.commission.per_share, fr.commission.per_order
    out = {k: torch.zeros(B, T, dtype=F64) for k in ("cash", "pos", "entry", "equity")}
    for t in range(T):
        s = int(m["session"][t])
        new = cur != s  # 1. session roll
        prev_close = torch.where(new, equity, prev_close)
        cur = torch.where(new, torch.full_like(cur, s), cur)
        a = torch.as_tensor(acts[:, t], device=kind_tab.device)
        kind, size = kind_tab[a], size_tab[a]
        o, c = float(m["open"][t]), float(m["close"][t])
        e = cash + pos * o  # 2. decode
        inc_q = ((e * acct.buy_fraction) * size) / o
        buy, sell, close = kind == 1, kind == 2, kind == 3
        increase = (buy & (pos >= 0.0)) | (sell & (pos <= 0.0) & acct.allow_short)
        side = torch.where(buy, 1.0, torch.where(sell, -1.0, torch.where(pos > 0.0, -1.0, 1.0))).to(F64)
        q = torch.where(increase, inc_q, torch.where(buy, size * (-pos), torch.where(sell, size * pos, pos.abs())))
        reason = torch.where((sell & (pos <= 0.0) & ~increase) | (close & (pos == 0.0)), 5, 0)
        active = kind != 0
        pdt_on = bool(m["pdt_on"][t])  # 3. PDT
        day_trade = active & ~increase & (pending == s) & pdt_on
        count = day_trades_in_window(s, dt0, dt1, dt2)
        block = (reason == 0) & day_trade & (prev_close < PDT_EQUITY_THRESHOLD) & (count >= 3)
        rejected = (reason != 0) | block | ~active
        slip = slippage_fraction(u_all[t], fr.slippage.max_slippage, fr.slippage.mode == "fixed")  # 4. sizing
        sig, adv = float(m["sigma"][t]), float(m["adv"][t])
        broke = increase & (e <= 0.0)
        qmax = (acct.max_position * e) / o - pos.abs()
        q = torch.where(increase & (q > qmax), torch.clamp(qmax, min=0.0), q)
        q = torch.where(broke, 0.0, q)
        imp_u = _impact(q, o, e, sig, adv, fr.impact)
        unit = (o * (1.0 + ((slip + half) + imp_u))) * (1.0 + pn) + ps
        need_cap = increase & (side == 1.0) & (q > 0.0) & (q * unit + po > cash)
        q = torch.where(need_cap, torch.clamp(((cash - po) / unit) * CASH_MARGIN, min=0.0), q)
        if fr.volume_cap.max_share > 0.0:
            q = torch.minimum(q, torch.full_like(q, fr.volume_cap.max_share * float(m["volume"][t])))
        if not acct.fractional:
            q = torch.floor(q)
        filled = ~rejected & (q > 0.0)
        imp = _impact(q, o, e, sig, adv, fr.impact)  # 5. fill
        px = o * (1.0 + side * ((slip + half) + imp))
        comm = commission_cash(q, q * px, ps, po, pn)
        new_cash = (cash - side * (q * px)) - comm
        new_pos = pos + side * q
        grow = filled & increase  # 6. bookkeeping
        new_entry = torch.where(pos == 0.0, px, (pos.abs() * entry + q * px) / new_pos.abs())
        entry = torch.where(grow, new_entry, torch.where(filled & (new_pos == 0.0), 0.0, entry))
        pending = torch.where(grow, torch.full_like(pending, s), pending)
        counted = filled & day_trade
        dt0, dt1, dt2 = (torch.where(counted, dt1, dt0), torch.where(counted, dt2, dt1),
                         torch.where(counted, torch.full_like(dt2, s), dt2))
        pending = torch.where(counted, torch.full_like(pending, NO_SESSION), pending)
        cash = torch.where(filled, new_cash, cash)
        pos = torch.where(filled, new_pos, pos)
        equity = cash + pos * c  # 7. mark
        for k, v in (("cash", cash), ("pos", pos), ("entry", entry), ("equity", equity)):
            out[k][:, t] = v
    return out, (dt0, dt1, dt2, pending)


DEVICES = ["cpu"] + [pytest.param("cuda", marks=pytest.mark.cuda)] * torch.cuda.is_available()


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=10)
@given(bars=bars_strategy(min_bars=20, max_bars=160, asset_class="equity",
                          timeframes=("5min", "15min", "30min", "1h")),
       seed=st.integers(0, 2**40), short=st.booleans(), fractional=st.booleans(),
       impact=st.sampled_from(["auto", "portfolio"]), vcap=st.sampled_from([0.0, 0.001]))
def test_torch_mirror_is_bit_identical(device, bars, seed, short, fractional, impact, vcap):
    acct = AccountConfig(initial_equity=3000.0 if fractional else 30_000.0, allow_short=short,
                         fractional=fractional, include_close_action=True)
    fr = FrictionConfig(impact=ImpactModel(mode=impact, min_sessions=2, lookback=5),
                        commission=CommissionModel(per_share=0.005, per_order=0.2, per_notional=0.0003),
                        volume_cap=VolumeCap(vcap))
    cfg = SimConfig(account=acct, friction=fr, pdt="on", seed=seed)
    rng = np.random.default_rng(seed % 2**32)
    acts = rng.choice(8, size=(6, len(bars)), p=[0.3] + [0.1] * 7)
    sim = Simulator(bars, cfg)
    with torch.device(device):
        out, pdt_state = torch_run(sim.market, acts, acct, fr, seed)
    out = {k: v.cpu() for k, v in out.items()}
    pdt_state = [x.cpu() for x in pdt_state]
    for b in range(acts.shape[0]):
        sim.reset(0)
        r = sim.run(acts[b])
        assert torch.equal(out["cash"][b], torch.from_numpy(r.cash))
        assert torch.equal(out["pos"][b], torch.from_numpy(r.position))
        assert torch.equal(out["equity"][b], torch.from_numpy(r.equity))
        assert float(out["entry"][b, -1]) == float(sim.account_state()["entry_price"])
        ist = sim.state.ist
        assert [int(x[b]) for x in pdt_state] == [int(v) for v in ist[4:7]] + [int(ist[3])]
