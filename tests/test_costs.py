"""Cost models and the counter-based generator: validation, formulas, monotonicity, backend parity."""

import math

import numba
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.costs import (IMPACT_NAMES, IMPACT_NO_HISTORY, IMPACT_NONE, IMPACT_PORTFOLIO, IMPACT_SQRT,
                            CommissionModel, FrictionConfig, ImpactModel, SlippageModel, SpreadModel, VolumeCap,
                            commission_cash, impact, impact_inputs, portfolio_impact, prior_volume, slippage_fraction,
                            sqrt, sqrt_law_impact)
from backtest.kernel import params as kernel_params
from backtest.errors import ConfigError
from backtest.rng import uniform, uniform_bits, uniform_scalar
from backtest.timeframes import DAY, MONTH, WEEK, sessions_per_bar
from tests.sim_bars import make_bars


def test_rng_same_bits_numpy_torch_numba():
    idx = np.r_[np.arange(5000, dtype=np.int64) * 7919, np.int64(2**40 + 3), np.int64(2**62)]
    seeds = (0, 1, 123456789, 2**40 + 17)
    jit_bits = numba.njit(lambda s, i: uniform_bits(s, i))
    jit_unit = numba.njit(lambda s, i: uniform_scalar(s, i))
    for seed in seeds:
        a = uniform(seed, idx)
        b = uniform(seed, torch.from_numpy(idx)).numpy()
        c = np.array([jit_unit(seed, int(i)) for i in idx[:300]])
        assert a.dtype == np.float64 and np.array_equal(a, b) and np.array_equal(a[:300], c)
        assert np.array_equal(uniform_bits(seed, idx[:50]), [jit_bits(seed, int(i)) for i in idx[:50]])
        assert uniform(seed, int(idx[7])) == a[7]
        assert np.all((a >= 0.0) & (a < 1.0))


def test_rng_is_roughly_uniform_and_keyed():
    u = uniform(7, np.arange(100_000))
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 9_000
    assert not np.array_equal(u[:100], uniform(8, np.arange(100)))
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02


def test_cost_formulas_known_values():
    assert slippage_fraction(0.5, 0.001, False) == 0.0005
    assert slippage_fraction(0.5, 0.001, True) == 0.001
    assert SpreadModel(0.0004).fraction() == 0.0002
    assert sqrt_law_impact(10_000.0, 1_000_000.0, 0.02, 0.6) == pytest.approx(0.6 * 0.02 * 0.1)
    assert portfolio_impact(250.0, 1000.0, 0.01) == pytest.approx(0.005)
    assert commission_cash(10.0, 1000.0, 0.01, 1.0, 0.001, 0.0, math.inf) == pytest.approx(1.0 + 0.1 + 1.0)
    model = ImpactModel()
    # auto without history pays nothing (never the portfolio form); portfolio is an explicit opt-in
    assert model.fraction(1.0, 100.0, 1000.0, 0.02, float("nan")) == (0.0, IMPACT_NO_HISTORY)
    assert model.fraction(1.0, 100.0, 1000.0, float("nan"), 1e6) == (0.0, IMPACT_NO_HISTORY)
    assert model.fraction(1.0, 100.0, 1000.0, 0.02, 0.0) == (0.0, IMPACT_NO_HISTORY)
    frac, code = model.fraction(1e4, 100.0, 1000.0, 0.02, 1e6)
    assert frac == pytest.approx(0.6 * 0.02 * 0.1) and code == IMPACT_SQRT
    port = ImpactModel(mode="portfolio")
    frac, code = port.fraction(1.0, 100.0, 1000.0, 0.02, float("nan"))
    assert frac == pytest.approx(0.01 * math.sqrt(0.1)) and code == IMPACT_PORTFOLIO
    assert port.fraction(1.0, 100.0, -50.0, 0.02, 1e6)[0] == pytest.approx(0.01)  # notional for a broke equity
    assert IMPACT_NAMES[IMPACT_NO_HISTORY] == "no_history"
    assert ImpactModel(mode="none").fraction(1.0, 100.0, 1000.0, 0.02, 1e6) == (0.0, IMPACT_NONE)


