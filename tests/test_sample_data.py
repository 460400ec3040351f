"""The bundled sample generator: calendar-true, deterministic, realistic enough."""

import numpy as np
import pandas as pd
import pytest

from backtest.errors import ConfigError
from backtest.sample_data import generate_crypto_bars, generate_equity_bars, sample_bars


@pytest.fixture(scope="module")
def sample():
    return sample_bars(seed=0)


def test_sample_has_three_symbols_two_years_of_15min_bars(sample):
    assert [b.symbol for b in sample] == ["SMPA", "SMPB", "SMPC"]
    for bars in sample:
        assert bars.asset_class == "equity" and bars.timeframe == pd.Timedelta("15min")
        assert bars.index[-1] - bars.index[0] > pd.Timedelta(days=700)
        sizes = bars.frame.groupby("session").size()
        assert set(sizes.unique()) == {26, 14}  # full sessions and early closes only
        assert pd.Timestamp("2023-11-23") not in set(sizes.index)  # Thanksgiving
        assert sizes.loc[pd.Timestamp("2023-11-24")] == 14
        assert np.array_equal(np.unique(np.diff(bars.session_index)), [0, 1])


def test_ohlc_consistent_and_positive(sample):
    for bars in sample:
        f = bars.frame
        assert (f["low"] > 0).all() and (f["volume"] > 0).all()
        assert (f["high"] >= f[["open", "close"]].max(axis=1)).all()
        assert (f["low"] <= f[["open", "close"]].min(axis=1)).all()
        assert np.isfinite(f[["open", "high", "low", "close", "volume"]].to_numpy()).all()


def test_deterministic_for_seed_and_different_across_seeds(sample):
    again = sample_bars(seed=0)
    other = sample_bars(seed=1)
    for a, b, c in zip(sample, again, other):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        assert not np.allclose(a.close, c.close)
    assert not np.allclose(sample[0].close[:100] / sample[0].close[0], sample[1].close[:100] / sample[1].close[0])


def test_volatility_clusters_and_volume_is_u_shaped(sample):
    f = sample[0].frame
    r = np.diff(np.log(f["close"].to_numpy()))
    assert np.corrcoef(np.abs(r[1:]), np.abs(r[:-1]))[0, 1] > 0.1  # clustering
    by_bar = f.groupby("minutes_from_open")["volume"].mean()
    assert by_bar.iloc[0] > 1.3 * by_bar.loc[180.0] and by_bar.iloc[-1] > 1.3 * by_bar.loc[180.0]
    sessions_first = f["minutes_from_open"].to_numpy() == 0
    gaps = np.log(f["open"].to_numpy()[1:] / f["close"].to_numpy()[:-1])
    assert np.abs(gaps[sessions_first[1:]]).mean() > 0  # overnight gaps exist
    assert np.abs(gaps[~sessions_first[1:]]).max() < 1e-12  # no gaps inside a session


def test_planted_signal_is_learnable():
    plain = generate_equity_bars("SIG", "2022-01-03", "2023-01-01", seed=3)
    planted = generate_equity_bars("SIG", "2022-01-03", "2023-01-01", seed=3, signal=0.3)

    def sign_corr(bars):
        r = np.diff(np.log(bars.close))
        return np.corrcoef(np.sign(r[:-1]), r[1:])[0, 1]

    assert sign_corr(planted) > 0.1
    assert abs(sign_corr(plain)) < 0.06


def test_crypto_is_24_7_and_daily_equity_works():
    crypto = generate_crypto_bars("SMPX-USD", "2023-01-01", "2023-01-15", seed=1, timeframe="1h")
    assert len(crypto) == 14 * 24 and crypto.asset_class == "crypto"
    assert (np.diff(crypto.timestamps_ns) == 3_600 * 10**9).all()
    daily = generate_equity_bars("D", "2023-01-01", "2024-01-01", seed=1, timeframe="1D")
    assert len(daily) == 250 and (daily.frame["minutes_from_open"] == 0).all()


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="end"):
        generate_equity_bars("X", "2023-01-01", "2022-01-01")
    with pytest.raises(ConfigError, match="timeframe"):
        generate_crypto_bars("X", timeframe="-5min")
    with pytest.raises(ConfigError, match="symbols"):
        sample_bars(symbols=())
