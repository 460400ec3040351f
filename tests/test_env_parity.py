"""TradingEnv == backtest, per step and per env (the issue-5 parity contract).

For random bar series (equity sessions near early closes, holidays and DST shifts;
crypto 24/7), random account/friction/PDT configs, random episode starts and random
actions, at every step of every env:

- observation parity: the env's observation equals
  `BacktestObservationBuilder.get_obs_at_bar(t, Simulator.account_state())` exactly in
  float64 (within 1e-5 in float32), including the pre-reset `final_obs`;
- execution parity: cash, position, equity, every fill field (quantity, exec price,
  cost components, status, reason, impact model, day trade) and PDT rejections equal
  one `Simulator` per env driven through its step API (`reset(t0)` / `step(a)`), exactly
  in float64 (1e-6 relative in float32).

Both account steps are checked: the simulator's kernel looped over envs (the CPU default)
and the batched torch mirror (the GPU path, also run on CPU here).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account import REASON_PDT, AccountConfig
from backtest.account_features import ACCOUNT_FEATURE_NAMES
from backtest.costs import CommissionModel, FrictionConfig, ImpactModel, VolumeCap
from backtest.features import FeatureSchema, compute_features
from backtest.features.pipeline import default_specs
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.simulator import SimConfig, Simulator
from models.env import TradingEnv
from tests.sim_bars import make_bars
from tests.reference_account import reference_reward
from tests.strategies import bars_strategy, day_trader_probs, near_pdt_accounts, pdt_straddle_bars

#: (device, account_step): on CPU both the simulator's kernel (the default there) and the torch
#: mirror (the GPU path) are checked against the simulator.
BACKENDS = [("cpu", "kernel"), ("cpu", "torch")] + [
    pytest.param("cuda", "torch", marks=pytest.mark.cuda)] * torch.cuda.is_available()
#: Features with a look-back of at most one bar keep the warm-up short for small series.
SHORT_SPECS = tuple(s for s in default_specs() if s.lookback <= 1)
FLOAT_FIELDS = ("requested_qty", "qty", "ref_price", "exec_price", "slippage", "spread", "impact", "commission",
                "cash_after", "position_after")
INT_FIELDS = ("bar", "action", "side", "status", "reason", "impact_model", "day_trade")


def small_schema(window: int = 3) -> FeatureSchema:
    return FeatureSchema(features=SHORT_SPECS, window=window)


def _same(got: float, want: float, exact: bool, what: str) -> None:
    if exact:
        assert got == want, f"{what}: env {got!r} != simulator {want!r}"
    else:
        assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), f"{what}: env {got!r} vs simulator {want!r}"


#: CUDA's tanh (the ``unrealised_return`` account feature) may differ from the CPU's by an ulp or
#: two; every other observation value is exact IEEE arithmetic or copied from the builder's array.
CUDA_TANH_ULPS = 2


def _check_obs(got: torch.Tensor, want: np.ndarray, exact: bool, what: str) -> None:
    on_cuda = got.device.type == "cuda"
    got = got.double().cpu().numpy()
    if exact and on_cuda:
        tanh_at = want.shape[-1] - len(ACCOUNT_FEATURE_NAMES) + ACCOUNT_FEATURE_NAMES.index("unrealised_return")
        others = np.arange(want.shape[-1]) != tanh_at
        assert np.array_equal(got[..., others], want[..., others]), (
            f"{what}: first difference at {np.flatnonzero(got[..., others] != want[..., others])[:5]}")
        np.testing.assert_array_max_ulp(got[..., tanh_at], want[..., tanh_at], maxulp=CUDA_TANH_ULPS)
    elif exact:
        assert np.array_equal(got, want), f"{what}: first difference at {np.flatnonzero(got != want)[:5]}"
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=what)


def run_parity(bars, cfg: SimConfig, *, device="cpu", account_step="auto", dtype=torch.float64, seed=0, n_envs=3,
               episode_len=8, n_steps=None, window=3, probs=None) -> dict:
    """Drive the env and one Simulator per env with the same actions; assert equality throughout.
    Returns counters (fills, PDT rejections, episode ends) so tests can check what was exercised."""
    exact = dtype == torch.float64
    schema = small_schema(window)
    raw = compute_features(bars, schema)
    norm = Normaliser.fit(raw, 0, len(raw))
    builder = BacktestObservationBuilder(raw, schema, norm, cfg.account)
    n_bars = len(bars)
    ep = max(1, min(episode_len, n_bars - schema.warmup_bars))
    env = TradingEnv(norm.transform(raw), bars, schema, sim_config=cfg, n_envs=n_envs, episode_len=ep,
                     train_range=(0, n_bars), device=device, dtype=dtype, seed=seed, account_step=account_step)
    sims = [Simulator(bars, cfg) for _ in range(n_envs)]
    obs = env.reset()
    for b, sim in enumerate(sims):
        sim.reset(int(env.bar_index[b]))
        _check_obs(obs[b], builder.get_obs_at_bar(sim.t, sim.account_state()), exact, f"reset obs env {b}")
    rng = np.random.default_rng(seed)
    p = probs if probs is not None else [0.25] + [0.75 / (env.n_actions - 1)] * (env.n_actions - 1)
    initial = float(cfg.account.initial_equity)
    peaks = [initial] * n_envs
    counts = {"filled": 0, "pdt": 0, "ends": 0, "day_trades": 0, "reasons": set(), "impact_models": set()}
    for k in range(n_steps if n_steps is not None else 2 * ep + 1):
        acts = rng.choice(env.n_actions, size=n_envs, p=p)
        obs, reward, done, info = env.step(torch.as_tensor(acts, device=device))
        fill = {name: v.cpu() for name, v in info["fill"].items()}
        state = {name: v.cpu() for name, v in env.account_state().items()}
        for b, sim in enumerate(sims):
            before = sim.state
            want = sim.step(int(acts[b]))
            where = f"step {k} env {b} bar {int(want['bar'])}"
            for name in FLOAT_FIELDS:
                _same(float(fill[name][b]), float(want[name]), exact, f"{where} fill {name}")
            for name in INT_FIELDS:
                assert int(fill[name][b]) == int(want[name]), f"{where} fill {name}"
            assert bool(fill["pdt_rejected"][b]) == (int(want["reason"]) == REASON_PDT and int(want["status"]) == 2)
            after = sim.state
            _same(float(info["equity"][b]), float(after["equity"]), exact, f"{where} equity")
            _same(float(info["cash"][b]), float(after["cash"]), exact, f"{where} cash")
            _same(float(info["position"][b]), float(after["position"]), exact, f"{where} position")
            assert int(info["pdt_rejections"][b]) == int(after["pdt_rejections"]), where
            peaks[b] = max(peaks[b], float(after["equity"]))
            rw = reference_reward(env.reward_config, equity_before=float(before["equity"]),
                                  equity_after=float(after["equity"]), position=float(after["position"]),
                                  entry_price=float(after["entry_price"]), open_=float(want["ref_price"]),
                                  close=float(after["mark_price"]),
                                  fill={"status": int(want["status"]), "side": int(want["side"]),
                                        "exec_price": float(want["exec_price"])},
                                  position_before=float(before["position"]), entry_before=float(before["entry_price"]),
                                  peak_equity=peaks[b], max_position=cfg.account.max_position)
            tol = 1e-12 if exact else 1e-5
            assert abs(float(reward[b]) - rw["total"]) <= tol, f"{where}: reward {float(reward[b])} vs {rw}"
            counts["filled"] += int(want["status"]) == 1
            counts["pdt"] += int(want["reason"]) == REASON_PDT
            counts["day_trades"] += bool(want["day_trade"])
            counts["reasons"].add(int(want["reason"]))
            if int(want["status"]) == 1:
                counts["impact_models"].add(int(want["impact_model"]))
            if bool(done[b]):
                counts["ends"] += 1
                assert int(info["final_bar_index"][b]) == sim.t, where
                _check_obs(info["final_obs"][b], builder.get_obs_at_bar(sim.t, sim.account_state()), exact,
                           f"{where} final_obs")
                sim.reset(int(env.bar_index[b]))
                peaks[b] = initial
            else:
                rec = sim.account_state()
                for name in rec.dtype.names:
                    _same(float(state[name][b]), float(rec[name]), exact, f"{where} state {name}")
            _check_obs(obs[b], builder.get_obs_at_bar(sim.t, sim.account_state()), exact, f"{where} obs")
        assert torch.equal(obs[:, : env.market_dim], env.market_windows[env.bar_index])
    return counts


@st.composite
def sim_configs(draw):
    fractional = draw(st.booleans())
    acct = AccountConfig(initial_equity=draw(st.sampled_from([1000.0, 3000.0] if fractional else [30_000.0, 3000.0])),
                         allow_short=draw(st.booleans()), fractional=fractional,
                         include_close_action=draw(st.booleans()),
                         min_order_notional=draw(st.sampled_from([0.0, 1.0, 25.0])))
    if draw(st.integers(0, 2)) == 0:  # a third of the examples straddle the PDT threshold
        acct = draw(near_pdt_accounts())
    fr = FrictionConfig(impact=ImpactModel(mode=draw(st.sampled_from(["auto", "portfolio", "none"])), min_sessions=2,
                                           lookback=5),
                        commission=draw(st.sampled_from([CommissionModel(),
                                                         CommissionModel(per_share=0.005, per_order=0.2,
                                                                         per_notional=0.0003),
                                                         # a minimum and a maximum that bind (issue 25)
                                                         CommissionModel(per_notional=0.003, min_per_order=1.0,
                                                                         max_per_order=2.0),
                                                         CommissionModel(per_share=0.005, min_per_order=1.0,
                                                                         max_per_notional=0.01)])),
                        volume_cap=VolumeCap(draw(st.sampled_from([0.0, 0.001]))))
    return SimConfig(account=acct, friction=fr, pdt=draw(st.sampled_from(["on", "auto", "off"])),
                     seed=draw(st.integers(0, 2**40)))


@pytest.mark.parametrize("device,account_step", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@given(bars=st.one_of(bars_strategy(asset_class="equity", min_bars=12, max_bars=90,
                                    timeframes=("5min", "15min", "30min", "1h", "1D")),
                      bars_strategy(asset_class="crypto", min_bars=12, max_bars=90)),
       cfg=sim_configs(), seed=st.integers(0, 2**31), n_envs=st.integers(1, 4), episode_len=st.integers(1, 30))
def test_env_matches_builder_and_simulator(device, account_step, dtype, bars, cfg, seed, n_envs, episode_len):
    run_parity(bars, cfg, device=device, account_step=account_step, dtype=dtype, seed=seed, n_envs=n_envs,
               episode_len=episode_len)


@pytest.mark.parametrize("device,account_step", BACKENDS)
@settings(max_examples=25)
@given(bars=bars_strategy(asset_class="equity", min_bars=12, max_bars=60, timeframes=("15min", "1D")),
       cfg=sim_configs(), seed=st.integers(0, 2**31), n_envs=st.integers(1, 3), episode_len=st.integers(1, 20))
def test_one_bar_window_matches_builder_and_simulator(device, account_step, bars, cfg, seed, n_envs, episode_len):
    """The ``cpu`` mode's window (1 bar, issue 24): the observation is the last closed row alone."""
    run_parity(bars, cfg, device=device, account_step=account_step, seed=seed, n_envs=n_envs,
               episode_len=episode_len, window=1)


