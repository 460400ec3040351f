"""BacktestObservationBuilder: layout, timing rule, batch = single, refusals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.account_features import account_features
from backtest.errors import UserError
from backtest.features import compute_features, default_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder, DecisionBarError
from backtest.state import ACCOUNT_STATE_DTYPE, account_state
from tests.test_features_known import make_bars

SCHEMA = default_schema()
T = 320


def _bars(seed=0, n=T):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    return make_bars(c, high=c * 1.002, low=c * 0.998, volume=rng.uniform(0, 50, n), freq="15min")


BARS = _bars()
F = compute_features(BARS, SCHEMA)
NORM = Normaliser.fit(F, 0, 250)
BUILDER = BacktestObservationBuilder(F, SCHEMA, NORM, 0.2)


def _states(rng, n):
    s = np.zeros(n, dtype=ACCOUNT_STATE_DTYPE)
    s["cash"] = rng.uniform(100, 1000, n)
    s["position"] = rng.uniform(-2, 2, n)
    s["entry_price"] = rng.uniform(90, 110, n)
    s["mark_price"] = rng.uniform(90, 110, n)
    s["bars_in_position"] = rng.integers(0, 200, n)
    s["day_trades_left"] = rng.integers(0, 4, n)
    return s


def test_layout_is_window_then_account():
    st_ = account_state(cash=900.0, position=1.0, entry_price=100.0, mark_price=101.0, bars_in_position=3)
    t = SCHEMA.warmup_bars + 17
    obs = BUILDER.get_obs_at_bar(t, st_)
    w, n = SCHEMA.window, SCHEMA.n_market
    assert obs.shape == (SCHEMA.obs_dim,) and obs.dtype == np.float64
    fn = NORM.transform(F)
    assert np.array_equal(obs[: w * n], fn[t - w : t].reshape(-1))  # rows t-W .. t-1, oldest first
    assert np.array_equal(obs[(w - 1) * n : w * n], fn[t - 1])
    assert np.array_equal(obs[w * n :], account_features(st_, 0.2))


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 40))
def test_single_equals_batch_row(seed, k):
    rng = np.random.default_rng(seed)
    ts = rng.integers(SCHEMA.warmup_bars, T + 1, k)
    states = _states(rng, k)
    batch = BUILDER.build_batch(ts, states)
    assert batch.shape == (k, SCHEMA.obs_dim)
    for i in range(k):
        assert np.array_equal(batch[i], BUILDER.get_obs_at_bar(int(ts[i]), states[i]))
    as_dict = BUILDER.build_batch(ts, {f: states[f] for f in states.dtype.names})
    assert np.array_equal(batch, as_dict)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31), data=st.data())
def test_rows_at_or_after_t_never_change_the_observation(seed, data):
    t = data.draw(st.integers(SCHEMA.warmup_bars, T))
    rng = np.random.default_rng(seed)
    g = F.copy()
    g[t:] = rng.normal(0, 100, g[t:].shape)
    other = BacktestObservationBuilder(g, SCHEMA, NORM, 0.2)
    st_ = _states(rng, 1)[0]
    assert np.array_equal(other.get_obs_at_bar(t, st_), BUILDER.get_obs_at_bar(t, st_))


def test_future_bars_never_change_the_observation_end_to_end():
    """Changing the bars from t on (prices of the bar being decided and later) leaves obs(t) alone."""
    t = SCHEMA.warmup_bars + 40
    frame = BARS.frame.copy()
    for k in ("open", "high", "low", "close"):
        frame.loc[frame.index[t:], k] = frame[k].to_numpy()[t:] * 1.5
    from backtest.bars import Bars

    moved = Bars(frame, BARS.symbol, BARS.asset_class, BARS.timeframe)
    st_ = account_state(cash=1000.0, mark_price=100.0)
    a = BacktestObservationBuilder(BARS, SCHEMA, NORM, 0.2).get_obs_at_bar(t, st_)
    b = BacktestObservationBuilder(moved, SCHEMA, NORM, 0.2).get_obs_at_bar(t, st_)
    assert np.array_equal(a, b)


def test_bars_and_precomputed_features_agree():
    from_bars = BacktestObservationBuilder(BARS, SCHEMA, NORM, 0.2, n_bars=T)
    assert np.array_equal(from_bars.features, BUILDER.features)


def test_market_windows_is_a_zero_copy_view():
    win = BUILDER.market_windows()
    w, n = SCHEMA.window, SCHEMA.n_market
    assert win.shape == (T - w + 1, w * n)
    assert np.shares_memory(win, BUILDER.features) and not win.flags.writeable
    t = SCHEMA.warmup_bars + 3
    assert np.array_equal(win[t - w], BUILDER.features[t - w : t].reshape(-1))


def test_out_of_range_bars_are_refused_with_the_range():
    st_ = account_state(cash=1000.0)
    for bad in (SCHEMA.warmup_bars - 1, T + 1, -1):
        with pytest.raises(DecisionBarError, match=rf"\[{SCHEMA.warmup_bars}, {T}\]"):
            BUILDER.get_obs_at_bar(bad, st_)
    with pytest.raises(UserError):
        BUILDER.build_batch([SCHEMA.warmup_bars, T + 5], _states(np.random.default_rng(0), 2))
    assert BUILDER.get_obs_at_bar(T, st_).shape == (SCHEMA.obs_dim,)  # decision after the last bar


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="58"):
        BacktestObservationBuilder(F[:, :10], SCHEMA, NORM, 0.2)
    with pytest.raises(ValueError, match="n_bars"):
        BacktestObservationBuilder(F, SCHEMA, NORM, 0.2, n_bars=T - 1)
    with pytest.raises(ValueError, match="normaliser"):
        BacktestObservationBuilder(F, SCHEMA, Normaliser.fit(F[:, :5]), 0.2)
    with pytest.raises(ValueError, match="account states"):
        BUILDER.build_batch([SCHEMA.warmup_bars] * 3, _states(np.random.default_rng(0), 2))
