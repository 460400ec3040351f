"""Normaliser: fitted on a row range only, clipped, round-trips through JSON."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtest.errors import ConfigError
from backtest.normaliser import Normaliser


@given(seed=st.integers(0, 2**31), start=st.integers(0, 50), length=st.integers(1, 50))
def test_fit_depends_only_on_the_fit_range(seed, start, length):
    rng = np.random.default_rng(seed)
    f = rng.normal(3.0, 2.0, (120, 4))
    stop = start + length
    a = Normaliser.fit(f, start, stop)
    g = f.copy()
    g[:start] = rng.normal(100.0, 50.0, (start, 4))
    g[stop:] = rng.normal(-100.0, 50.0, (120 - stop, 4))
    b = Normaliser.fit(g, start, stop)
    assert a == b
    assert np.allclose(a.mean, f[start:stop].mean(axis=0), atol=1e-12)
    assert a.fit_range == (start, stop)


def test_transform_standardises_and_clips():
    f = np.array([[0.0, 5.0], [2.0, 5.0], [4.0, 5.0], [1000.0, 6.0]])
    n = Normaliser.fit(f, 0, 3)
    assert n.mean == pytest.approx([2.0, 5.0])
    assert n.std == pytest.approx([np.sqrt(8 / 3), 1.0])  # constant column keeps std 1
    out = n.transform(f)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    assert out[1] == pytest.approx([0.0, 0.0])
    assert out[3, 0] == 10.0  # clipped
    assert out[3, 1] == pytest.approx(1.0)  # raw units for the constant column, not a spike
    assert np.isfinite(out).all()


def test_tensor_transform_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    f = rng.normal(0, 3, (50, 6))
    n = Normaliser.fit(f, 0, 30)
    t64 = n.transform_tensor(torch.from_numpy(f))
    assert np.array_equal(t64.numpy(), n.transform(f))
    t32 = n.transform_tensor(torch.from_numpy(f), dtype=torch.float32)
    assert np.array_equal(t32.numpy(), n.transform(f).astype(np.float32))


def test_json_round_trip_is_exact():
    rng = np.random.default_rng(1)
    n = Normaliser.fit(rng.normal(0, 1, (40, 3)) * [1e-7, 1.0, 1e6], 5, 35)
    back = Normaliser.from_dict(json.loads(json.dumps(n.to_dict())))
    assert back == n and back.fit_range == (5, 35)
    assert np.array_equal(back.mean, n.mean) and np.array_equal(back.std, n.std)


def test_bad_inputs_are_named():
    f = np.zeros((10, 2))
    with pytest.raises(ConfigError, match=r"fit range \[5, 5\)"):
        Normaliser.fit(f, 5, 5)
    with pytest.raises(ConfigError, match=r"\[0, 10\]"):
        Normaliser.fit(f, 0, 11)
    bad = f.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ConfigError, match=r"columns \[1\]"):
        Normaliser.fit(bad, 0, 10)
    with pytest.raises(ValueError, match="3 columns"):
        Normaliser.fit(f).transform(np.zeros((2, 3)))
