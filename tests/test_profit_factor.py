"""`SimResult.profit_factor` is DESIGN 3.8's PF: over round trips (partial exits of one
position are one trade), NET of all costs.

It is ``test.pf`` in result.json, the fold figures' and the random baseline's PF, so it must
be the same number the reports compute from ``trades.csv`` and ``equity.csv``
(`reports.metrics.round_trip_episodes`, then `reports.metrics.profit_factor` of the net P&L
per round trip). Costs are always on here, so a PF of gross P&L differs.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import CommissionModel, FrictionConfig, SlippageModel, SpreadModel
from backtest.simulator import SimConfig, simulate
from reports.metrics import profit_factor, round_trip_episodes
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
    frame = r.trades_frame()  # what trades.csv holds
    net = frame["net_pnl"].to_numpy()
    assert np.array_equal(net, r.trades["net_pnl"])
    ep = round_trip_episodes(frame, r.equity_frame())
    per_trip = np.bincount(ep, weights=net) if len(net) else net
    assume(not (len(net) and np.all(per_trip == 0.0)))  # 0/0: no winners and no losers
    want = profit_factor(per_trip)
    got = r.profit_factor()
    if want is None:  # undefined: no trades
        assert len(net) == 0 and (got is None or math.isnan(got)), got
    else:
        assert got == want, (got, want)
    summary_pf = r.summary()["profit_factor"]
    assert summary_pf == got or (want is None and (summary_pf is None or math.isnan(summary_pf)))
