"""Account features: the DESIGN formulas, one definition for numpy and torch (bit-identical)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtest.account_features import ACCOUNT_FEATURE_NAMES, BARS_IN_POSITION_CAP, account_features
from backtest.state import ACCOUNT_STATE_DTYPE, account_state

torch = pytest.importorskip("torch")


def test_known_values_long_position():
    # cash 800, 2 shares entered at 100 now marked 110: equity 1020, notional 220
    st_ = account_state(cash=800.0, position=2.0, entry_price=100.0, mark_price=110.0,
                        bars_in_position=30, day_trades_left=2)
    f = account_features(st_, 0.2)
    assert f.shape == (5,) and f.dtype == np.float64
    assert f == pytest.approx([220 / (0.2 * 1020), 800 / 1020, math.tanh(10 * 0.1), 0.3, 2 / 3])


def test_known_values_flat_short_and_capped():
    flat = account_features(account_state(cash=1000.0, mark_price=50.0), 0.2)
    assert flat == pytest.approx([0.0, 1.0, 0.0, 0.0, 1.0])
    # short 1 at 100, marked 90: unrealised +10% for the short
    short = account_features(account_state(cash=1100.0, position=-1.0, entry_price=100.0, mark_price=90.0,
                                            bars_in_position=500, day_trades_left=0), 0.2)
    assert short[0] == pytest.approx(-90 / (0.2 * 1010))
    assert short[2] == pytest.approx(math.tanh(1.0))
    assert short[3] == 1.0 and short[4] == 0.0  # bars capped at BARS_IN_POSITION_CAP
    assert BARS_IN_POSITION_CAP == 100


def test_accepts_an_account_config_and_a_subset_of_names():
    class Cfg:
        max_position = 0.5

    st_ = account_state(cash=500.0, position=5.0, entry_price=100.0, mark_price=100.0)
    assert account_features(st_, Cfg())[0] == pytest.approx(500 / (0.5 * 1000))
    assert account_features(st_, 0.5, names=("cash_share",)) == pytest.approx([0.5])
    with pytest.raises(ValueError, match="max_position"):
        account_features(st_, 0.0)


def test_broke_account_is_finite():
    st_ = account_state(cash=-100.0, position=1.0, entry_price=100.0, mark_price=50.0)
    f = account_features(st_, 0.2)
    assert np.isfinite(f).all() and f[0] == 0.0 and f[1] == 1.0


def _states(seed, n):
    rng = np.random.default_rng(seed)
    s = np.zeros(n, dtype=ACCOUNT_STATE_DTYPE)
    s["cash"] = rng.uniform(-50, 2000, n)
    s["position"] = rng.choice([0.0, 1.0, -1.0], n) * rng.uniform(0, 20, n)
    s["entry_price"] = np.where(s["position"] != 0, rng.uniform(1, 200, n), 0.0)
    s["mark_price"] = rng.uniform(1, 200, n)
    s["bars_in_position"] = rng.integers(0, 300, n)
    s["day_trades_left"] = rng.integers(0, 4, n)
    return s


@given(seed=st.integers(0, 2**31), n=st.integers(1, 64))
def test_numpy_and_torch_are_bit_identical(seed, n):
    s = _states(seed, n)
    want = account_features(s, 0.2)
    as_dict = account_features({k: s[k] for k in s.dtype.names}, 0.2)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(s[k])) for k in s.dtype.names}
    got = account_features(tensors, 0.2)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64 and got.shape == (n, 5)
    assert np.array_equal(want, as_dict)
    assert np.array_equal(want, got.numpy())  # bit for bit, tanh included
    assert np.isfinite(want).all()
    for i in range(min(n, 4)):  # one record at a time gives the same row
        assert np.array_equal(account_features(s[i], 0.2), want[i])


def test_feature_names_are_the_design_five():
    assert ACCOUNT_FEATURE_NAMES == ("position_fraction", "cash_share", "unrealised_return",
                                     "bars_in_position", "day_trades_left")
