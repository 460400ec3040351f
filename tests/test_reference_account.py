"""Execution against an independent reference (`tests/reference_account.py`).

The simulator's kernel, the env's kernel account step (the CPU training default) and the
env's torch mirror (the GPU path) are each compared with a plain-Python account written
from DESIGN 3.3-3.5, bar by bar: every fill field, cash, position, equity, the account
state the policy sees (day trades left included), PDT rejections, trades, and, for the
env, the account features of each observation and the reward by value (components and
total, `models.reward`). Accounts near the 25,000 PDT threshold with ``max_position=1.0``
are drawn often, so the previous close, the last mark and the open's equity straddle it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import (CommissionModel, FrictionConfig, ImpactModel, SlippageModel, SpreadModel, VolumeCap,
                            impact_inputs)
from backtest.features import FeatureSchema
from backtest.features.pipeline import default_specs
from backtest.simulator import SimConfig, Simulator, market_inputs, simulate
from models.env import TradingEnv
from models.reward import RewardConfig
from tests.reference_account import (ReferenceAccount, ReferenceMarket, action_names, reference_account_features,
                                     reference_impact_inputs, reference_reward)
from tests.strategies import bars_strategy, day_trader_probs, near_pdt_accounts, pdt_straddle_bars

FILL_FLOATS = ("requested_qty", "qty", "ref_price", "exec_price", "slippage", "spread", "impact", "commission",
               "cash_after", "position_after")
FILL_INTS = ("bar", "side", "status", "reason", "impact_model", "day_trade")
TRADE_FIELDS = ("entry_bar", "exit_bar", "side", "quantity", "entry_price", "exit_price", "gross_pnl", "slippage",
                "spread", "impact", "commission", "net_pnl", "return")
STATE_FIELDS = ("cash", "position", "entry_price", "mark_price", "bars_in_position", "day_trades_left")
SHORT_SPECS = tuple(s for s in default_specs() if s.lookback <= 1)
INTRADAY = ("5min", "15min", "30min", "1h")


@st.composite
def accounts(draw):
    """Half the time an account straddling the PDT threshold, else a small or large one."""
    if draw(st.booleans()):
        return draw(near_pdt_accounts())
    fractional = draw(st.booleans())
    return AccountConfig(initial_equity=draw(st.sampled_from([150.0, 1000.0, 3000.0, 30_000.0])),
                         max_position=draw(st.sampled_from([0.2, 0.5, 1.0])), allow_short=draw(st.booleans()),
                         fractional=fractional, include_close_action=draw(st.booleans()),
                         min_order_notional=draw(st.sampled_from([0.0, 1.0, 25.0])))


@st.composite
def frictions(draw):
    impact = ImpactModel(mode=draw(st.sampled_from(["auto", "portfolio", "none"])), lookback=5,
                         min_sessions=draw(st.sampled_from([2, 5])))
    commission = draw(st.sampled_from([CommissionModel(), CommissionModel(per_notional=0.0025),
                                       CommissionModel(per_share=0.005, per_order=0.2, per_notional=0.0003),
                                       # a minimum that binds below 400 of notional; IBKR-Pro-like per share,
                                       # 1.0 minimum, 1% maximum; a cash maximum binding above 500
                                       CommissionModel(per_notional=0.0025, min_per_order=1.0),
                                       CommissionModel(per_share=0.005, min_per_order=1.0, max_per_notional=0.01),
                                       CommissionModel(per_notional=0.001, min_per_order=0.1, max_per_order=0.5)]))
    return FrictionConfig(slippage=SlippageModel(draw(st.sampled_from([0.0, 0.0004, 0.002])),
                                                 mode=draw(st.sampled_from(["uniform", "fixed"]))),
                          spread=SpreadModel(draw(st.sampled_from([0.0, 0.0003, 0.002]))), impact=impact,
                          commission=commission, volume_cap=VolumeCap(draw(st.sampled_from([0.0, 0.0, 0.001]))))


@st.composite
def sim_configs(draw):
    return SimConfig(account=draw(accounts()), friction=draw(frictions()),
                     pdt=draw(st.sampled_from(["on", "on", "auto", "off"])), seed=draw(st.integers(0, 2**40)),
                     lot_capacity=4096)


def any_bars(min_bars=8, max_bars=120):
    return st.one_of(bars_strategy(asset_class="equity", min_bars=min_bars, max_bars=max_bars,
                                   timeframes=INTRADAY + ("1D",)),
                     bars_strategy(asset_class="equity", min_bars=min_bars, max_bars=max_bars, timeframes=INTRADAY),
                     bars_strategy(asset_class="crypto", min_bars=min_bars, max_bars=max_bars),
                     bars_strategy(asset_class="fx", min_bars=min_bars, max_bars=max_bars))


def reference_for(bars, cfg: SimConfig) -> ReferenceAccount:
    m = market_inputs(bars, cfg)  # sigma/adv only (see tests/reference_account.py); the rest is recomputed
    market = ReferenceMarket.from_bars(bars, cfg.pdt, m.sigma, m.adv)
    return ReferenceAccount(market, cfg.account, cfg.friction_for(bars.asset_class), cfg.seed)


def random_actions(seed: int, n_actions: int, size, p=None) -> np.ndarray:
    p = np.array([0.25] + [0.75 / (n_actions - 1)] * (n_actions - 1)) if p is None else np.asarray(p)
    return np.random.default_rng(seed).choice(n_actions, size=size, p=p)


def same(got, want, what: str) -> None:
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), f"{what}: got {got!r}, reference nan"
    else:
        assert got == want, f"{what}: got {got!r}, reference {want!r}"


def check_fill(got, want: dict, where: str) -> None:
    for name in FILL_FLOATS:
        same(float(got[name]), want[name], f"{where} fill {name}")
    for name in FILL_INTS:
        same(int(got[name]), int(want[name]), f"{where} fill {name}")


def check_state(got, want: dict, where: str) -> None:
    for name in STATE_FIELDS:
        same(float(got[name]), float(want[name]), f"{where} state {name}")


@given(bars=any_bars(), cfg=sim_configs(), data=st.data())
def test_simulator_matches_reference(bars, cfg, data):
    """Step API and whole-run API against the reference: fills, states, series, trades."""
    t0 = data.draw(st.integers(0, len(bars) - 2), label="t0")
    actions = random_actions(data.draw(st.integers(0, 2**31), label="actions"), cfg.account.action_space.n,
                             len(bars) - t0)
    check_simulator(bars, cfg, t0, actions)


def check_simulator(bars, cfg: SimConfig, t0: int, actions: np.ndarray) -> None:
    names = action_names(cfg.account)
    sim, ref = Simulator(bars, cfg), reference_for(bars, cfg)
    sim.reset(t0)
    ref.reset(t0)
    for a in actions:
        where = f"bar {sim.t} action {names[a]}"
        check_state(sim.account_state(), ref.state(), where)
        check_fill(sim.step(int(a)), ref.step(names[a]), where)
        assert sim.state["pdt_rejections"] == ref.pdt_rejections, where

    result = simulate(bars, actions, cfg, start=t0, close_at_end=True)
    ref.reset(t0)
    executed = [names[a] for a in actions[:-1]] + ["CLOSE"]
    fills, equity, cash, position = [], [], [], []
    for name in executed:
        rec = ref.step(name)
        if name != "HOLD":
            fills.append(rec)
        equity.append(ref.equity)
        cash.append(ref.cash)
        position.append(ref.position)
    assert np.array_equal(result.equity, equity) and np.array_equal(result.cash, cash)
    assert np.array_equal(result.position, position)
    assert len(result.fills) == len(fills) and result.pdt_rejections == ref.pdt_rejections
    for got, want in zip(result.fills, fills):
        check_fill(got, want, f"simulate bar {want['bar']}")
    assert len(result.trades) == len(ref.trades)
    for got, want in zip(result.trades, ref.trades):
        for name in TRADE_FIELDS:
            same(float(got[name]), float(want[name]), f"trade exit bar {want['exit_bar']} {name}")


@pytest.mark.parametrize("account_step", ["kernel", "torch"])
@given(bars=any_bars(min_bars=10, max_bars=90), cfg=sim_configs(), seed=st.integers(0, 2**31),
       n_envs=st.integers(1, 3), episode_len=st.integers(2, 40))
def test_env_matches_reference(account_step, bars, cfg, seed, n_envs, episode_len):
    """TradingEnv (float64) against one reference account per env: fills, money, state,
    account features in every observation and the reward by value."""
    check_env(account_step, bars, cfg, seed, n_envs, episode_len)


@st.composite
def straddle_configs(draw):
    return SimConfig(account=draw(near_pdt_accounts()), friction=draw(frictions()), pdt="on",
                     seed=draw(st.integers(0, 2**40)), lot_capacity=4096)


@settings(max_examples=40)
@given(bars=pdt_straddle_bars(), cfg=straddle_configs(), seed=st.integers(0, 2**31))
def test_simulator_matches_reference_across_the_pdt_threshold(bars, cfg, seed):
    """A day trader near 25,000 on bars that cross it: every PDT decision as the reference."""
    check_simulator(bars, cfg, 0, random_actions(seed, cfg.account.action_space.n, len(bars),
                                                 day_trader_probs(cfg.account.action_space.n)))


@pytest.mark.parametrize("account_step", ["kernel", "torch"])
@settings(max_examples=40)
@given(bars=pdt_straddle_bars(), cfg=straddle_configs(), seed=st.integers(0, 2**31), n_envs=st.integers(1, 3))
def test_env_matches_reference_across_the_pdt_threshold(account_step, bars, cfg, seed, n_envs):
    """The env's account step and day-trades-left feature for a day trader near 25,000."""
    check_env(account_step, bars, cfg, seed, n_envs, len(bars), day_trader_probs(cfg.account.action_space.n))