@pytest.mark.parametrize("device,account_step", BACKENDS)
@settings(max_examples=30)
@given(bars=pdt_straddle_bars(), acct=near_pdt_accounts(), seed=st.integers(0, 2**31), n_envs=st.integers(1, 3))
def test_env_matches_simulator_across_the_pdt_threshold(device, account_step, bars, acct, seed, n_envs):
    """A day trader near 25,000 on bars that carry it across the threshold (float64): PDT
    decisions, rejections and the day-trades-left feature agree with the simulator."""
    cfg = SimConfig(account=acct, pdt="on", seed=seed)
    run_parity(bars, cfg, device=device, account_step=account_step, seed=seed, n_envs=n_envs,
               episode_len=len(bars), n_steps=len(bars), probs=day_trader_probs(acct.action_space.n))


def _day_trading_bars():
    """Five NYSE sessions of eight 30-minute bars, rising prices: room for many day trades."""
    days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    times = [f"{d} {14 + (30 * k + 30) // 60:02d}:{(30 * k + 30) % 60:02d}" for d in days for k in range(8)]
    price = 100.0 * np.exp(np.cumsum(np.full(len(times), 0.001)))
    return make_bars(times, price, price * 1.0005)


@pytest.mark.parametrize("device,account_step", BACKENDS)
def test_pdt_rejections_match_and_show_in_observation(device, account_step):
    """Buy/sell round trips within sessions: the 4th day trade in 5 sessions is refused in both,
    and the day-trades-left feature of the env's observation reaches 0 like the builder's."""
    bars = _day_trading_bars()
    cfg = SimConfig(account=AccountConfig(initial_equity=5000.0), pdt="on", seed=3)
    counts = run_parity(bars, cfg, device=device, account_step=account_step, seed=1, n_envs=4, episode_len=30,
                        n_steps=30, probs=[0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5])
    assert counts["pdt"] > 0 and counts["filled"] > 0