def test_formulas_same_bits_on_torch_and_numpy():
    rng = np.random.default_rng(0)
    q, adv, sig = rng.uniform(0, 1e4, 1000), rng.uniform(1e5, 1e7, 1000), rng.uniform(0.005, 0.05, 1000)
    a = sqrt_law_impact(q, adv, sig, 0.6)
    b = sqrt_law_impact(torch.from_numpy(q), torch.from_numpy(adv), torch.from_numpy(sig), 0.6).numpy()
    c = numba.njit(lambda q, a, s: sqrt_law_impact(q, a, s, 0.6))
    assert np.array_equal(a, b) and np.array_equal(a[:50], [c(x, y, z) for x, y, z in zip(q[:50], adv[:50], sig[:50])])
    p = portfolio_impact(q, adv, 0.01)
    assert np.array_equal(p, portfolio_impact(torch.from_numpy(q), torch.from_numpy(adv), 0.01).numpy())


def test_impact_selection_same_bits_in_numba_numpy_and_torch():
    """`impact` is the one selection of the kernel, its torch mirror and `ImpactModel`: each
    mode gives the same fraction and code in numba (scalars), numpy and torch (elementwise)."""
    rng = np.random.default_rng(1)
    n = 400
    q, o = rng.uniform(0, 1e4, n), rng.uniform(1, 500, n)
    e = np.where(rng.random(n) < 0.1, -rng.uniform(0, 100, n), rng.uniform(1e2, 1e6, n))
    sigma = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0.005, 0.05, n))
    adv = np.where(rng.random(n) < 0.2, np.nan, np.where(rng.random(n) < 0.1, 0.0, rng.uniform(1e5, 1e7, n)))
    jit = numba.njit(lambda m, q, o, e, s, a: impact(m, q, o, e, s, a, 0.6, 0.01))
    for mode in ("auto", "portfolio", "none"):
        model = ImpactModel(mode=mode)
        frac, code = impact(model.code, q, o, e, sigma, adv, 0.6, 0.01)
        tfrac, tcode = impact(model.code, *(torch.from_numpy(x) for x in (q, o, e, sigma, adv)), 0.6, 0.01)
        frac, code = np.broadcast_to(frac, (n,)), np.broadcast_to(code, (n,))
        assert np.array_equal(frac, tfrac.numpy()) and np.array_equal(code, np.broadcast_to(np.asarray(tcode), (n,)))
        for i in range(0, n, 7):
            assert jit(model.code, q[i], o[i], e[i], sigma[i], adv[i]) == (frac[i], code[i])
            assert model.fraction(q[i], o[i], e[i], sigma[i], adv[i]) == (frac[i], code[i])
        assert np.isfinite(frac).all() and (frac >= 0).all()
    assert set(np.unique(impact(0, q, o, e, sigma, adv, 0.6, 0.01)[1])) == {IMPACT_SQRT, IMPACT_NO_HISTORY}


def test_torch_sqrt_is_correctly_rounded():
    x = np.random.default_rng(3).uniform(0, 1, 200_000) * np.logspace(-8, 8, 200_000)
    assert np.array_equal(sqrt(torch.from_numpy(x)).numpy(), np.sqrt(x))
    exact = np.array([0.0, 0.25, 1.0, 2.0, 4.0, 1e300])
    assert np.array_equal(sqrt(torch.from_numpy(exact)).numpy(), np.sqrt(exact))


@given(q1=st.floats(0, 1e6), dq=st.floats(0, 1e6), price=st.floats(0.01, 1e5), u=st.floats(0, 0.999),
       sigma=st.floats(0, 0.2), adv=st.floats(1, 1e9), equity=st.floats(1, 1e9))
def test_components_nonnegative_and_nondecreasing_in_size(q1, dq, price, u, sigma, adv, equity):
    q2 = q1 + dq
    fr = FrictionConfig(commission=CommissionModel(0.005, 1.0, 0.001))
    slip, half = fr.slippage.fraction(u), fr.spread.fraction()
    for model in ("auto", "portfolio"):
        imp = ImpactModel(mode=model)
        i1 = imp.fraction(q1, price, equity, sigma, adv)[0]
        i2 = imp.fraction(q2, price, equity, sigma, adv)[0]
        assert 0.0 <= i1 <= i2
        c1 = [q1 * price * f for f in (slip, half, i1)] + [fr.commission.cash(q1, q1 * price * (1 + slip + half + i1))]
        c2 = [q2 * price * f for f in (slip, half, i2)] + [fr.commission.cash(q2, q2 * price * (1 + slip + half + i2))]
        assert all(0.0 <= x <= y for x, y in zip(c1, c2))


