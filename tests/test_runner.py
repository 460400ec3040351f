"""models.fast_runner: the fast policy backtest equals the naive per-bar loop
(`backtest.runner.run_policy_naive`), bar for bar.

Random (seeded, untrained) networks of a few sizes, with the head scaled so they trade
often, on PDT-binding equity bars (1,000 initial equity, 2022 dates) and on crypto.
Every mode (speculative, compiled, auto) must give the naive loop's actions, fills,
trades, equity, cash, position and PDT rejections exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from backtest.account import AccountConfig
from backtest.account_features import ACCOUNT_FEATURE_NAMES, account_features
from backtest.errors import ConfigError, UserError
from backtest.features import compute_features, default_schema, named_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.runner import PolicyLike, PolicyRun, run_policy_naive
from backtest.sample_data import generate_crypto_bars, generate_equity_bars
from backtest.simulator import SimConfig, simulate
from backtest.state import ACCOUNT_STATE_DTYPE
from models.fast_runner import ProjectionPolicy, _account_row, _FftProjection, _windows_f32, run_policy
from models.network import ActorCritic
from models.policy import Policy
from toy_env import one_torch_thread  # noqa: F401 (autouse fixture)

ACTIONS = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]
SCHEMA = default_schema()


def _setup(bars):
    feats = compute_features(bars, SCHEMA)
    norm = Normaliser.fit(feats, 0, len(feats) // 2)
    acct = AccountConfig()
    return BacktestObservationBuilder(feats, SCHEMA, norm, acct), SimConfig(account=acct)


@pytest.fixture(scope="module")
def equity_case():
    bars = generate_equity_bars("SMPA", "2022-01-03", "2022-02-25", seed=3)
    return (bars, *_setup(bars))


@pytest.fixture(scope="module")
def crypto_case():
    bars = generate_crypto_bars("SMPX-USD", "2022-01-01", "2022-01-12", seed=4)
    return (bars, *_setup(bars))


def _policy(hidden, seed, head_scale=300.0, hold_bias=0.0):
    """An untrained network whose head is scaled up so argmax moves with market and account."""
    torch.manual_seed(seed)
    net = ActorCritic(SCHEMA, len(ACTIONS), hidden).eval()
    with torch.no_grad():
        net.actor_body[-1].weight.mul_(head_scale)
        net.actor_body[-1].bias[0] = hold_bias
        if net.n_account:
            net.actor_account.weight.mul_(5.0)  # make the account features matter
    return Policy(net, SCHEMA, ACTIONS)


def _assert_same(fast: PolicyRun, naive: PolicyRun) -> None:
    np.testing.assert_array_equal(fast.actions, naive.actions)
    np.testing.assert_array_equal(fast.sim.actions, naive.sim.actions)
    assert fast.sim.fills.dtype == naive.sim.fills.dtype
    assert len(fast.sim.fills) == len(naive.sim.fills)
    for name in fast.sim.fills.dtype.names:
        np.testing.assert_array_equal(fast.sim.fills[name], naive.sim.fills[name], err_msg=f"fills.{name}")
    assert len(fast.sim.trades) == len(naive.sim.trades)
    for name in fast.sim.trades.dtype.names:
        np.testing.assert_array_equal(fast.sim.trades[name], naive.sim.trades[name], err_msg=f"trades.{name}")
    np.testing.assert_array_equal(fast.sim.equity, naive.sim.equity)
    np.testing.assert_array_equal(fast.sim.cash, naive.sim.cash)
    np.testing.assert_array_equal(fast.sim.position, naive.sim.position)
    assert fast.sim.pdt_rejections == naive.sim.pdt_rejections
    assert (fast.start, fast.stop) == (naive.start, naive.stop)


@pytest.mark.parametrize("hidden,seed,hold_bias", [((32, 16), 0, 0.0), ((64, 32, 16), 2, 0.0)])
def test_equity_with_pdt_equals_naive_loop(equity_case, hidden, seed, hold_bias):
    bars, builder, cfg = equity_case
    policy = _policy(hidden, seed, hold_bias=hold_bias)
    start, stop = SCHEMA.warmup_bars, len(bars)
    naive = run_policy_naive(policy, builder, bars, cfg, start, stop)
    assert len(naive.sim.fills) > 50 and len(naive.sim.trades) > 10  # the test exercises trading
    assert naive.sim.pdt_rejections > 0  # ... and the PDT rule binding
    assert len(np.unique(naive.actions)) >= 3
    for mode, projection in (("speculative", "matmul"), ("compiled", "matmul"), ("auto", "auto"),
                             ("speculative", "fft"), ("compiled", "fft")):
        _assert_same(run_policy(policy, builder, bars, cfg, start, stop, mode=mode, projection=projection), naive)


def test_crypto_segment_equals_naive_loop(crypto_case):
    bars, builder, cfg = crypto_case
    policy = _policy((48, 24), 2, hold_bias=1.0)
    start, stop = SCHEMA.warmup_bars + 37, len(bars) - 11  # a segment inside the series
    naive = run_policy_naive(policy, builder, bars, cfg, start, stop, close_at_end=False)
    assert len(naive.sim.trades) > 10 and naive.sim.pdt_rejections == 0
    for mode, projection in (("speculative", "fft"), ("compiled", "matmul")):
        _assert_same(run_policy(policy, builder, bars, cfg, start, stop, close_at_end=False, mode=mode,
                                projection=projection), naive)


def test_one_bar_window_of_compact_features_equals_naive_loop():
    """The ``cpu`` mode's observation (1 bar of the compact features, issue 24), fast == naive."""
    schema = named_schema("compact", window=1)
    bars = generate_equity_bars("SMPW", "2022-01-03", "2022-02-25", seed=5)
    feats = compute_features(bars, schema)
    acct = AccountConfig(include_close_action=True)
    builder = BacktestObservationBuilder(feats, schema, Normaliser.fit(feats, 0, len(feats) // 2), acct)
    torch.manual_seed(2)
    net = ActorCritic(schema, acct.action_space.n, (32, 16)).eval()
    with torch.no_grad():
        net.actor_body[-1].weight.mul_(300.0)
        net.actor_account.weight.mul_(5.0)
    policy = Policy(net, schema, acct.action_space.meanings)
    cfg = SimConfig(account=acct)
    start, stop = schema.warmup_bars, len(bars)
    naive = run_policy_naive(policy, builder, bars, cfg, start, stop)
    assert len(naive.sim.trades) > 10 and len(np.unique(naive.actions)) >= 3
    for mode, projection in (("speculative", "matmul"), ("compiled", "matmul"), ("auto", "auto")):
        _assert_same(run_policy(policy, builder, bars, cfg, start, stop, mode=mode, projection=projection), naive)


def test_exact_ties_go_to_the_reference_and_still_agree(crypto_case):
    bars, builder, cfg = crypto_case
    policy = _policy((16, 8), 3)
    with torch.no_grad():  # all logits equal the (tied) bias: every decision is a tie
        policy.network.actor_body[-1].weight.zero_()
        policy.network.actor_body[-1].bias.fill_(0.25)
    start, stop = SCHEMA.warmup_bars, SCHEMA.warmup_bars + 40
    naive = run_policy_naive(policy, builder, bars, cfg, start, stop)
    for mode in ("speculative", "compiled"):
        fast = run_policy(policy, builder, bars, cfg, start, stop, mode=mode)
        _assert_same(fast, naive)
        assert fast.stats["reference_calls"] == stop - start
    assert (naive.actions == 0).all()  # torch's argmax takes the first of equal maxima


def test_hold_heavy_policy_speculates_in_long_blocks(crypto_case):
    bars, builder, cfg = crypto_case
    policy = _policy((32, 16), 4, head_scale=1.0, hold_bias=5.0)  # always HOLD
    run = run_policy(policy, builder, bars, cfg, SCHEMA.warmup_bars, len(bars), mode="speculative")
    n = len(bars) - SCHEMA.warmup_bars
    assert run.action_counts.tolist() == [n, 0, 0, 0, 0, 0, 0]
    assert run.stats["blocks"] < n / 20  # blocks grow while nothing fills
    assert len(run.sim.trades) == 0 and run.sim.equity[-1] == cfg.account.initial_equity


class _BarePolicy:
    """Only the three Protocol methods (no logits, no actor tail)."""

    def __init__(self, policy):
        self._p = policy

    def market_projection(self, windows):
        return self._p.market_projection(windows)

    def act_from_projection(self, proj, feats):
        return self._p.act_from_projection(proj, feats)

    def act(self, obs):
        return self._p.act(obs)


def test_duck_typed_policy_and_result_equals_simulate(equity_case):
    bars, builder, cfg = equity_case
    bare = _BarePolicy(_policy((32, 16), 5))
    assert isinstance(bare, ProjectionPolicy) and isinstance(bare, PolicyLike)
    start, stop = SCHEMA.warmup_bars + 5, SCHEMA.warmup_bars + 300
    run = run_policy(bare, builder, bars, cfg, start, stop)
    with pytest.raises(ConfigError, match="actor_tail"):
        run_policy(bare, builder, bars, cfg, start, stop, mode="compiled")
    with pytest.raises(ConfigError, match="market_weights"):
        run_policy(bare, builder, bars, cfg, start, stop, projection="fft")
    ref = simulate(bars, run.actions, cfg, start=start, close_at_end=True)
    np.testing.assert_array_equal(run.sim.equity, ref.equity)
    assert run.sim.fills.tobytes() == ref.fills.tobytes()
    assert run.sim.actions[-1] == len(ACTIONS)  # close_at_end executes the internal CLOSE
    assert run.sim.position[-1] == 0.0
    assert run.action_counts.sum() == stop - start and run.actions.dtype == np.int64


def test_bad_segments_and_mismatches_are_refused(equity_case, crypto_case):
    bars, builder, cfg = equity_case
    policy = _policy((16, 8), 6)
    w = SCHEMA.warmup_bars
    with pytest.raises(ConfigError, match=f"start={w - 1}.*warm-up"):
        run_policy(policy, builder, bars, cfg, w - 1, w + 10)
    with pytest.raises(ConfigError, match="start < stop"):
        run_policy(policy, builder, bars, cfg, w, len(bars) + 1)
    with pytest.raises(ConfigError, match="builder covers"):
        run_policy(policy, builder, crypto_case[0], cfg, w, w + 10)
    with pytest.raises(ConfigError, match="mode must be"):
        run_policy(policy, builder, bars, cfg, w, w + 10, mode="fast")
    with pytest.raises(ConfigError, match="projection must be"):
        run_policy(policy, builder, bars, cfg, w, w + 10, projection="gemm")
    with pytest.raises(ConfigError, match="tie_tol"):
        run_policy(policy, builder, bars, cfg, w, w + 10, tie_tol=-1.0)
    closing = SimConfig(account=AccountConfig(include_close_action=True))
    with pytest.raises(UserError, match="7 actions"):
        run_policy(policy, builder, bars, closing, w, w + 10)


def test_fft_projection_matches_the_policys_matmul(crypto_case):
    bars, builder, _ = crypto_case
    policy = _policy((64, 32), 7)
    t0, t1 = SCHEMA.warmup_bars + 3, len(bars)  # several overlap-save blocks, ragged end
    w = SCHEMA.window
    windows = np.ascontiguousarray(_windows_f32(builder)[t0 - w : t1 - w])
    exact = windows.astype(np.float64) @ policy.network.actor_market.weight.detach().double().numpy().T
    exact += policy.network.actor_market.bias.detach().double().numpy()
    fft64 = _FftProjection(*policy.market_weights(), builder, dtype=torch.float64)(t0, t1)
    np.testing.assert_allclose(fft64.numpy(), exact, rtol=0, atol=1e-10)  # float64 FFT: ~exact
    fft32 = _FftProjection(*policy.market_weights(), builder)(t0, t1).double().numpy()
    matmul_err = np.abs(policy.market_projection(windows).numpy() - exact).max()
    assert 0 < matmul_err < 1e-4
    assert np.abs(fft32 - exact).max() < 4 * matmul_err  # float32 FFT: as close as the float32 matmul


@given(cash=st.floats(-500, 5000), pos=st.floats(-50, 50), entry=st.floats(0, 200), mark=st.floats(0.01, 200),
       held=st.integers(-3, 300), left=st.integers(0, 3))
def test_compiled_account_row_matches_account_features(cash, pos, entry, mark, held, left):
    """The compiled loop's account features (`feature_values` inside numba) round to the same
    float32 as `account_features` (tanh within one float64 ulp of torch's, which the tie
    tolerance absorbs)."""
    state = np.zeros(1, dtype=ACCOUNT_STATE_DTYPE)
    for name, value in zip(ACCOUNT_STATE_DTYPE.names, (cash, pos, entry, mark, held, left)):
        state[name] = value
    want = np.asarray(account_features(state, 0.2)).reshape(-1).astype(np.float32)
    got = np.empty(len(ACCOUNT_FEATURE_NAMES), np.float32)
    _account_row(np.arange(len(ACCOUNT_FEATURE_NAMES)), 0.2, state[0], got)
    np.testing.assert_array_max_ulp(got, want, maxulp=1)


def test_the_compiled_tail_follows_the_networks_own_layers(crypto_case):
    """The compiled loop takes its layers and activations from `ActorCritic.tower_layers`: an
    activation it does not implement is refused in mode compiled, and mode auto then runs the
    network itself (still equal to the naive loop), never a ReLU by convention."""
    bars, builder, cfg = crypto_case
    policy = _policy((32, 16), 8)
    kinds = [entry[0] for entry in policy.actor_tail()]
    assert kinds == ["account", "relu", "linear", "relu", "linear"]
    with torch.no_grad():
        policy.network.actor_body[2] = torch.nn.Tanh()  # not an activation the tower can report
    start, stop = SCHEMA.warmup_bars, SCHEMA.warmup_bars + 200
    with pytest.raises(ConfigError, match="Tanh"):
        run_policy(policy, builder, bars, cfg, start, stop, mode="compiled")
    fast = run_policy(policy, builder, bars, cfg, start, stop, mode="auto")
    assert fast.stats["compiled_bars"] == 0
    _assert_same(fast, run_policy_naive(policy, builder, bars, cfg, start, stop))