@pytest.mark.parametrize("account_step", ["kernel", "torch"])
def test_every_cap_and_rejection_reason_matches(account_step):
    """An all-in account with a volume cap and whole shares hits the cash, max-position,
    volume-cap, nothing-to-sell and min-size paths; all must agree with the simulator."""
    bars = _day_trading_bars()
    acct = AccountConfig(initial_equity=2000.0, safety_buffer=0.0, base_allocation=1.0, max_position=1.0,
                         fractional=False, include_close_action=True)
    fr = FrictionConfig(commission=CommissionModel(per_share=0.01, per_order=1.0), volume_cap=VolumeCap(0.00001))
    run = dict(seed=2, account_step=account_step, n_envs=4, episode_len=40, n_steps=40,
               probs=[0.1, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1, 0.1])
    counts = run_parity(bars, SimConfig(account=acct, friction=fr, pdt="off", seed=5), **run)
    assert {1, 3, 5} <= counts["reasons"], counts["reasons"]
    half = dataclasses.replace(acct, max_position=0.5)
    counts = run_parity(bars, SimConfig(account=half, pdt="off", seed=5), **run)
    assert {2, 5} <= counts["reasons"], counts["reasons"]
    small = AccountConfig(initial_equity=150.0, fractional=False)
    counts = run_parity(bars, SimConfig(account=small, pdt="off"), seed=2, account_step=account_step, n_envs=2,
                        episode_len=10, n_steps=10)
    assert 6 in counts["reasons"], counts["reasons"]