def test_validation_names_parameter():
    with pytest.raises(ConfigError, match="max_slippage"):
        SlippageModel(-0.1)
    with pytest.raises(ConfigError, match="mode"):
        SlippageModel(mode="gaussian")
    with pytest.raises(ConfigError, match="spread"):
        SpreadModel(float("nan"))
    with pytest.raises(ConfigError, match="min_sessions"):
        ImpactModel(lookback=5, min_sessions=10)
    with pytest.raises(ConfigError, match="per_order"):
        CommissionModel(per_order=-1)
    with pytest.raises(ConfigError, match="max_share"):
        VolumeCap(1.5)
    with pytest.raises(ConfigError, match="asset_class"):
        FrictionConfig.for_asset_class("bonds")


def test_asset_class_defaults():
    """Retail defaults (module docstring): no equity commission, crypto taker fee, FX a
    spread-only account (no commission, no minimum) and no impact; no class defaults to the
    portfolio impact form."""
    eq, cr, fx = (FrictionConfig.for_asset_class(a) for a in ("equity", "crypto", "fx"))
    assert eq.commission == CommissionModel() and eq.impact.mode == "auto" and cr.impact.mode == "auto"
    assert 0.0001 <= eq.spread.spread / 2 <= 0.0002 and eq.slippage.max_slippage <= 0.0005
    assert 0.0015 <= cr.commission.per_notional <= 0.0025 and cr.commission.per_share == cr.commission.per_order == 0
    assert fx.impact.mode == "none" and fx.commission == CommissionModel()  # spread-only: no fee, no minimum
    pip = 0.0001 / 1.08  # one EUR/USD pip as a fraction of price at 1.08
    assert 1.0 * pip <= fx.spread.spread <= 1.5 * pip  # OANDA spread-only: from 0.6-0.8 pip, about 1.4 on average
    assert all(c.commission.min_per_order == c.commission.max_per_order == c.commission.max_per_notional == 0
               for c in (eq, cr, fx))
    # worst-case FX round trip (two fills, top slippage draw) stays under 3 bp
    fx_fill = fx.slippage.max_slippage + fx.spread.spread / 2 + fx.commission.per_notional
    assert 2 * fx_fill <= 0.0003
    assert all(c.impact.mode != "portfolio" for c in (eq, cr, fx))
    assert FrictionConfig().spread == eq.spread and FrictionConfig().slippage == eq.slippage
    assert FrictionConfig.for_asset_class("equity", spread=SpreadModel(0.001)).spread.spread == 0.001


def test_scaled_multiplies_every_cost_and_validates():
    base = FrictionConfig(commission=CommissionModel(per_share=0.005, per_order=1.0, per_notional=0.001),
                          impact=ImpactModel(mode="portfolio", y=0.5, k=0.02, lookback=7, min_sessions=3),
                          volume_cap=VolumeCap(0.01))
    two = base.scaled(2)
    assert two.slippage.max_slippage == 2 * base.slippage.max_slippage and two.spread.spread == 2 * base.spread.spread
    assert (two.impact.y, two.impact.k) == (1.0, 0.04) and two.impact.mode == "portfolio"
    assert (two.impact.lookback, two.impact.min_sessions, two.volume_cap) == (7, 3, base.volume_cap)
    assert (two.commission.per_share, two.commission.per_order, two.commission.per_notional) == (0.01, 2.0, 0.002)
    zero = kernel_params(AccountConfig(), base.scaled(0.0), 0)[0]  # what the simulator kernel reads
    assert all(zero[n] == 0 for n in ("max_slippage", "spread", "y", "k", "per_share", "per_order", "per_notional"))
    assert base.scaled(1) == base
    for bad in (-0.5, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ConfigError, match="multiple"):
            base.scaled(bad)
    with pytest.raises(ConfigError, match="scaled"):  # a 10%+ fee is refused, as when built directly
        FrictionConfig.for_asset_class("crypto").scaled(41)
    for ac in ("equity", "crypto", "fx"):  # stress multiples well past any breakeven search stay valid
        assert FrictionConfig.for_asset_class(ac).scaled(40).commission.per_notional <= 0.1