def check_env(account_step, bars, cfg: SimConfig, seed: int, n_envs: int, episode_len: int, probs=None) -> None:
    schema = FeatureSchema(features=SHORT_SPECS, window=2)
    first = schema.warmup_bars
    ep = max(1, min(episode_len, len(bars) - first))
    reward_cfg = RewardConfig()
    env = TradingEnv(np.zeros((len(bars), schema.n_market)), bars, schema, sim_config=cfg, n_envs=n_envs,
                     episode_len=ep, dtype=torch.float64, seed=seed, account_step=account_step, reward=reward_cfg)
    names = action_names(cfg.account)
    max_pos = cfg.account.max_position
    initial = float(cfg.account.initial_equity)
    obs = env.reset()
    refs = [reference_for(bars, cfg).reset(int(env.bar_index[b])) for b in range(n_envs)]
    peaks = [initial] * n_envs

    def check_obs(row, ref, where):
        got = row[env.market_dim:].numpy()
        want = reference_account_features(ref.state(), max_pos)
        assert np.allclose(got, want, rtol=0, atol=1e-12), f"{where}: account features {got} vs {want}"

    for b in range(n_envs):
        check_obs(obs[b], refs[b], f"reset env {b}")
    acts = random_actions(seed, env.n_actions, (2 * ep + 1, n_envs), probs)
    for k, row in enumerate(acts):
        obs, reward, done, info = env.step(torch.as_tensor(row))
        state = env.account_state()
        for b, ref in enumerate(refs):
            where = f"step {k} env {b} bar {ref.t} action {names[row[b]]}"
            before = (ref.equity, ref.position, ref.entry_price)
            want = ref.step(names[row[b]])
            check_fill({n: v[b] for n, v in info["fill"].items()}, want, where)
            for name in ("equity", "cash", "position"):
                same(float(info[name][b]), getattr(ref, name), f"{where} {name}")
            same(int(info["pdt_rejections"][b]), ref.pdt_rejections, f"{where} pdt rejections")
            peaks[b] = max(peaks[b], ref.equity)
            rw = reference_reward(reward_cfg, equity_before=before[0], equity_after=ref.equity, position=ref.position,
                                  entry_price=ref.entry_price, open_=want["ref_price"], close=ref.mark_price,
                                  fill=want, position_before=before[1], entry_before=before[2],
                                  peak_equity=peaks[b], max_position=max_pos)
            assert abs(float(reward[b]) - rw["total"]) <= 1e-12, f"{where}: reward {float(reward[b])} vs {rw}"
            for name, value in info["reward_components"].items():
                assert abs(float(value[b]) - rw[name]) <= 1e-12, f"{where}: reward {name} {float(value[b])} vs {rw}"
            if bool(done[b]):
                check_obs(info["final_obs"][b], ref, f"{where} final_obs")
                ref.reset(int(env.bar_index[b]))
                peaks[b] = initial
            check_state({n: v[b] for n, v in state.items()}, ref.state(), where)
            check_obs(obs[b], ref, where)