def test_no_pdt_for_crypto_or_large_accounts():
    bars = _day_trading_bars()
    cfg = SimConfig(account=AccountConfig(initial_equity=30_000.0), pdt="on", seed=3)
    counts = run_parity(bars, cfg, seed=1, n_envs=2, episode_len=30, n_steps=30,
                        probs=[0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5])
    assert counts["pdt"] == 0 and counts["filled"] > 0


@pytest.mark.parametrize("account_step", ["kernel", "torch"])
def test_weekly_bars_square_root_law_and_no_history_match(account_step):
    """Weekly bars (daily-terms sigma/ADV over a window in sessions) under the default auto
    impact: fills before the history exists pay no impact (code no_history), later ones the
    square-root law; env and simulator agree on both, with a volume cap on the prior bar."""
    from backtest.costs import IMPACT_NO_HISTORY, IMPACT_SQRT
    from backtest.timeframes import WEEK

    mondays = [str(d) for d in pd.date_range("2021-01-04 15:00", periods=40, freq="W-MON")]
    rng = np.random.default_rng(2)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 40)))
    bars = make_bars(mondays, price, price * 1.01, volume=rng.uniform(1e4, 1e5, 40), timeframe=WEEK)
    fr = FrictionConfig(impact=ImpactModel(lookback=60, min_sessions=40), volume_cap=VolumeCap(0.01))  # 13/9 weeks
    cfg = SimConfig(account=AccountConfig(initial_equity=1e5, include_close_action=True), friction=fr, pdt="off")
    counts = run_parity(bars, cfg, account_step=account_step, seed=4, n_envs=3, episode_len=36, n_steps=40,
                        probs=[0.1, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6])
    assert {IMPACT_SQRT, IMPACT_NO_HISTORY} <= counts["impact_models"], counts["impact_models"]
