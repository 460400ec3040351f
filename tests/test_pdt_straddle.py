"""The PDT threshold straddle, a known answer (DESIGN 3.5: equity at the PREVIOUS close).

An account of 25,100 (all of it tradable: ``max_position=1.0``, no buffer, full
allocation) makes three day trades on Monday, when the rule does not bind (the previous
close is the opening 25,100). It then buys 75% of its equity at 100 and holds into a close
10% lower: Monday's close equity is 25,100 - 0.75 x 25,100 x 10% = 23,217.50. Tuesday gaps
up to 110, so the account is worth 6,275 + 188.25 x 110 = 26,982.50 at the open, above
25,000, while the previous close is below. The rule binds on Tuesday:

- the day-trades-left feature at Tuesday's first decision is 0 (three in the window);
- a buy and a sell on Tuesday (the 4th day trade in 5 sessions) is rejected (reason pdt).

Telling these apart needs the previous close, not the current equity (26,982.50), not the
last mark of a session that was never rolled (25,100), and not the two swapped. Every
execution path is checked: `simulate`, the `Simulator` step API, the training env with the
kernel account step (CPU default) and with the torch mirror (GPU path), the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backtest.account import REASON_PDT, AccountConfig
from backtest.costs import FrictionConfig
from backtest.features import FeatureSchema
from backtest.features.pipeline import default_specs
from backtest.simulator import SimConfig, Simulator, simulate
from backtest.trades import STATUS_FILLED, STATUS_REJECTED
from models.env import TradingEnv
from tests.reference_account import ReferenceAccount, ReferenceMarket, action_names
from tests.sim_bars import make_bars

HOLD, BUY_25, BUY_75, SELL_25, CLOSE = 0, 1, 3, 4, 7
#: Friday: two warm-up bars. Monday: three round trips, then BUY_75 held into a 10% drop.
#: Tuesday: gap up to 110, BUY_25 then SELL_25 (the 4th day trade), then HOLD.
DECISIONS = [BUY_75, CLOSE, BUY_75, CLOSE, BUY_75, CLOSE, BUY_75, HOLD, HOLD, BUY_25, SELL_25, HOLD]
FIRST = 2  # the first decision bar (Monday 09:30)
TUESDAY = FIRST + 8  # Tuesday's first decision bar (index into the bars)


def straddle_bars():
    fri = [f"2024-03-01 {h}" for h in ("19:30", "20:00")]
    mon = [f"2024-03-04 {14 + (30 + 30 * k) // 60}:{(30 + 30 * k) % 60:02d}" for k in range(8)]
    tue = [f"2024-03-05 {14 + (30 + 30 * k) // 60}:{(30 + 30 * k) % 60:02d}" for k in range(4)]
    open_ = [100.0] * 2 + [100.0] * 8 + [110.0] * 4
    close = [100.0] * 2 + [100.0] * 7 + [90.0] + [110.0] * 4
    return make_bars(fri + mon + tue, open_, close)


CONFIG = SimConfig(account=AccountConfig(initial_equity=25_100.0, safety_buffer=0.0, base_allocation=1.0,
                                         max_position=1.0, include_close_action=True),
                   friction=FrictionConfig.zero(), pdt="on")


def _check_outcome(fills, equity_at_monday_close, left_at_tuesday_open):
    orders = [f for f in fills if int(f["status"]) != 0]
    statuses = [int(f["status"]) for f in orders]
    assert statuses == [STATUS_FILLED] * 8 + [STATUS_REJECTED], statuses
    assert int(orders[-1]["reason"]) == REASON_PDT
    assert [bool(f["day_trade"]) for f in orders].count(True) == 3
    assert equity_at_monday_close == pytest.approx(23_217.5, abs=1e-9)
    assert left_at_tuesday_open == 0


def test_the_bars_straddle_the_threshold():
    bars = straddle_bars()
    assert list(np.diff(bars.session_index)[[1, 9]]) == [1, 1]  # Fri -> Mon -> Tue, consecutive sessions
    sim = Simulator(bars, CONFIG)
    sim.reset(FIRST)
    for a in DECISIONS[: TUESDAY - FIRST]:
        sim.step(a)
    state = sim.state
    assert state["equity"] == pytest.approx(23_217.5)  # Monday's close
    assert state["position"] * 110.0 + state["cash"] == pytest.approx(26_982.5)  # worth at Tuesday's open


def test_simulate():
    bars = straddle_bars()
    r = simulate(bars, DECISIONS, CONFIG, start=FIRST)
    sim = Simulator(bars, CONFIG)
    sim.reset(FIRST)
    sim.run(DECISIONS[: TUESDAY - FIRST])
    _check_outcome(r.fills, float(r.equity[TUESDAY - FIRST - 1]), int(sim.account_state()["day_trades_left"]))
    assert r.pdt_rejections == 1


def test_simulator_step_api():
    bars = straddle_bars()
    sim = Simulator(bars, CONFIG)
    sim.reset(FIRST)
    fills, left, equity = [], {}, {}
    for a in DECISIONS:
        left[sim.t] = int(sim.account_state()["day_trades_left"])
        fills.append(sim.step(a))
        equity[sim.t - 1] = float(sim.state["equity"])
    assert left[FIRST] == 3  # Monday: the previous close is the opening 25,100, the rule does not bind
    _check_outcome(fills, equity[TUESDAY - 1], left[TUESDAY])


@pytest.mark.parametrize("account_step", ["kernel", "torch"])
def test_training_env(account_step):
    bars = straddle_bars()
    schema = FeatureSchema(features=tuple(s for s in default_specs() if s.lookback <= 1), window=1)
    assert schema.warmup_bars == FIRST
    env = TradingEnv(np.zeros((len(bars), schema.n_market)), bars, schema, sim_config=CONFIG, n_envs=1,
                     episode_len=len(DECISIONS), dtype=torch.float64, account_step=account_step)
    obs = env.reset()
    assert int(env.bar_index[0]) == FIRST
    fills, left_feature, equity = [], {}, {}
    for a in DECISIONS:
        t = int(env.bar_index[0])
        left_feature[t] = float(obs[0, -1])  # day trades left / 3, the last account feature
        assert float(obs[0, -1]) * 3 == int(env.account_state()["day_trades_left"][0])
        obs, _, _, info = env.step(torch.tensor([a]))
        fills.append({k: v[0] for k, v in info["fill"].items()})
        equity[t] = float(info["equity"][0])
    _check_outcome(fills, equity[TUESDAY - 1], round(left_feature[TUESDAY] * 3))


def test_reference_account():
    bars = straddle_bars()
    ref = ReferenceAccount(ReferenceMarket.from_bars(bars, "on"), CONFIG.account, CONFIG.friction).reset(FIRST)
    names = action_names(CONFIG.account)
    fills, left, equity = [], {}, {}
    for a in DECISIONS:
        left[ref.t] = ref.state()["day_trades_left"]
        fills.append(ref.step(names[a]))
        equity[ref.t - 1] = ref.equity
    _check_outcome(fills, equity[TUESDAY - 1], left[TUESDAY])
