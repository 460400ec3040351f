"""Augmented training paths (`models.augment`): the resampled segment is causal (no bar at or
after the training segment's end is ever read), keeps the real bars before the segment,
valid OHLC, time-of-day slots and short-range dependence; `AugmentedEnv` keeps the trainer's
bar contract and its real path is the plain env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backtest.errors import ConfigError
from backtest.features import FeatureSchema, compute_features
from backtest.normaliser import Normaliser
from backtest.sample_data import generate_equity_bars
from models.augment import AugmentedEnv, resample_bars, resample_sources, training_env
from models.env import TradingEnv
from models.ppo import PPOTrainer
from tests.test_env_parity import SHORT_SPECS
from toy_env import small_config

SCHEMA = FeatureSchema(features=SHORT_SPECS, window=6)
BARS = generate_equity_bars("AUGT", start="2023-03-01", end="2023-04-15", seed=5)  # 15-minute bars
START, STOP = 60, 400


def _with_future_changed(bars, stop):
    """The same bars with every bar from ``stop`` on replaced (prices doubled, volume zeroed)."""
    from backtest.bars import Bars

    frame = bars.frame.copy()
    for col in ("open", "high", "low", "close"):
        frame.iloc[stop:, frame.columns.get_loc(col)] *= 2.0
    frame.iloc[stop:, frame.columns.get_loc("volume")] = 0.0
    return Bars(frame, symbol=bars.symbol, asset_class=bars.asset_class, timeframe=bars.timeframe,
                calendar=bars.calendar)


def test_resampled_segment_never_reads_a_bar_after_the_training_segment():
    a = resample_bars(BARS, START, STOP, 8.0, np.random.default_rng(3))
    b = resample_bars(_with_future_changed(BARS, STOP), START, STOP, 8.0, np.random.default_rng(3))
    assert len(a) == len(b) == STOP
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(a.frame[col].to_numpy(), b.frame[col].to_numpy())
    # ... and features of the copy, computed on it alone, equal on every training row
    np.testing.assert_array_equal(compute_features(a, SCHEMA), compute_features(b, SCHEMA))


def test_rows_before_the_segment_and_the_calendar_are_the_real_ones_and_ohlc_is_valid():
    fake = resample_bars(BARS, START, STOP, 8.0, np.random.default_rng(1))
    real = BARS.frame.iloc[:STOP]
    assert fake.frame.index.equals(real.index)
    np.testing.assert_array_equal(fake.frame.iloc[:START].to_numpy(), real.iloc[:START].to_numpy())
    for col in ("session", "session_index", "minutes_from_open", "minutes_to_close"):
        np.testing.assert_array_equal(fake.frame[col].to_numpy(), real[col].to_numpy())
    o, h, lo, c = fake.open, fake.high, fake.low, fake.close
    assert (lo > 0).all() and (h >= np.maximum(o, c) - 1e-12).all() and (lo <= np.minimum(o, c) + 1e-12).all()
    assert not np.allclose(c[START:], real["close"].to_numpy()[START:])  # it is another path
    # every rebuilt bar's open-to-close return is one of the real segment's
    real_body = np.log(real["close"].to_numpy() / real["open"].to_numpy())[START:STOP]
    fake_body = np.log(c / o)[START:STOP]
    assert np.isin(np.round(fake_body, 12), np.round(real_body, 12)).all()


def test_sources_match_the_targets_time_of_day_and_come_in_runs_of_about_the_block_length():
    slots = BARS.frame["minutes_from_open"].to_numpy()[:STOP]
    src = resample_sources(slots, START, STOP, 10.0, np.random.default_rng(7))
    assert ((src >= START) & (src < STOP)).all()
    np.testing.assert_array_equal(slots[src], slots[START:STOP])
    runs = 1 + np.count_nonzero(np.diff(src) != 1)
    assert 6 <= (STOP - START) / runs <= 14  # mean run about the block length (10; cut at the segment end)
    one = resample_sources(slots, START, STOP, 1.0, np.random.default_rng(7))
    assert np.count_nonzero(np.diff(one) == 1) < 0.2 * (STOP - START)  # block 1: (almost) every bar drawn anew


def test_runs_never_cross_into_another_time_of_day_on_irregular_sessions():
    """Sessions of 3 to 7 bars (early closes, odd calendars): a run that reaches the end of a
    short source session must not continue into the next session's first bar where the
    target still expects a later bar, and the reverse."""
    rng = np.random.default_rng(11)
    slots = np.concatenate([15.0 * np.arange(n) for n in rng.integers(3, 8, size=120)])
    stop = len(slots)
    for block in (3.0, 20.0):
        src = resample_sources(slots, 0, stop, block, np.random.default_rng(5))
        np.testing.assert_array_equal(slots[src], slots)
        assert ((src >= 0) & (src < stop)).all()


def test_daily_lag1_dependence_survives_inside_blocks():
    from benchmarks.learning_worlds import make_world

    bars = make_world("lag1_daily_030", 0)
    def agree(b):
        s = np.sign(np.log(b.close / b.open)[120:978])
        return np.mean(s[1:] == s[:-1])
    blocks = agree(resample_bars(bars, 120, 978, 10.0, np.random.default_rng(0)))
    shuffled = agree(resample_bars(bars, 120, 978, 1.0, np.random.default_rng(0)))
    assert agree(bars) > 0.6 and blocks > 0.58 and abs(shuffled - 0.5) < 0.05, (agree(bars), blocks, shuffled)


def _envs(paths, n_envs=8):
    raw = compute_features(BARS, SCHEMA)
    norm = Normaliser.fit(raw, START, STOP)
    return training_env(norm.transform(raw), BARS, SCHEMA, norm, (START, STOP), paths, 8.0, n_envs=n_envs, seed=2,
                        episode_len=20), norm.transform(raw)


def test_augmented_env_keeps_the_bar_contract_and_its_first_path_is_the_plain_env():
    env, feats = _envs(paths=3)
    assert isinstance(env, AugmentedEnv) and env.n_envs == 8 and len(env.envs) == 4
    plain = TradingEnv(feats, BARS, SCHEMA, n_envs=2, episode_len=20, train_range=(START, STOP), seed=2)
    g = torch.Generator().manual_seed(0)
    obs, pobs = env.reset(), plain.reset()
    for _ in range(45):  # past two episode ends
        m = env.market_windows[env.bar_index]
        torch.testing.assert_close(obs[:, :m.shape[1]], m.to(obs.dtype))
        torch.testing.assert_close(obs[:2], pobs)
        acts = torch.randint(0, env.n_actions, (8,), generator=g)
        obs, reward, done, info = env.step(acts)
        pobs, preward, _, pinfo = plain.step(acts[:2])
        torch.testing.assert_close(reward[:2], preward)
        fm = env.market_windows[info["final_bar_index"]]
        torch.testing.assert_close(info["final_obs"][:, :fm.shape[1]], fm.to(obs.dtype))
    assert not torch.equal(obs[2:4], obs[4:6])  # the paths differ


def test_trainer_runs_on_augmented_paths_and_resumes_the_env_state():
    env, _ = _envs(paths=1, n_envs=16)
    cfg = small_config(n_envs=16, total_steps=16 * 16 * 3, n_steps=16, minibatch_size=128)
    trainer = PPOTrainer(env, SCHEMA, cfg, verbose=0)
    assert trainer.bar_mode
    result = trainer.train()
    assert result.updates == 3
    state = env.state()
    other, _ = _envs(paths=1, n_envs=16)
    obs = other.load_state(state)
    torch.testing.assert_close(other.bar_index, env.bar_index)
    assert obs is not None and obs.shape == (16, env.obs_dim)


def test_paths_that_do_not_divide_the_envs_are_refused():
    with pytest.raises(ConfigError, match="augment_paths=2 needs n_envs=8"):
        _envs(paths=2)
    with pytest.raises(ConfigError, match="training segment"):
        resample_bars(BARS, 10, len(BARS) + 1, 5.0, np.random.default_rng(0))
