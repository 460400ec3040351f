"""Pattern-day-trader rule: known-answer weeks, exemptions and the rolling-window invariant."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig, REASON_PDT
from backtest.costs import FrictionConfig
from backtest.errors import ConfigError
from backtest.pdt import NO_SESSION, day_trades_in_window, day_trades_left, pdt_applies
from backtest.simulator import SimConfig, Simulator, simulate
from backtest.trades import STATUS_FILLED, STATUS_REJECTED
from tests.sim_bars import session_bars
from tests.strategies import bars_strategy

CLOSE_CFG = AccountConfig(include_close_action=True)
BUY50, CLOSE = 2, 7


def _round_trips(bars, config):
    """BUY_50 at each session's first bar, CLOSE at its second."""
    actions = np.tile([BUY50, CLOSE], len(bars) // 2)
    return simulate(bars, actions, config)


def _close_status(result):
    closes = result.fills[result.fills["action"] == CLOSE]
    return closes["status"], closes["reason"]


@pytest.mark.parametrize("dates", [
    ["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14"],  # plain Mon..Fri
    ["2025-01-17", "2025-01-21", "2025-01-22", "2025-01-23", "2025-01-24"],  # Fri, (MLK Mon), Tue..Fri
])
def test_fourth_and_fifth_day_trade_rejected(dates):
    bars = session_bars(dates)
    assert np.all(np.diff(bars.session_index[::2]) == 1)  # consecutive business days
    result = _round_trips(bars, SimConfig(account=CLOSE_CFG, friction=FrictionConfig.zero(), pdt="auto"))
    status, reason = _close_status(result)
    assert list(status) == [STATUS_FILLED] * 3 + [STATUS_REJECTED] * 2
    assert list(reason[3:]) == [REASON_PDT, REASON_PDT]
    assert result.pdt_rejections == 2
    assert int(result.fills["day_trade"].sum()) == 3
    assert np.all(result.fills[result.fills["action"] == BUY50]["status"] == STATUS_FILLED)


def test_holiday_gap_counts_business_days_not_calendar_days():
    # Thu 2025-07-03, (Fri 07-04 holiday), Mon 07-07, Tue 07-08, Wed 07-09: the 4th day trade on
    # Wed is 6 calendar days after the 1st but within 5 sessions, so it is refused.
    bars = session_bars(["2025-07-03", "2025-07-07", "2025-07-08", "2025-07-09", "2025-07-17"])
    result = _round_trips(bars, SimConfig(account=CLOSE_CFG, friction=FrictionConfig.zero()))
    status, _ = _close_status(result)
    assert list(status) == [STATUS_FILLED] * 3 + [STATUS_REJECTED, STATUS_FILLED]


@pytest.mark.parametrize("case", ["rich", "repealed", "crypto", "off"])
def test_exemptions_never_reject(case):
    dates = ["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14"]
    acct, pdt, asset = CLOSE_CFG, "auto", "equity"
    if case == "rich":
        acct = AccountConfig(initial_equity=100_000.0, include_close_action=True)
    elif case == "repealed":
        dates = ["2026-06-08", "2026-06-09", "2026-06-10", "2026-06-11", "2026-06-12"]
    elif case == "crypto":
        asset = "crypto"
    else:
        pdt = "off"
    bars = session_bars(dates, asset_class=asset)
    result = _round_trips(bars, SimConfig(account=acct, friction=FrictionConfig.zero(), pdt=pdt))
    status, _ = _close_status(result)
    assert np.all(status == STATUS_FILLED) and result.pdt_rejections == 0


def test_day_trades_left_in_account_state():
    bars = session_bars(["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13"])
    sim = Simulator(bars, SimConfig(account=CLOSE_CFG, friction=FrictionConfig.zero()))
    seen = [int(sim.reset(0)["day_trades_left"])]
    for a in [BUY50, CLOSE] * 4:
        sim.step(a)
        if sim.t < len(bars):
            seen.append(int(sim.account_state()["day_trades_left"]))
    assert seen == [3, 3, 2, 2, 1, 1, 0, 0]
    rich = Simulator(bars, SimConfig(account=AccountConfig(initial_equity=1e5, include_close_action=True)))
    for a in [BUY50, CLOSE] * 3:
        rich.step(a)
    assert int(rich.account_state()["day_trades_left"]) == 3  # rule does not bind


def test_window_helpers():
    assert day_trades_in_window(10, NO_SESSION, 5, 7) == 1
    assert day_trades_in_window(10, 6, 8, 10) == 3
    assert day_trades_left(False, 10, 8, 9, 10) == 3
    assert day_trades_left(True, 10, 8, 9, 10) == 0
    assert day_trades_left(True, 14, 8, 9, 10) == 2


def test_modes_and_validation():
    bars = session_bars(["2026-06-03", "2026-06-04"])
    assert list(pdt_applies(bars, "auto")) == [True, True, False, False]
    assert pdt_applies(bars, "on").all() and not pdt_applies(bars, "off").any()
    with pytest.raises(ConfigError, match="pdt mode"):
        SimConfig(pdt="sometimes")


@settings(max_examples=15)
@given(bars=bars_strategy(asset_class="equity", min_bars=30, max_bars=250, timeframes=("15min", "30min", "1h")),
       seed=st.integers(0, 2**31))
def test_no_window_holds_more_than_three_day_trades(bars, seed):
    """Equity below 25,000: every 5-session window has at most 3 day trades."""
    rng = np.random.default_rng(seed)
    actions = rng.choice(8, size=len(bars), p=[0.3, 0.15, 0.1, 0.05, 0.1, 0.1, 0.05, 0.15])
    r = simulate(bars, actions, SimConfig(account=CLOSE_CFG, pdt="on", seed=seed))
    sessions = bars.session_index[r.fills["bar"][r.fills["day_trade"]]]
    for s in np.unique(sessions):
        assert np.count_nonzero((sessions >= s) & (sessions <= s + 4)) <= 3
    rich = simulate(bars, actions, SimConfig(account=AccountConfig(initial_equity=1e6, include_close_action=True),
                                             pdt="on", seed=seed))
    assert rich.pdt_rejections == 0


@settings(max_examples=10)
@given(bars=st.sampled_from(["crypto", "fx"]).flatmap(
           lambda ac: bars_strategy(asset_class=ac, min_bars=20, max_bars=200, timeframes=("15min", "1h"))),
       seed=st.integers(0, 2**31), mode=st.sampled_from(["auto", "on"]))
def test_crypto_and_fx_exempt(bars, seed, mode):
    actions = np.random.default_rng(seed).choice(8, size=len(bars), p=[0.2] + [0.8 / 7] * 7)
    r = simulate(bars, actions, SimConfig(account=CLOSE_CFG, pdt=mode, seed=seed))
    assert r.pdt_rejections == 0 and not r.fills["day_trade"].any()
