"""Known answers for each feature family on short fixed series (hand-computed values in
the comments), and loop references for the recursive indicators."""

import math

import numpy as np
import pandas as pd
import pytest

from backtest.bars import Bars
from backtest.features import FeatureSchema, FeatureSpec, compute_features, default_schema
from backtest.features import kernels as K
from backtest.sessions import tag_sessions


def make_bars(close, high=None, low=None, open_=None, volume=None, start="2024-01-01",
              freq="1h", asset_class="crypto") -> Bars:
    close = np.asarray(close, dtype=float)
    n = len(close)
    frame = pd.DataFrame({
        "open": close if open_ is None else np.asarray(open_, float),
        "high": close if high is None else np.asarray(high, float),
        "low": close if low is None else np.asarray(low, float),
        "close": close,
        "volume": np.ones(n) if volume is None else np.asarray(volume, float),
    }, index=pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp"))
    return Bars(tag_sessions(frame, asset_class, timeframe=freq), "T", asset_class, pd.Timedelta(freq),
                "XNYS" if asset_class == "equity" else None)


def feature(bars, kind, params=None, group="test"):
    """The single column of ``kind`` with ``params`` (no warm-up masking: lookback 0)."""
    schema = FeatureSchema((FeatureSpec("x", group, kind, params or {}),), window=1)
    return compute_features(bars, schema, strict=True)[:, 0]


HLC = dict(high=[3.0, 4.0, 5.0], low=[1.0, 2.0, 2.0], close=[2.0, 3.0, 4.0])


def test_returns_momentum_and_volatility():
    b = make_bars([1.0, 2.0, 4.0, 8.0])
    assert feature(b, "simple_return", {"n": 1})[3] == pytest.approx(1.0)  # 8/4 - 1
    assert feature(b, "log_return", {"n": 2})[3] == pytest.approx(math.log(4.0))  # log(8/2)
    vol = feature(b, "volatility", {"n": 3})
    assert vol[2] == pytest.approx(math.log(2) * math.sqrt(2) / 3)  # pop std of [0, ln2, ln2]
    assert vol[3] == pytest.approx(0.0, abs=1e-15)  # [ln2, ln2, ln2]
    assert feature(make_bars([10.0, 12.0]), "price_vs_sma", {"n": 2})[1] == pytest.approx(12 / 11 - 1)


def test_range_volatility_parkinson():
    b = make_bars([10.0, 11.0], high=[11.0, 12.0], low=[9.0, 10.0])
    want = math.sqrt((math.log(11 / 9) ** 2 + math.log(1.2) ** 2) / 2 / (4 * math.log(2)))
    assert feature(b, "range_volatility", {"n": 2})[1] == pytest.approx(want)


def test_rsi_by_hand():
    # diffs [0, 1, -0.5, 1]; Wilder alpha 1/2: gains EMA [0, .5, .25, .625], losses [0, 0, .25, .125]
    r = feature(make_bars([10.0, 11.0, 10.5, 11.5]), "rsi", {"n": 2})
    assert r[3] == pytest.approx(0.625 / 0.75)
    assert r[0] == 0.5  # no movement yet: neutral


def test_macd_by_hand():
    b = make_bars([10.0, 12.0, 11.0])
    # fast span 1 (alpha 1) = close; slow span 3 (alpha .5): EMA [10, 11, 11]
    line = feature(b, "macd", {"fast": 1, "slow": 3, "signal": 3, "output": "line"})
    assert line == pytest.approx([0.0, 1 / 12, 0.0])
    sig = feature(b, "macd", {"fast": 1, "slow": 3, "signal": 3, "output": "signal"})
    assert sig == pytest.approx([0.0, 1 / 24, 1 / 48])  # EMA alpha .5 of the line
    hist = feature(b, "macd", {"fast": 1, "slow": 3, "signal": 3, "output": "hist"})
    assert hist[2] == pytest.approx(-1 / 48)


def test_atr_by_hand():
    # true ranges: 2 (h-l), max(1.5, |12-10|, |10.5-10|) = 2, max(2.5, |11-11.5|, |8.5-11.5|) = 3
    b = make_bars([10.0, 11.5, 9.0], high=[11.0, 12.0, 11.0], low=[9.0, 10.5, 8.5])
    atr = feature(b, "atr", {"n": 2})  # Wilder alpha 1/2: [2, 2, 2.5] / close
    assert atr == pytest.approx([0.2, 2 / 11.5, 2.5 / 9])


def test_bollinger_by_hand():
    b = make_bars([1.0, 2.0, 3.0])
    sd = math.sqrt(2 / 3)  # population sd of [1, 2, 3], mean 2
    assert feature(b, "bollinger_pctb", {"n": 3, "k": 2.0})[2] == pytest.approx((3 - (2 - 2 * sd)) / (4 * sd))
    assert feature(b, "bollinger_width", {"n": 3, "k": 2.0})[2] == pytest.approx(4 * sd / 2)


def test_stochastic_williams_and_range_position_by_hand():
    b = make_bars(**HLC)
    k = feature(b, "stochastic", {"n": 3, "smooth": 1})
    assert k == pytest.approx([0.5, 2 / 3, 0.75])  # (c - LL) / (HH - LL)
    assert feature(b, "stochastic", {"n": 3, "smooth": 3})[2] == pytest.approx((0.5 + 2 / 3 + 0.75) / 3)
    assert feature(b, "williams_r", {"n": 3})[2] == pytest.approx(-0.25)
    assert feature(b, "range_position", {"n": 3})[2] == pytest.approx(0.75)


def test_cci_by_hand():
    # TP = [2, 3, 11/3], mean 26/9, mean abs dev 16/27: (11/3 - 26/9) / (0.015 * 16/27) = 87.5
    assert feature(make_bars(**HLC), "cci", {"n": 3})[2] == pytest.approx(0.875)


def test_rate_of_change_by_hand():
    assert feature(make_bars([10.0, 12.0, 15.0]), "rate_of_change", {"n": 2})[2] == pytest.approx(0.5)


def test_money_flow_by_hand():
    # TP = [2, 3, 11/3, 3]; flows TP*vol = [2, 6, 11, 3]; up at 1, 2; down at 3
    b = make_bars(high=[3.0, 4.0, 5.0, 4.0], low=[1.0, 2.0, 2.0, 2.0], close=[2.0, 3.0, 4.0, 3.0],
                  volume=[1.0, 2.0, 3.0, 1.0])
    mfi = feature(b, "money_flow", {"n": 2})
    assert mfi[2] == pytest.approx(1.0)  # 6 + 11 up, nothing down
    assert mfi[3] == pytest.approx(11 / 14)  # up 11, down 3
    assert feature(make_bars([1.0, 2.0, 3.0], volume=[0.0, 0.0, 0.0]), "money_flow", {"n": 2})[2] == 0.5


def test_reversal_by_hand():
    streak = feature(make_bars([1.0, 2.0, 3.0, 2.0, 2.0]), "streak", {"cap": 10})
    assert streak == pytest.approx([0.0, 0.1, 0.2, -0.1, 0.0])
    b = make_bars([11.0, 10.2], open_=[10.0, 10.0], high=[12.0, 10.5], low=[9.0, 8.0])
    # bar 0: wicks 1 and 1 -> 0; bar 1: lower 10 - 8 = 2, upper 10.5 - 10.2 = .3, range 2.5
    assert feature(b, "wick_balance") == pytest.approx([0.0, 1.7 / 2.5])


def test_calendar_at_known_times():
    # Wednesday 2024-03-06 06:00 UTC (crypto session = UTC date): a quarter day in
    b = make_bars([1.0], start="2024-03-06 06:00")
    assert feature(b, "time_of_day", {"fn": "sin"})[0] == pytest.approx(1.0)
    assert feature(b, "time_of_day", {"fn": "cos"})[0] == pytest.approx(0.0, abs=1e-15)
    assert feature(b, "day_of_week", {"fn": "sin"})[0] == pytest.approx(math.sin(2 * math.pi * 2 / 7))
    assert feature(b, "month_of_year", {"fn": "sin"})[0] == pytest.approx(math.sin(math.pi / 3))  # March
    assert feature(b, "month_of_year", {"fn": "cos"})[0] == pytest.approx(0.5)
    assert feature(b, "time_to_close")[0] == pytest.approx(0.75)
    # XNYS: 09:30 ET open on a full day; 12:45 ET on the early close of 2024-11-29 (13:00)
    eq = make_bars([1.0], start="2024-03-04 14:30", freq="15min", asset_class="equity")
    assert feature(eq, "time_of_day", {"fn": "cos"})[0] == pytest.approx(1.0)
    assert feature(eq, "time_to_close")[0] == pytest.approx(390 / 1440)
    early = make_bars([1.0], start="2024-11-29 17:45", freq="15min", asset_class="equity")
    assert feature(early, "time_to_close")[0] == pytest.approx(15 / 1440)
    assert feature(early, "day_of_week", {"fn": "cos"})[0] == pytest.approx(math.cos(2 * math.pi * 4 / 7))


def test_last_bar_marks_each_sessions_last_bar_early_closes_included():
    """``last_bar`` is 1 exactly on the bar whose close is the session's close (the next
    decision fills at the next session's open), from the calendar, not from the next row."""
    from backtest.sample_data import generate_equity_bars

    bars = generate_equity_bars("T", "2024-11-25", "2024-12-04", seed=1, timeframe="15min")
    got = feature(bars, "last_bar")
    sid = bars.session_index
    expected = np.r_[sid[1:] != sid[:-1], True].astype(float)  # the full series' last row ends a session too
    np.testing.assert_array_equal(got, expected)
    local = bars.frame.index.tz_convert("America/New_York")[got == 1]
    assert sorted({t.strftime("%H:%M") for t in local}) == ["12:45", "15:45"]  # 2024-11-29 closed at 13:00
    assert got.sum() == len(np.unique(sid))
    # a prefix ending mid-session has no last bar (causal: it does not look at the next row)
    assert feature(bars.slice(0, 10), "last_bar").sum() == 0
    # 30-minute bars: the 15:30 bar; daily bars are each their session's last
    half = generate_equity_bars("T", "2024-03-04", "2024-03-06", seed=1, timeframe="30min")
    local = half.frame.index.tz_convert("America/New_York")[feature(half, "last_bar") == 1]
    assert [t.strftime("%H:%M") for t in local] == ["15:30", "15:30"]
    daily = generate_equity_bars("T", "2024-03-04", "2024-03-15", seed=1, timeframe="1D")
    assert (feature(daily, "last_bar") == 1).all()
    # a 24/7 crypto series: the UTC day's last hour
    hours = make_bars(np.ones(48), start="2024-03-06 00:00")
    np.testing.assert_array_equal(np.flatnonzero(feature(hours, "last_bar")), [23, 47])


def test_regime_filter_one_step_by_hand():
    means, sd, stay = np.array([-1.0, 0.0, 1.0]), 0.5, 0.9
    p = K.regime_filter(np.array([1.0]), np.array([True]), means, sd, stay)[0]
    lik = np.exp(-0.5 * ((1.0 - means) / sd) ** 2)  # prior stays uniform after one transition
    post = lik / lik.max() / 3 + 1e-12  # prior 1/3 each times the max-shifted likelihood, floored
    want = post / post.sum()
    assert p == pytest.approx(want, rel=1e-12)
    # invalid signal: prediction only, uniform stays uniform
    assert K.regime_filter(np.array([5.0]), np.array([False]), means, sd, stay)[0] == pytest.approx([1 / 3] * 3)


def test_regime_probabilities_sum_to_one_and_track_a_trend():
    rng = np.random.default_rng(0)
    up = 100 * np.exp(np.cumsum(0.002 + rng.normal(0, 0.001, 400)))
    schema = default_schema()
    f = compute_features(make_bars(up, high=up * 1.001, low=up * 0.999), schema, strict=True)
    for signal in ("vol", "trend", "momentum", "long"):
        cols = [i for i, s in enumerate(schema.features) if s.params.get("signal") == signal]
        assert np.allclose(f[:, cols].sum(axis=1), 1.0, atol=1e-9)
    assert f[-1, schema.index_of("regime_trend_up")] > 0.9
    assert f[-1, schema.index_of("regime_long_bull")] > 0.9


def _wilder(x, n):
    out, y = [], x[0]
    for i, v in enumerate(x):
        y = v if i == 0 else y + (v - y) / n
        out.append(y)
    return np.array(out)


def test_adx_and_rsi_against_loop_references():
    rng = np.random.default_rng(7)
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))
    h, l = c * (1 + rng.uniform(0, 0.01, 80)), c * (1 - rng.uniform(0, 0.01, 80))
    b = make_bars(c, high=h, low=l)
    pdm, mdm, tr, d = [0.0], [0.0], [h[0] - l[0]], [0.0]
    for i in range(1, 80):
        up, dn = h[i] - h[i - 1], l[i - 1] - l[i]
        pdm.append(up if up > dn and up > 0 else 0.0)
        mdm.append(dn if dn > up and dn > 0 else 0.0)
        tr.append(max(h[i] - l[i], abs(h[i] - c[i - 1]), abs(l[i] - c[i - 1])))
        d.append(c[i] - c[i - 1])
    atr = _wilder(tr, 14)
    pdi, mdi = _wilder(pdm, 14) / atr, _wilder(mdm, 14) / atr
    total = pdi + mdi
    adx = _wilder(np.abs(pdi - mdi) / np.where(total > 0, total, 1.0), 14)  # DX 0 before any move
    assert feature(b, "adx", {"n": 14}) == pytest.approx(adx, rel=1e-12)
    g, lo = _wilder(np.maximum(d, 0), 14), _wilder(np.maximum(np.negative(d), 0), 14)
    assert feature(b, "rsi", {"n": 14})[1:] == pytest.approx(g[1:] / (g + lo)[1:], rel=1e-12)


def test_default_schema_columns_match_their_kinds():
    """The default columns are the registered formulas with the spec's params (no mixing up)."""
    rng = np.random.default_rng(1)
    c = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, 250)))
    b = make_bars(c, high=c * 1.01, low=c * 0.99, volume=rng.uniform(0, 100, 250))
    schema = default_schema()
    f = compute_features(b, schema, strict=True)
    for j, spec in enumerate(schema.features):
        col = feature(b, spec.kind, dict(spec.params))
        assert np.array_equal(f[spec.lookback :, j], col[spec.lookback :]), spec.name