@settings(max_examples=40)
@given(bars=st.one_of(bars_strategy(asset_class="equity", min_bars=2, max_bars=400),
                      bars_strategy(asset_class="crypto", min_bars=2, max_bars=400, timeframes=("1h", "4h", "1D"))),
       lookback=st.integers(2, 8), data=st.data())
def test_impact_inputs_match_reference(bars, lookback, data):
    """The square-root law's inputs: trailing daily sigma and ADV from earlier sessions only."""
    min_sessions = data.draw(st.integers(2, lookback))
    sigma, adv = impact_inputs(bars, lookback, min_sessions)
    ref_sigma, ref_adv = reference_impact_inputs(bars, lookback, min_sessions)
    np.testing.assert_allclose(sigma, ref_sigma, rtol=1e-9, atol=1e-15, equal_nan=True)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-12, equal_nan=True)


def test_impact_inputs_of_weekly_bars_match_reference():
    """Coarse bars: returns over sqrt(sessions per bar), volume over it, window in sessions."""
    import pandas as pd

    from backtest.timeframes import WEEK, sessions_per_bar
    from tests.sim_bars import make_bars

    mondays = [str(d) for d in pd.date_range("2021-01-04 15:00", periods=40, freq="W-MON")]
    rng = np.random.default_rng(2)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 40)))
    bars = make_bars(mondays, price, price * 1.01, volume=rng.uniform(1e4, 1e5, 40), timeframe=WEEK)
    m = sessions_per_bar(WEEK, "equity")
    for lookback, min_sessions in ((20, 10), (60, 40), (5, 2)):
        sigma, adv = impact_inputs(bars, lookback, min_sessions)
        ref_sigma, ref_adv = reference_impact_inputs(bars, lookback, min_sessions, sessions_per_bar=m)
        np.testing.assert_allclose(sigma, ref_sigma, rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(adv, ref_adv, rtol=1e-12, equal_nan=True)
