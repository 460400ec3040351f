"""Cost models and the counter-based generator: validation, formulas, monotonicity, backend parity."""

import math

import numba
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from backtest.costs import (CommissionModel, FrictionConfig, ImpactModel, SlippageModel, SpreadModel, VolumeCap,
                            commission_cash, impact_inputs, sqrt, portfolio_impact, slippage_fraction, sqrt_law_impact)
from backtest.errors import ConfigError
from backtest.rng import uniform, uniform_bits, uniform_scalar
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
    assert commission_cash(10.0, 1000.0, 0.01, 1.0, 0.001) == pytest.approx(1.0 + 0.1 + 1.0)
    model = ImpactModel()
    assert model.fraction(1.0, 100.0, 1000.0, 0.02, float("nan"), False) == pytest.approx(0.01 * math.sqrt(0.1))
    assert ImpactModel(mode="none").fraction(1.0, 100.0, 1000.0, 0.02, 1e6, True) == 0.0


def test_formulas_same_bits_on_torch_and_numpy():
    rng = np.random.default_rng(0)
    q, adv, sig = rng.uniform(0, 1e4, 1000), rng.uniform(1e5, 1e7, 1000), rng.uniform(0.005, 0.05, 1000)
    a = sqrt_law_impact(q, adv, sig, 0.6)
    b = sqrt_law_impact(torch.from_numpy(q), torch.from_numpy(adv), torch.from_numpy(sig), 0.6).numpy()
    c = numba.njit(lambda q, a, s: sqrt_law_impact(q, a, s, 0.6))
    assert np.array_equal(a, b) and np.array_equal(a[:50], [c(x, y, z) for x, y, z in zip(q[:50], adv[:50], sig[:50])])
    p = portfolio_impact(q, adv, 0.01)
    assert np.array_equal(p, portfolio_impact(torch.from_numpy(q), torch.from_numpy(adv), 0.01).numpy())


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
        i1 = imp.fraction(q1, q1 * price, equity, sigma, adv, True)
        i2 = imp.fraction(q2, q2 * price, equity, sigma, adv, True)
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
    eq, cr, fx = (FrictionConfig.for_asset_class(a) for a in ("equity", "crypto", "fx"))
    assert eq.commission.per_notional == 0 and cr.commission.per_notional == 0.0025
    assert fx.impact.mode == "portfolio" and eq.impact.mode == "auto"
    assert eq.slippage.max_slippage == 0.0005 and eq.spread.spread == 0.0002
    assert FrictionConfig.for_asset_class("equity", spread=SpreadModel(0.001)).spread.spread == 0.001


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
