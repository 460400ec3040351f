"""Oracle: with costs reduced to what vectorbt models (fixed percentage fees and fixed
slippage), our fills and per-bar equity equal `vectorbt.Portfolio.from_orders` on the
same order sizes and prices."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import CommissionModel, FrictionConfig, ImpactModel, SlippageModel, SpreadModel
from backtest.simulator import SimConfig, simulate
from backtest.trades import STATUS_FILLED
from tests.strategies import bars_strategy

vbt = pytest.importorskip("vectorbt")


@settings(max_examples=15)
@given(bars=bars_strategy(min_bars=10, max_bars=300), seed=st.integers(0, 2**31),
       slip=st.sampled_from([0.0, 0.0005, 0.002]), half_spread=st.sampled_from([0.0, 0.0001]),
       fee=st.sampled_from([0.0, 0.001, 0.0025]), short=st.booleans())
def test_fills_and_equity_match_vectorbt(bars, seed, slip, half_spread, fee, short):
    fr = FrictionConfig(slippage=SlippageModel(slip, mode="fixed"), spread=SpreadModel(2 * half_spread),
                        impact=ImpactModel(mode="none"), commission=CommissionModel(per_notional=fee))
    acct = AccountConfig(include_close_action=True, allow_short=short)
    rng = np.random.default_rng(seed)
    acts = rng.choice(8, size=len(bars), p=[0.5] + [0.5 / 7] * 7)
    r = simulate(bars, acts, SimConfig(account=acct, friction=fr, pdt="off", seed=seed), close_at_end=True)
    f = r.fills[r.fills["status"] == STATUS_FILLED]
    size = np.full(len(bars), np.nan)
    size[f["bar"]] = f["side"] * f["qty"]
    pf = vbt.Portfolio.from_orders(close=bars.close, size=size, price=bars.open, fees=fee,
                                   slippage=slip + half_spread, init_cash=1000.0)
    orders = pf.orders.records
    assert len(orders) == len(f)
    np.testing.assert_array_equal(orders["idx"], f["bar"])
    np.testing.assert_allclose(orders["size"], f["qty"], rtol=1e-12)
    np.testing.assert_allclose(orders["price"], f["exec_price"], rtol=1e-12)
    np.testing.assert_allclose(orders["fees"], f["commission"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pf.value().to_numpy(), r.equity, rtol=1e-9)
    np.testing.assert_allclose(pf.cash().to_numpy(), r.cash, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pf.assets().to_numpy(), r.position, rtol=1e-9, atol=1e-12)
    if len(r.trades):
        closed = pf.trades.closed.pnl.sum()
        assert r.trades["net_pnl"].sum() == pytest.approx(closed, rel=1e-9, abs=1e-9)