def test_impact_inputs_causal_and_from_prior_sessions():
    dates = [d for d in np.arange(np.datetime64("2025-03-03"), np.datetime64("2025-04-30")) if np.is_busday(d)]
    dates = [d for d in dates if str(d) != "2025-04-18"]  # Good Friday
    times = [np.datetime64(d) + np.timedelta64(15, "h") + np.timedelta64(30 * k, "m") for d in dates for k in range(2)]
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(times))))
    vol = rng.uniform(1e3, 1e4, len(times))
    bars = make_bars([str(t) for t in times], close, close, vol)
    sigma, adv = impact_inputs(bars, 20, 10)
    n_days = len(dates)
    day_close, day_vol = close[1::2], vol[0::2] + vol[1::2]
    rets = np.diff(np.log(day_close))
    assert np.isnan(adv[2 * 9]) and not np.isnan(adv[2 * 10])  # 10 prior sessions needed
    assert np.isnan(sigma[2 * 10]) and not np.isnan(sigma[2 * 11])  # ... and 10 prior returns
    for d in (11, 12, 25, n_days - 1):
        lo = max(0, d - 20)
        expect_sigma = np.std(rets[max(0, lo - 1):d - 1], ddof=1)
        assert sigma[2 * d] == pytest.approx(expect_sigma, rel=1e-9)
        assert adv[2 * d + 1] == pytest.approx(day_vol[lo:d].mean(), rel=1e-12)
    # causal: truncating the future changes nothing
    s2, a2 = impact_inputs(bars.slice(0, 30), 20, 10)
    assert np.array_equal(s2, sigma[:30], equal_nan=True) and np.array_equal(a2, adv[:30], equal_nan=True)


def _coarse_bars(freq: str, asset_class: str, n: int = 40):
    """Weekly (``W-MON``) or monthly (``MS``) bars with known returns and volumes."""
    idx = pd.date_range("2016-01-01", periods=n, freq=freq)
    if freq == "MS":
        idx = pd.DatetimeIndex([d + pd.offsets.BDay(0) for d in idx])  # first business day
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    vol = rng.uniform(1e6, 5e6, n)
    tf = WEEK if freq.startswith("W") else MONTH
    return make_bars([str(d) for d in idx], close, close, vol, asset_class=asset_class, timeframe=tf), close, vol


@pytest.mark.parametrize("freq,asset_class,m", [("W-MON", "equity", 7 * 252 / 365.25), ("W-MON", "crypto", 7.0),
                                                ("W-MON", "fx", 5.0), ("MS", "equity", MONTH / DAY * 252 / 365.25),
                                                ("MS", "crypto", MONTH / DAY)])
def test_impact_inputs_daily_terms_for_weekly_and_monthly_bars(freq, asset_class, m):
    """sigma_daily = sigma_per_bar / sqrt(sessions per bar), adv = bar volume / sessions per bar,
    over the fewest whole bars covering `lookback` sessions (at least two)."""
    bars, close, vol = _coarse_bars(freq, asset_class)
    assert sessions_per_bar(bars.timeframe, asset_class) == pytest.approx(m)
    sigma, adv = impact_inputs(bars, 20, 10)
    window, need = max(2, math.ceil(20 / m)), min(max(2, math.ceil(20 / m)), max(2, math.ceil(10 / m)))
    rets = np.diff(np.log(close))  # rets[i-1] is bar i's return
    assert np.isnan(adv[need - 1]) and not np.isnan(adv[need])
    assert np.isnan(sigma[need]) and not np.isnan(sigma[need + 1])
    for t in (need + 1, 17, 39):
        lo = max(0, t - window)
        r = rets[max(0, lo - 1):t - 1]
        assert sigma[t] == pytest.approx(np.std(r, ddof=1) / math.sqrt(m), rel=1e-9)
        assert adv[t] == pytest.approx(vol[lo:t].mean() / m, rel=1e-12)
    assert m > 4 and not np.allclose(adv[need:], [vol[max(0, t - window):t].mean() for t in range(need, 40)])
    # causal
    s2, a2 = impact_inputs(bars.slice(0, 20), 20, 10)
    assert np.array_equal(s2, sigma[:20], equal_nan=True) and np.array_equal(a2, adv[:20], equal_nan=True)


def test_impact_inputs_reject_bad_sessions_per_bar():
    bars, _, _ = _coarse_bars("W-MON", "equity", 10)
    with pytest.raises(ConfigError, match="sessions_per_bar"):
        impact_inputs(bars, 20, 10, sessions_per_bar=0.5)


def test_prior_volume_is_the_previous_bars():
    assert prior_volume(np.array([5.0, 7.0, 0.0, 9.0])).tolist() == [0.0, 5.0, 7.0, 0.0]
    assert prior_volume(np.zeros(0)).shape == (0,)
