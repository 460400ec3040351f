"""Simulator: a hand-computed week, invariants (hypothesis), step API = stream API, caps and codes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import (REASON_CASH, REASON_MAX_POSITION, REASON_MIN_SIZE, REASON_NOTHING_TO_SELL,
                              REASON_VOLUME_CAP, AccountConfig)
from backtest.costs import CommissionModel, FrictionConfig, ImpactModel, SlippageModel, SpreadModel, VolumeCap
from backtest.errors import ConfigError
from backtest.rng import uniform
from backtest.simulator import SimConfig, Simulator, simulate
from backtest.state import ACCOUNT_STATE_DTYPE
from backtest.trades import EQUITY_CSV_COLUMNS, STATUS_FILLED, STATUS_REJECTED, TRADES_CSV_COLUMNS
from tests.sim_bars import make_bars
from tests.strategies import bars_strategy

WEEK = [f"2025-03-{d} 14:30" for d in range(10, 15)]
HOLD, BUY25, BUY50, BUY75, SELL25, SELL50, SELL75, CLOSE = range(8)
ACCT8 = AccountConfig(include_close_action=True)


def _week_friction():
    return FrictionConfig(slippage=SlippageModel(0.001), spread=SpreadModel(0.0004),
                          impact=ImpactModel(mode="portfolio", k=0.01),
                          commission=CommissionModel(per_share=0.01, per_order=1.0, per_notional=0.0005))


def test_hand_computed_week():
    opens, closes = [100.0, 102.0, 101.0, 104.0, 103.0], [101.0, 101.5, 103.0, 103.5, 105.0]
    bars = make_bars(WEEK, opens, closes, timeframe="1D")
    cfg = SimConfig(account=AccountConfig(initial_equity=10_000.0, include_close_action=True),
                    friction=_week_friction(), pdt="off", seed=7)
    r = simulate(bars, [BUY50, BUY75, SELL50, HOLD, CLOSE], cfg)
    u = [uniform(7, t) for t in range(5)]
    cash, lots, fills, trades = 10_000.0, [], [], []

    def costs(t, q, side, equity):
        o = opens[t]
        slip, half, imp = 0.001 * u[t], 0.0002, 0.01 * math.sqrt(q * o / equity)
        px = o * (1 + side * (slip + half + imp))
        comm = 1.0 + 0.01 * q + 0.0005 * q * px
        return px, (q * o * slip, q * o * half, q * o * imp, comm)

    # Monday: BUY_50 -> 10,000 * 0.105 * 0.5 = 525 of notional = 5.25 shares at 100
    q0 = 10_000.0 * 0.105 * 0.5 / 100.0
    px0, c0 = costs(0, q0, 1, 10_000.0)
    cash -= q0 * px0 + c0[3]
    lots.append([q0, 100.0, px0, [c / q0 for c in c0]])
    # Tuesday: BUY_75 of equity at the open
    e1 = cash + q0 * 102.0
    q1 = e1 * 0.105 * 0.75 / 102.0
    assert (q0 + q1) * 102.0 < 0.2 * e1  # under the max position
    px1, c1 = costs(1, q1, 1, e1)
    cash -= q1 * px1 + c1[3]
    lots.append([q1, 102.0, px1, [c / q1 for c in c1]])
    # Wednesday: SELL_50 of the position: all of lot 0 and part of lot 1 (FIFO)
    pos = q0 + q1
    e2 = cash + pos * 101.0
    q2 = 0.5 * pos
    px2, c2 = costs(2, q2, -1, e2)
    cash += q2 * px2 - c2[3]
    m1 = q2 - q0
    gross = q2 * 101.0 - (q0 * 100.0 + m1 * 102.0)
    alloc = [c2[i] + q0 * lots[0][3][i] + m1 * lots[1][3][i] for i in range(4)]
    trades.append((q2, (q0 * px0 + m1 * px1) / q2, px2, gross, alloc))
    # Friday: CLOSE the rest of lot 1
    pos -= q2
    e4 = cash + pos * 103.0
    px4, c4 = costs(4, pos, -1, e4)
    cash += pos * px4 - c4[3]
    alloc = [c4[i] + pos * lots[1][3][i] for i in range(4)]
    trades.append((pos, px1, px4, pos * (103.0 - 102.0), alloc))

    f = r.fills
    assert list(f["status"]) == [STATUS_FILLED] * 4 and list(f["bar"]) == [0, 1, 2, 4]
    np.testing.assert_allclose(f["qty"], [q0, q1, q2, pos], rtol=1e-12)
    np.testing.assert_allclose(f["exec_price"], [px0, px1, px2, px4], rtol=1e-12)
    for i, name in enumerate(("slippage", "spread", "impact", "commission")):
        np.testing.assert_allclose(f[name], [c0[i], c1[i], c2[i], c4[i]], rtol=1e-12)
        np.testing.assert_allclose(r.trades[name], [t[4][i] for t in trades], rtol=1e-12)
    assert q0 == pytest.approx(5.25) and f["spread"][0] == pytest.approx(525 * 0.0002)
    assert f["impact_model"].tolist() == [2, 2, 2, 2]
    tr = r.trades
    np.testing.assert_allclose(tr["quantity"], [t[0] for t in trades], rtol=1e-12)
    np.testing.assert_allclose(tr["entry_price"], [t[1] for t in trades], rtol=1e-12)
    np.testing.assert_allclose(tr["exit_price"], [t[2] for t in trades], rtol=1e-12)
    np.testing.assert_allclose(tr["gross_pnl"], [t[3] for t in trades], rtol=1e-12)
    net = [t[3] - sum(t[4]) for t in trades]
    np.testing.assert_allclose(tr["net_pnl"], net, rtol=1e-12)
    assert r.cash[-1] == pytest.approx(cash, rel=1e-13) and r.position[-1] == 0.0
    assert r.equity[-1] - 10_000.0 == pytest.approx(sum(net), rel=1e-9)
    assert tr["entry_time"][0] == np.datetime64("2025-03-10T14:30")


def test_frames_have_the_documented_columns(tmp_path):
    bars = make_bars(WEEK, [100.0, 102.0, 101.0, 104.0, 103.0], timeframe="1D")
    r = simulate(bars, [BUY50, HOLD, SELL75, HOLD, CLOSE], SimConfig(account=ACCT8))
    assert tuple(r.trades_frame().columns) == TRADES_CSV_COLUMNS
    eq = r.equity_frame()
    assert tuple(eq.columns) == EQUITY_CSV_COLUMNS and list(eq["action"])[:2] == ["BUY_50", "HOLD"]
    assert str(r.trades_frame()["entry_time"].dt.tz) == "UTC" and len(r.trades_frame()) == 2


def test_rejection_and_clipping_codes():
    bars = make_bars(WEEK, [100.0] * 5, volume=[1e6, 1e6, 1e6, 0.0, 1e6], timeframe="1D")
    fr = FrictionConfig.zero()
    r = simulate(bars, [SELL25, BUY75, BUY75, BUY75, BUY75], SimConfig(friction=fr))
    assert r.fills["reason"][0] == REASON_NOTHING_TO_SELL and r.fills["status"][0] == STATUS_REJECTED
    assert r.fills["reason"][3] == REASON_MAX_POSITION and r.fills["status"][3] == STATUS_FILLED
    assert r.fills["status"][4] == STATUS_REJECTED and r.fills["reason"][4] == REASON_MAX_POSITION
    assert r.position[-1] * 100.0 == pytest.approx(0.2 * r.equity[-1])
    capped = simulate(bars, [BUY75] * 5, SimConfig(friction=FrictionConfig(volume_cap=VolumeCap(1e-7))))
    # the cap measures the previous bar's volume (known at the open): none before bar 0
    assert capped.fills["reason"][0] == REASON_VOLUME_CAP and capped.fills["status"][0] == STATUS_REJECTED
    assert capped.fills["reason"][1] == REASON_VOLUME_CAP and capped.fills["qty"][1] == pytest.approx(0.1)
    assert capped.fills["status"][3] == STATUS_FILLED  # bar 3 trades nothing itself, but bar 2 traded 1e6
    assert capped.fills["status"][4] == STATUS_REJECTED  # after the zero-volume bar
    whole = simulate(bars, [BUY25] * 5, SimConfig(friction=fr, account=AccountConfig(fractional=False)))
    assert np.all(whole.fills["reason"] == REASON_MIN_SIZE)  # 26.25 of notional < one share at 100
    fee = FrictionConfig(slippage=SlippageModel(0.0), spread=SpreadModel(0.0), impact=ImpactModel(mode="none"),
                         commission=CommissionModel(per_order=1.0))
    poor = simulate(bars, [BUY75] * 5, SimConfig(friction=fee, account=AccountConfig(max_position=1.0,
                                                                                      safety_buffer=0.0,
                                                                                      base_allocation=1.0)))
    assert REASON_CASH in poor.fills["reason"] and poor.cash.min() >= 0.0


THREE_WEEKS = [f"2025-03-{d} 14:30" for d in (10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24, 25)]


def test_min_order_notional_sells_the_dust_and_rejects_tiny_buys():
    """SELL 25% again and again: without the rule the position shrinks forever (dust trades);
    with it, the sell that would leave less than min_order_notional sells everything."""
    bars = make_bars(THREE_WEEKS, [100.0] * 12, timeframe="1D")
    actions = [BUY75] + [SELL25] * 11

    def run(min_notional):
        acct = AccountConfig(min_order_notional=min_notional)
        return simulate(bars, actions, SimConfig(friction=FrictionConfig.zero(), account=acct))

    dusty, clean = run(0.0), run(10.0)
    assert dusty.position[-1] > 0.0 and len(dusty.trades) == 11  # 78.75 * 0.75**11 = 3.3 left
    # 78.75 * 0.75**8 = 7.9 < 10: the 8th sell takes everything, the rest have nothing to sell
    assert clean.position[8] == 0.0 and clean.position[-1] == 0.0 and len(clean.trades) == 8
    assert clean.fills["qty"][8] == pytest.approx(0.7875 * 0.75**7)
    assert np.all(clean.fills["reason"][9:] == REASON_NOTHING_TO_SELL)
    assert np.allclose(clean.trades["entry_price"], 100.0) and clean.equity[-1] == pytest.approx(1000.0)
    tiny = simulate(bars, [BUY25] * 3, SimConfig(friction=FrictionConfig.zero(),
                                                 account=AccountConfig(min_order_notional=50.0)))
    assert np.all(tiny.fills["reason"] == REASON_MIN_SIZE) and tiny.position[-1] == 0.0  # 26.25 < 50


def test_short_side_and_cover():
    bars = make_bars(WEEK, [100.0, 100.0, 90.0, 90.0, 90.0], timeframe="1D")
    cfg = SimConfig(account=AccountConfig(allow_short=True, include_close_action=True),
                    friction=FrictionConfig.zero())
    r = simulate(bars, [SELL50, HOLD, BUY50, HOLD, CLOSE], cfg)
    assert r.fills["position_after"][0] == pytest.approx(-0.525)
    assert list(r.trades["side"]) == [-1, -1]
    assert r.trades["gross_pnl"].sum() == pytest.approx(0.525 * 10.0)
    assert r.equity[-1] == pytest.approx(1000.0 + 5.25)


def test_config_and_input_errors():
    bars = make_bars(WEEK, [100.0] * 5, timeframe="1D")
    with pytest.raises(ConfigError, match="action ids"):
        simulate(bars, [0, 9, 0, 0, 0])
    with pytest.raises(ConfigError, match="run past"):
        simulate(bars, [0] * 6)
    with pytest.raises(ConfigError, match="seed"):
        SimConfig(seed=-1)
    sim = Simulator(bars)
    for _ in range(5):
        sim.step(HOLD)
    with pytest.raises(ConfigError, match="no bars left"):
        sim.step(HOLD)


def _random_actions(n, seed, n_actions=8, hold=0.5):
    rng = np.random.default_rng(seed)
    p = np.full(n_actions, (1 - hold) / (n_actions - 1))
    p[0] = hold
    return rng.choice(n_actions, size=n, p=p)


@settings(max_examples=20)
@given(bars=bars_strategy(min_bars=5, max_bars=200), seed=st.integers(0, 2**31))
def test_zero_friction_accounting(bars, seed):
    acts = _random_actions(len(bars), seed)
    r = simulate(bars, acts, SimConfig(account=ACCT8, friction=FrictionConfig.zero(), pdt="off"), close_at_end=True)
    np.testing.assert_allclose(r.equity, r.cash + r.position * bars.close, rtol=0, atol=1e-9)
    assert r.position[-1] == 0.0
    assert r.trades["net_pnl"].sum() == pytest.approx(r.equity[-1] - 1000.0, abs=1e-9 * 1000)
    np.testing.assert_array_equal(r.trades["net_pnl"], r.trades["gross_pnl"])


@settings(max_examples=20)
@given(bars=bars_strategy(min_bars=5, max_bars=200), seed=st.integers(0, 2**31), short=st.booleans())
def test_invariants_with_full_friction(bars, seed, short):
    fr = FrictionConfig.for_asset_class(bars.asset_class,
                                        commission=CommissionModel(per_share=0.005, per_order=0.5, per_notional=0.001))
    acct = AccountConfig(include_close_action=True, allow_short=short)
    acts = _random_actions(len(bars), seed, hold=0.3)
    r = simulate(bars, acts, SimConfig(account=acct, friction=fr, seed=seed, pdt="off"), close_at_end=True)
    f = r.fills
    filled = f[f["status"] == STATUS_FILLED]
    for c in ("slippage", "spread", "impact", "commission"):
        assert np.all(filled[c] >= 0.0) and np.all(r.trades[c] >= 0.0)
    # net P&L of all trades = final - initial equity (positions closed at the end)
    assert r.trades["net_pnl"].sum() == pytest.approx(r.equity[-1] - 1000.0, abs=1e-9 * 1000)
    if not short:
        assert np.all(f["cash_after"] >= 0.0) and np.all(r.cash >= 0.0)
    # right after a buy that increases the position: |position| * open <= max_position * equity at the open
    inc = filled[(filled["side"] == 1) & (filled["position_after"] > 0)]
    pos_before = inc["position_after"] - inc["qty"]
    cash_before = inc["cash_after"] + inc["qty"] * inc["exec_price"] + inc["commission"]
    e_open = cash_before + pos_before * inc["ref_price"]
    assert np.all(inc["position_after"] * inc["ref_price"] <= 0.2 * e_open * (1 + 1e-12) + 1e-12)


@settings(max_examples=15)
@given(bars=bars_strategy(min_bars=5, max_bars=150), seed=st.integers(0, 2**31))
def test_step_api_equals_stream_api(bars, seed):
    cfg = SimConfig(account=ACCT8, seed=seed, pdt="on")
    acts = _random_actions(len(bars), seed, hold=0.3)
    start = int(seed % max(1, len(bars) // 3))
    stream = simulate(bars, acts[start:], cfg, start=start)
    sim = Simulator(bars, cfg)
    state = sim.reset(start)
    assert state.dtype == ACCOUNT_STATE_DTYPE and state["cash"] == 1000.0 and state["day_trades_left"] == 3
    fills, eq = [], []
    for a in acts[start:]:
        fill = sim.step(a)
        if a != HOLD:
            fills.append(fill)
        st_ = sim.account_state()
        eq.append(st_["cash"] + st_["position"] * st_["mark_price"])
    np.testing.assert_array_equal(np.array(fills, dtype=stream.fills.dtype), stream.fills)
    np.testing.assert_array_equal(np.array(sim.trades, dtype=stream.trades.dtype), stream.trades)
    np.testing.assert_array_equal(np.array(eq), stream.equity)
    np.testing.assert_array_equal(sim.state["cash"], stream.cash[-1])


def test_same_seed_same_result_and_seed_matters():
    bars = make_bars([f"2025-03-{d} 14:30" for d in range(10, 15)], [100.0, 101, 102, 103, 104], timeframe="1D")
    a = simulate(bars, [BUY50, SELL25, BUY25, SELL50, HOLD], SimConfig(seed=1))
    b = simulate(bars, [BUY50, SELL25, BUY25, SELL50, HOLD], SimConfig(seed=1))
    c = simulate(bars, [BUY50, SELL25, BUY25, SELL50, HOLD], SimConfig(seed=2))
    np.testing.assert_array_equal(a.equity, b.equity)
    assert not np.array_equal(a.fills["slippage"], c.fills["slippage"])


def test_lot_ring_overflow_merges_and_keeps_accounting():
    times = [f"2025-03-{d:02d} 14:30" for d in (3, 4, 5, 6, 7, 10, 11, 12)]
    opens = [100.0, 101.0, 99.0, 102.0, 103.0, 104.0, 100.0, 105.0]
    bars = make_bars(times, opens, timeframe="1D")
    cfg = SimConfig(account=AccountConfig(max_position=1.0, include_close_action=True),
                    friction=FrictionConfig.for_asset_class("crypto"), pdt="off", lot_capacity=2)
    r = simulate(bars, [BUY25, BUY25, BUY25, BUY25, SELL25, BUY25, HOLD, CLOSE], cfg)
    ref = simulate(bars, [BUY25, BUY25, BUY25, BUY25, SELL25, BUY25, HOLD, CLOSE],
                   SimConfig(account=cfg.account, friction=cfg.friction, pdt="off", lot_capacity=64))
    np.testing.assert_array_equal(r.equity, ref.equity)  # lots never change the account
    assert r.trades["net_pnl"].sum() == pytest.approx(r.equity[-1] - 1000.0, rel=1e-9)
    assert r.trades["quantity"].sum() == pytest.approx(r.fills["qty"][r.fills["side"] == 1].sum(), rel=1e-12)
    assert r.trades["entry_time"][0] == ref.trades["entry_time"][0]


@settings(max_examples=10)
@given(bars=bars_strategy(min_bars=5, max_bars=120), seed=st.integers(0, 2**31))
def test_whole_shares_are_integers(bars, seed):
    acct = AccountConfig(initial_equity=1e6, fractional=False, include_close_action=True)
    r = simulate(bars, _random_actions(len(bars), seed), SimConfig(account=acct, seed=seed))
    assert np.all(r.fills["qty"] == np.floor(r.fills["qty"])) and np.all(r.position == np.floor(r.position))
    assert np.all(r.cash >= 0.0)


def test_volume_cap_sees_only_volume_known_before_the_fill():
    """Every fill is capped at max_share x the PREVIOUS bar's volume; volumes alternate by
    a factor of 1000, so using the fill bar's own volume would give other quantities."""
    days = [f"2025-03-{d} 14:30" for d in (10, 11, 12, 13, 14, 17, 18, 19)]
    vol = np.array([1e6, 1e3] * 4)
    bars = make_bars(days, [100.0] * 8, volume=vol, timeframe="1D")
    acct = AccountConfig(initial_equity=1e6, max_position=1.0)
    cfg = SimConfig(account=acct, friction=FrictionConfig(volume_cap=VolumeCap(1e-4)), pdt="off")
    r = simulate(bars, [HOLD] + [BUY25] * 7, cfg)
    f = r.fills
    assert list(f["bar"]) == list(range(1, 8)) and np.all(f["reason"] == REASON_VOLUME_CAP)
    np.testing.assert_array_equal(f["qty"], 1e-4 * vol[:-1])  # bar t gets volume[t-1], not volume[t]
    assert not np.array_equal(f["qty"], 1e-4 * vol[1:])


