"""`SimResult.profit_factor` is DESIGN 3.8's PF: over closed trades, NET of all costs.

It ranks validation checkpoints, is ``test.pf`` in result.json and the random baseline's
PF, so it must be the same number the reports compute from ``trades.csv``
(`reports.metrics.profit_factor` of the net P&L). Costs are always on here, so a PF of
gross P&L differs.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import CommissionModel, FrictionConfig, SlippageModel, SpreadModel
from backtest.simulator import SimConfig, simulate
from reports.metrics import profit_factor
from tests.strategies import bars_strategy


@given(bars=bars_strategy(min_bars=20, max_bars=250), seed=st.integers(0, 2**31),
       spread=st.sampled_from([0.0002, 0.001, 0.004]), per_order=st.sampled_from([0.0, 0.5]),
       hold=st.sampled_from([0.2, 0.6, 0.9]))
def test_sim_profit_factor_is_the_reports_pf_of_net_pnl(bars, seed, spread, per_order, hold):
    friction = FrictionConfig(slippage=SlippageModel(0.0005), spread=SpreadModel(spread),
                              commission=CommissionModel(per_order=per_order))
    cfg = SimConfig(account=AccountConfig(include_close_action=True), friction=friction, pdt="off", seed=seed)
    p = np.r_[hold, np.full(7, (1 - hold) / 7)]
    actions = np.random.default_rng(seed).choice(8, size=len(bars), p=p)
    r = simulate(bars, actions, cfg, close_at_end=True)
    net = r.trades_frame()["net_pnl"].to_numpy()  # what trades.csv holds
    assert np.array_equal(net, r.trades["net_pnl"])
    assume(not (len(net) and np.all(net == 0.0)))  # 0/0: no winners and no losers
    want = profit_factor(net)
    got = r.profit_factor()
    if want is None:  # undefined: no trades
        assert len(net) == 0 and (got is None or math.isnan(got)), got
    else:
        assert got == want, (got, want)
    summary_pf = r.summary()["profit_factor"]
    assert summary_pf == got or (want is None and (summary_pf is None or math.isnan(summary_pf)))