def test_scaled_friction_zero_is_frictionless_and_costs_scale_linearly():
    """`FrictionConfig.scaled(m)`: 0x fills at the open with no cost; for a fill whose quantity
    no cap sets, slippage, spread and impact are m times the 1x amounts and commission is
    m times its terms (per-notional on the fill's own executed notional)."""
    from backtest.sample_data import generate_equity_bars

    bars = generate_equity_bars("SCL", "2023-01-03", "2023-03-01", seed=4)
    base = FrictionConfig.for_asset_class("equity", commission=CommissionModel(per_share=0.005, per_order=0.5,
                                                                               per_notional=0.0002))
    acts = [BUY75] + [HOLD] * 5 + [CLOSE]
    start = 26 * 25  # after 20+ sessions: the square-root law has its history
    runs = {m: simulate(bars, acts, SimConfig(account=ACCT8, friction=base.scaled(m), seed=3), start=start)
            for m in (0.0, 0.5, 1.0, 2.0, 3.0)}
    zero = runs[0.0].fills
    assert np.array_equal(zero["exec_price"], zero["ref_price"])
    assert all(float(zero[c].sum()) == 0.0 for c in ("slippage", "spread", "impact", "commission"))
    assert runs[0.0].trades["net_pnl"][0] == runs[0.0].trades["gross_pnl"][0]
    one = runs[1.0].fills
    assert np.all(one["impact_model"] == 1) and np.all(one["impact"] > 0)  # sqrt law in play
    for m in (0.5, 2.0, 3.0):
        f = runs[m].fills
        np.testing.assert_array_equal(f["qty"], one["qty"])
        for c in ("slippage", "spread", "impact"):
            np.testing.assert_allclose(f[c], m * one[c], rtol=1e-12)
        np.testing.assert_allclose(f["commission"], m * (0.5 + 0.005 * f["qty"] + 0.0002 * f["qty"] * f["exec_price"]),
                                   rtol=1e-12)
        total = sum(float(f[c].sum()) for c in ("slippage", "spread", "impact", "commission"))
        total1 = sum(float(one[c].sum()) for c in ("slippage", "spread", "impact", "commission"))
        assert total == pytest.approx(m * total1, rel=1e-4)
