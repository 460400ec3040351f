"""Fast policy backtest: a policy decides at every bar of a test segment, its account feeding back.

This is model inference, so it lives beside the model; `backtest.runner.run_policy_naive`
is the reference loop it must equal (``builder.get_obs_at_bar(t, sim.account_state()) ->
policy.act(obs) -> sim.step(a)``), and `backtest` never imports this module.

The decision for bar t needs the observation ``market window(t) ++ account features(state
before t)``, and the state before t depends on every earlier decision, so the loop is
sequential. What makes it fast without changing a single decision:

1. **Market part once, in batch.** The first layer of the network splits into a market part
   (depends on the bar only) and an account part. `policy.market_projection` runs over
   chunks of windows (one large matmul per chunk), which is nearly all the FLOPs; or, for
   long segments, `_FftProjection` computes the same rows as a convolution over time.
2. **The small rest, without Python per bar.** Two ways, same decisions (``mode``):

   * *speculative*: between fills the account evolves deterministically (mark price, bars
     in position, PDT day trades left), exactly as a HOLD step moves it. For a block of bars
     the runner computes those states with the simulator kernel's own HOLD step
     (`backtest.kernel.hold`, `_hold_states`), evaluates the network tail for the whole
     block in one torch batch, then commits decisions through the kernel (`_commit`) up to
     the first *filled* order. A rejected order (nothing to sell, max position, PDT...)
     leaves the account as HOLD would, so speculation carries on past it. The block size
     adapts to the fill rate.
   * *compiled*: one numba loop per chunk computes the account features
     (`backtest.account_features.feature_values`, the env's and the builder's own formula),
     the tail (`Tail`: the layers and activations `ActorCritic.tower_layers` lists, float32),
     the argmax and the kernel step per bar.
   * *auto* picks per chunk: compiled when the previous chunk filled often (short blocks
     cost more than they save), speculative otherwise (HOLD-heavy policies).
3. **Near ties go to the reference.** Batched and single-row float32 matmuls sum in different
   orders (torch on CPU differs for fewer than ~64 rows; the compiled tail may reassociate its
   sums), so logits agree with ``policy.act`` only to ~1e-6 relative. Where the top two
   logits are within ``tie_tol`` (relative to the largest |logit|) the runner does not trust
   them: it builds that bar's observation with the `BacktestObservationBuilder` and calls
   ``policy.act(obs)``, exactly what the naive loop does. Every other decision has a margin
   ~100x above the rounding noise, so the actions, and with them fills, trades and equity,
   equal `run_policy_naive` (tested).

Fills, trades and the per-bar series come from one `Simulator.run` over the decided actions
(the same kernel that committed them), so a `PolicyRun.sim` is exactly
``simulate(bars, run.actions, config, start=start, close_at_end=...)``.

The policy is duck-typed (`ProjectionPolicy`; `models.policy.Policy` has every method).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
from numba import njit

from backtest import kernel
from backtest.account import HOLD
from backtest.account_features import account_features, feature_codes, feature_values, max_position_of
from backtest.errors import ConfigError
from backtest.runner import PolicyRun, check_policy, check_segment, to_numpy
from backtest.simulator import SimConfig, Simulator
from backtest.state import ACCOUNT_STATE_DTYPE
from backtest.trades import FILL_DTYPE, STATUS_FILLED, TRADE_DTYPE

#: Default relative tie tolerance: decisions whose top-two logit margin is at most
#: ``tie_tol * max|logit|`` are re-decided by ``policy.act`` on the full observation.
TIE_TOL = 1e-4
#: Tie tolerance used when the policy runs under bf16 autocast (``policy._amp``).
TIE_TOL_AMP = 5e-2
#: Windows per market-projection chunk (bounds the float32 copy: chunk x W*n_market x 4 bytes).
PROJECTION_CHUNK = 4096
#: Speculation block sizes: start, floor and ceiling (a block never crosses a chunk).
BLOCK_START, BLOCK_MIN, BLOCK_MAX = 64, 4, 4096


@runtime_checkable
class ProjectionPolicy(Protocol):
    """What the fast runner needs of a policy (e.g. `models.policy.Policy`).

    * ``market_projection(windows)``: ``[B, W*n_market]`` float windows -> ``[B, h1]`` market
      part of the actor's first layer (torch tensor or array);
    * ``act_from_projection(proj, account_feats)``: greedy actions ``[B]`` from projection rows
      and float64 account features ``[B, n_account]``;
    * ``act(obs)``: greedy action of one full observation ``[obs_dim]`` (the reference path,
      `backtest.runner.PolicyLike`).

    Optional: ``logits_from_projection(proj, account_feats) -> [B, n_actions]``; with it the
    runner detects near ties and hands them to ``act`` (exact equality with the naive loop).
    Without it decisions come from ``act_from_projection`` and may differ from ``act`` on
    logit near-ties (float32 summation order). Optional ``actor_tail()`` (the actor above
    its market projection as float32 arrays, in `models.network.ActorCritic.tower_layers`
    form) enables the compiled loop; optional ``market_weights()`` (the actor's market
    layer) the FFT projection.
    """

    def market_projection(self, windows: Any) -> Any: ...

    def act_from_projection(self, proj: Any, account_feats: Any) -> Any: ...

    def act(self, obs: Any) -> Any: ...


# --------------------------------------------------------------------------------------
# numba kernels (they call the simulator kernel's own functions, so arithmetic is shared)
# --------------------------------------------------------------------------------------
# the cached kernels below inline `backtest.kernel`, its formulas and the account features;
# their cache is keyed by every file they import (`backtest.jit_cache`)

#: Operations of the compiled tail: a layer (the next weights) and the activations it knows,
#: by the names `ActorCritic.tower_layers` gives them.
OP_LINEAR = 0
ACTIVATIONS = {"relu": 1}


@njit(cache=True)
def _hold_states(n, k, out):
    """Account states before the next ``n`` decisions of the simulator (`KernelArgs` ``k``) if
    every one of them is HOLD (or a rejected order): a scratch copy of its state stepped by
    `backtest.kernel.hold`, each observed by `backtest.kernel.observe` into ``out[i]``, as
    `Simulator.account_state`."""
    p = k.params[0]
    scratch = k.state.copy()
    st = scratch[0]
    for i in range(n):
        t = st.t
        kernel.observe(st, k.market, p, out[i])
        kernel.hold(st, t, k.market)


@njit(cache=True)
def _commit(acts, trusted, k, fill, trades, out, off):
    """Step decisions ``acts`` from the simulator's bar through `backtest.kernel.step` while
    they are trusted, stopping after the first filled order (the account left the speculated
    path). Returns ``(committed, stop reason)``: 0 block done, 1 untrusted row next, 2 filled."""
    for i in range(acts.shape[0]):
        if not trusted[i]:
            return i, 1
        a = acts[i]
        out[k.state[0].t - off] = a
        kernel.step(k.state, a, k.market, k.actions, k.params, k.lots, fill, trades)
        if k.actions[a].kind != HOLD and fill[0].status == STATUS_FILLED:
            return i + 1, 2
    return acts.shape[0], 0


@njit(cache=True)
def _account_row(codes, max_pos, rec, out):
    """The account features of one `ACCOUNT_STATE_DTYPE` record (`feature_values`, picked by
    ``codes``), rounded to float32 as the policy rounds its input."""
    values = feature_values(rec.cash, rec.position, rec.entry_price, rec.mark_price, float(rec.bars_in_position),
                            float(rec.day_trades_left), max_pos)
    for j in range(codes.shape[0]):
        out[j] = np.float32(values[codes[j]])


@njit(cache=True, fastmath={"reassoc", "contract"})
def _logits(proj_row, acc, wflat, woff, boff, dims, ops, x, y):
    """Actor tail in float32: ``proj + A acc``, then the tower's operations in order (a layer,
    `OP_LINEAR`, or an activation of `ACTIVATIONS`); logits land in ``x[:dims[-1]]``. Dot
    products may be reassociated (vectorised): the sums differ from torch's in the last bits
    only, which the tie tolerance covers. The arrays come one by one, not as the `Tail`
    tuple: with the tuple, the loop in `_fused` ran 20-25% slower in most processes
    (measured with `benchmarks.bench_runner`'s network, compiled mode)."""
    width = dims[0]
    n_acc = acc.shape[0]
    for k in range(width):
        s = proj_row[k]
        for j in range(n_acc):
            s += wflat[woff[0] + k * n_acc + j] * acc[j]
        x[k] = s
    layer = 0
    for op in ops:
        if op == OP_LINEAR:
            din, dout = dims[layer], dims[layer + 1]
            for k in range(dout):
                row = wflat[woff[layer + 1] + k * din : woff[layer + 1] + (k + 1) * din]
                s = wflat[boff[layer] + k]
                for j in range(din):
                    s += row[j] * x[j]
                y[k] = s
            for k in range(dout):
                x[k] = y[k]
            width = dout
            layer += 1
        else:  # relu
            for k in range(width):
                x[k] = x[k] if x[k] > 0.0 else np.float32(0.0)


@njit(cache=True)
def _fused(t_end, start, proj, off, tie_tol, tail, k, fill, trades, out, observed):
    """Decide and step the simulator (`KernelArgs` ``k``) from its bar to ``t_end - 1`` one bar at
    a time (account features, network tail, argmax, `backtest.kernel.step`); returns the
    first bar whose top-two logits are within the tie tolerance (left undecided for the
    reference), or ``t_end``."""
    st = k.state[0]
    p = k.params[0]
    dims = tail.dims
    x = np.empty(dims.max(), dtype=np.float32)
    y = np.empty(dims.max(), dtype=np.float32)
    acc = np.empty(tail.codes.shape[0], dtype=np.float32)
    n_out = dims[dims.shape[0] - 1]
    while st.t < t_end:
        t = st.t
        kernel.observe(st, k.market, p, observed[0])
        _account_row(tail.codes, tail.max_position, observed[0], acc)
        _logits(proj[t - off], acc, tail.wflat, tail.woff, tail.boff, dims, tail.ops, x, y)
        best = 0
        for j in range(1, n_out):
            if x[j] > x[best]:
                best = j
        second = -np.inf
        scale = 0.0
        for j in range(n_out):
            if j != best and x[j] > second:
                second = x[j]
            scale = max(scale, abs(x[j]))
        if not (x[best] - second > tie_tol * scale):
            return t
        out[t - start] = best
        kernel.step(k.state, best, k.market, k.actions, k.params, k.lots, fill, trades)
    return st.t


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _windows_f32(builder) -> np.ndarray:
    """float32 window view ``[T-W+1, W*n]`` (row t-W is the window of bar t); casting the
    features once gives the same values the policy's own float32 cast of each window gives."""
    f32 = np.ascontiguousarray(builder.features, dtype=np.float32)
    w, n = builder.schema.window, builder.schema.n_market
    rows = max(f32.shape[0] - w + 1, 0)
    return np.lib.stride_tricks.as_strided(f32, shape=(rows, w * n), strides=(n * 4, 4), writeable=False)


class _FftProjection:
    """The actor's market projection of many consecutive bars as a convolution over time.

    Row t of the projection is ``b + sum_j Wm[:, j, :] @ F[t-W+j]``: a cross-correlation of
    the feature series with the W-long kernel of each of the h1 outputs. Overlap-save FFTs
    of length ``L`` over the float32 features and weights the policy would use cost ~40x
    fewer FLOPs than the matmul for W = 100. In float32 (default) the error against the exact
    value is below the float32 matmul's own (measured 2.8e-6 vs 5.9e-6 on values up to ~14);
    ``dtype=torch.float64`` is exact to ~1e-14 at twice the cost. The tie tolerance covers all.
    """

    L = 512

    def __init__(self, weight, bias, builder, dtype=None):
        import torch

        self.torch = torch
        dtype = torch.float32 if dtype is None else dtype
        w, n = builder.schema.window, builder.schema.n_market
        dev = weight.device
        wt = weight.detach().to(torch.float32).to(dtype)
        self.h1 = wt.shape[0]
        if wt.shape[1] != w * n or self.L <= w:
            raise ConfigError(f"run_policy: market weights {tuple(wt.shape)} do not match window {w} x {n} features")
        kern = wt.reshape(self.h1, w, n).permute(2, 0, 1).contiguous()  # [n, h1, W]
        self.kf = torch.fft.rfft(kern, n=self.L, dim=-1).conj().permute(2, 0, 1).contiguous()  # [F, n, h1]
        self.bias = bias.detach().to(torch.float32).to(dtype)
        f32 = np.ascontiguousarray(builder.features, dtype=np.float32)
        x = torch.from_numpy(f32).to(dev).to(dtype)
        self.x = torch.cat([x, x.new_zeros((self.L, n))])  # zero tail: blocks may run past the end
        self.w = w

    def __call__(self, t0: int, t1: int):
        """Projection rows for decision bars ``[t0, t1)`` (tensor ``[t1-t0, h1]``)."""
        torch = self.torch
        step = self.L - self.w + 1
        s0, count = t0 - self.w, t1 - t0  # window of bar t starts at row t-W
        nb = -(-count // step)
        idx = (s0 + torch.arange(nb, device=self.x.device).unsqueeze(1) * step
               + torch.arange(self.L, device=self.x.device).unsqueeze(0))
        xf = torch.fft.rfft(self.x[idx], dim=1).permute(1, 0, 2)  # [F, nb, n]
        y = torch.fft.irfft(torch.bmm(xf, self.kf), n=self.L, dim=0)[:step]  # [step, nb, h1]
        return y.permute(1, 0, 2).reshape(nb * step, self.h1)[:count] + self.bias


#: ``projection="auto"`` uses the FFT for segments at least this long (its kernel transform
#: costs about as much as the matmul of a few thousand bars).
FFT_MIN_BARS = 8192


class _Decider:
    """Batched decisions for speculated states: projection chunks, account features, logits."""

    def __init__(self, policy, builder, tie_tol: float | None, fft: _FftProjection | None = None):
        self.policy = policy
        self.fft = fft
        self.builder = builder
        self.windows = _windows_f32(builder)
        self.w = builder.schema.window
        self.names = builder.schema.account_features
        self.acct = builder.account_config
        self.has_logits = callable(getattr(policy, "logits_from_projection", None))
        if tie_tol is None:
            tie_tol = TIE_TOL_AMP if getattr(policy, "_amp", False) else TIE_TOL
        if not (isinstance(tie_tol, (int, float)) and 0.0 <= float(tie_tol) < 1.0):
            raise ConfigError(f"run_policy: tie_tol must be a number in [0, 1) (relative logit margin), got "
                              f"{tie_tol!r}; the default {TIE_TOL} suits float32 policies")
        self.tie_tol = float(tie_tol)
        self.c0 = self.c1 = -1
        self.proj = None
        self._proj_np = None

    def chunk_for(self, t: int, stop: int) -> int:
        """Make sure the projection chunk holding bar t is computed; returns its end bar."""
        if not self.c0 <= t < self.c1:
            c1 = min(t + PROJECTION_CHUNK, stop)
            if self.fft is not None:
                self.proj = self.fft(t, c1)
            else:
                rows = np.ascontiguousarray(self.windows[t - self.w : c1 - self.w])
                self.proj = self.policy.market_projection(rows)
            self.c0, self.c1 = t, c1
            self._proj_np = None
        return self.c1

    def proj_numpy(self) -> np.ndarray:
        """The current chunk's projection as a C-contiguous float32 array (host memory)."""
        if self._proj_np is None:
            self._proj_np = np.ascontiguousarray(to_numpy(self.proj), dtype=np.float32)
        return self._proj_np

    def decide(self, t: int, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(actions int64 [n], trusted bool [n]) for bars ``t ..`` with the given states
        (`ACCOUNT_STATE_DTYPE` records)."""
        n = len(states)
        feats = np.asarray(account_features(states, self.acct, self.names)).reshape(n, -1)
        proj = self.proj[t - self.c0 : t - self.c0 + n]
        if not self.has_logits:
            acts = to_numpy(self.policy.act_from_projection(proj, feats)).astype(np.int64).reshape(n)
            return acts, np.ones(n, dtype=np.bool_)
        logits = self.policy.logits_from_projection(proj, feats)
        if hasattr(logits, "topk"):  # torch: reduce on the device, move little
            top = logits.topk(2, dim=-1).values
            scale = logits.abs().amax(dim=-1)
            trusted = to_numpy((top[:, 0] - top[:, 1]) > self.tie_tol * scale)
            acts = to_numpy(logits.argmax(-1))
        else:
            lg = np.asarray(logits)
            top = -np.sort(-lg, axis=-1)[:, :2]
            trusted = (top[:, 0] - top[:, 1]) > self.tie_tol * np.abs(lg).max(axis=-1)
            acts = lg.argmax(-1)
        return acts.astype(np.int64).reshape(n), trusted.astype(np.bool_).reshape(n)

    def reference(self, t: int, state) -> int:
        """The naive loop's decision: full observation through ``policy.act``."""
        return int(to_numpy(self.policy.act(self.builder.get_obs_at_bar(t, state))).reshape(-1)[0])


# --------------------------------------------------------------------------------------
# the compiled tail and the decision loop
# --------------------------------------------------------------------------------------
def _tail_ops(layers) -> np.ndarray:
    """The compiled tail's operation codes of ``policy.actor_tail()`` entries (after the
    optional account weight), or `ConfigError` naming an activation the loop lacks."""
    ops = []
    for entry in layers:
        if entry[0] == "linear":
            ops.append(OP_LINEAR)
        elif entry[0] in ACTIVATIONS:
            ops.append(ACTIVATIONS[entry[0]])
        elif entry[0] != "account":
            raise ConfigError(f"run_policy: the compiled loop knows the activations {sorted(ACTIVATIONS)}, not "
                              f"{entry[0]!r}; use mode='auto' or 'speculative'")
    return np.array(ops, np.int64)


class Tail(NamedTuple):
    """The policy's actor tail flattened for `_fused` (float32, row-major [out, in] per layer)."""

    wflat: np.ndarray  # float32: the account weight [h1, n_account], then each layer's weight and bias
    woff: np.ndarray  # int64 offsets of the account weight and each layer's weight in wflat
    boff: np.ndarray  # int64 offsets of each layer's bias
    dims: np.ndarray  # int64 widths: h1, then each layer's output
    ops: np.ndarray  # int64 operations in order (`OP_LINEAR` or an `ACTIVATIONS` code)
    codes: np.ndarray  # int64 account features to feed (`feature_codes` of the schema's names)
    max_position: float  # the account's, for the position fraction


def _tail(layers, ops, names, account_config) -> Tail:
    """`Tail` of ``policy.actor_tail()``: an optional ``("account", weight)`` first, then
    ``("linear", weight, bias)`` and ``(activation name,)`` entries in order (``ops``)."""
    layers = list(layers)
    acc = layers.pop(0)[1] if layers and layers[0][0] == "account" else None
    linear = [entry[1:] for entry in layers if entry[0] == "linear"]
    h1 = linear[0][0].shape[1]
    first = np.zeros((h1, 0), np.float32) if acc is None else np.ascontiguousarray(acc, np.float32)
    if first.shape[1] != len(names):
        raise ConfigError(f"run_policy: the policy's account layer takes {first.shape[1]} features but the "
                          f"schema names {len(names)} ({list(names)})")
    parts, woff, boff = [first.reshape(-1)], [0], []
    pos = first.size
    for w, b in linear:
        w = np.asarray(w, np.float32)
        woff.append(pos)
        parts.append(np.ascontiguousarray(w).reshape(-1))
        pos += w.size
        boff.append(pos)
        parts.append(np.asarray(b, np.float32).reshape(-1))
        pos += w.shape[0]
    return Tail(np.concatenate(parts).astype(np.float32), np.array(woff, np.int64), np.array(boff, np.int64),
                np.array([h1] + [w.shape[0] for w, _ in linear], np.int64), ops, feature_codes(names),
                max_position_of(account_config))


def _compiled_tail(policy, builder, mode: str):
    """`Tail` when the compiled loop is usable (policy exposes `actor_tail`, no bf16, every
    activation one the loop knows), else None (mode ``compiled``: `ConfigError`)."""
    if mode == "speculative":
        return None
    usable = callable(getattr(policy, "actor_tail", None)) and not getattr(policy, "_amp", False)
    if not usable:
        if mode == "compiled":
            raise ConfigError("run_policy: mode='compiled' needs a policy with actor_tail() and no bf16 autocast; "
                              "use mode='auto' or 'speculative'")
        return None
    try:
        layers = policy.actor_tail()
        ops = _tail_ops(layers)
    except ConfigError:
        if mode == "compiled":
            raise
        return None  # auto: the speculative path runs the network itself
    return _tail(layers, ops, builder.schema.account_features, builder.account_config)


#: Compiled-loop switch (mode auto): each chunk starts speculative; after this many bars it
#: turns compiled if orders filled more often than once per SPECULATION_MIN_BARS_PER_FILL
#: bars (short speculation blocks cost more than they save).
SPECULATION_PROBE_BARS = 256
SPECULATION_MIN_BARS_PER_FILL = 48
MODES = ("auto", "speculative", "compiled")
PROJECTIONS = ("auto", "matmul", "fft")


def _fft_projection(policy, builder, projection: str, n_bars: int):
    """`_FftProjection` when asked for (or, in auto, for long segments), else None (matmul)."""
    if projection not in PROJECTIONS:
        raise ConfigError(f"run_policy: projection must be one of {PROJECTIONS}, got {projection!r}")
    usable = callable(getattr(policy, "market_weights", None)) and not getattr(policy, "_amp", False)
    if projection == "fft" and not usable:
        raise ConfigError("run_policy: projection='fft' needs a policy with market_weights() and no bf16 autocast; "
                          "use projection='matmul'")
    if projection == "matmul" or not usable or (projection == "auto" and n_bars < FFT_MIN_BARS):
        return None
    return _FftProjection(*policy.market_weights(), builder)


def _decision_loop(sim: Simulator, dec: _Decider, tail, mode: str, start: int, stop: int):
    """The sequential part: chunks of projections, then speculative blocks or the compiled loop,
    near ties through the reference; the simulator's state follows every committed decision."""
    sim.reset(start)
    actions = np.zeros(stop - start, dtype=np.int64)
    states = np.zeros(BLOCK_MAX, dtype=ACCOUNT_STATE_DTYPE)
    k = sim.kernel_args()
    records = (np.zeros(1, dtype=FILL_DTYPE), np.zeros(1, dtype=TRADE_DTYPE))  # scratch: the run's come later
    stats = {"blocks": 0, "reference_calls": 0, "evaluated": 0, "compiled_bars": 0}
    t, block, compiled = start, BLOCK_START, mode == "compiled"
    chunk_start, chunk_fills = start, 0
    while t < stop:
        c0 = dec.c0
        chunk_end = dec.chunk_for(t, stop)
        if dec.c0 != c0 and mode == "auto":  # a new chunk: probe with speculation again
            compiled, chunk_start, chunk_fills = False, t, 0
        elif mode == "auto" and tail is not None and not compiled and t - chunk_start >= SPECULATION_PROBE_BARS:
            compiled = chunk_fills * SPECULATION_MIN_BARS_PER_FILL > t - chunk_start  # fills often: compile
        if compiled:
            t_new = _fused(chunk_end, start, dec.proj_numpy(), dec.c0, dec.tie_tol, tail, k, *records, actions, states)
            stats["compiled_bars"] += t_new - t
            stats["evaluated"] += t_new - t
            t, why = t_new, (1 if t_new < chunk_end else 0)
        else:
            n = min(block, chunk_end - t)
            _hold_states(n, k, states)
            acts, trusted = dec.decide(t, states[:n])
            done, why = _commit(acts, trusted, k, *records, actions, start)
            stats["blocks"] += 1
            stats["evaluated"] += n
            chunk_fills += why == 2
            t += done
            block = min(block * 2, BLOCK_MAX) if why == 0 else max(BLOCK_MIN, min(2 * done, BLOCK_MAX))
        if why == 1:  # near tie: the reference decides this bar
            a = dec.reference(t, sim.account_state())
            stats["reference_calls"] += 1
            done, _ = _commit(np.array([a], dtype=np.int64), np.ones(1, dtype=np.bool_), k, *records, actions, start)
            t += done
    return actions, stats


def run_policy(policy: ProjectionPolicy, builder, bars, sim_config: SimConfig | None, start: int, stop: int, *,
               close_at_end: bool = True, tie_tol: float | None = None, mode: str = "auto",
               projection: str = "auto") -> PolicyRun:
    """Backtest ``policy`` with decisions at every bar of ``[start, stop)`` (module doc).

    ``builder``: `BacktestObservationBuilder` over the FULL series ``bars`` (features
    normalised with the fold's normaliser), so bar indices, slippage draws and sessions are
    those of the full series. ``close_at_end`` closes the open position at bar ``stop-1``.
    ``tie_tol``: relative top-two logit margin under which ``policy.act`` decides (default
    `TIE_TOL`, `TIE_TOL_AMP` for a bf16-autocast policy). ``mode``: ``speculative`` (batched
    tail on HOLD-speculated blocks), ``compiled`` (numba loop over the tail, needs
    ``policy.actor_tail()``) or ``auto`` (per projection chunk, compiled when the policy fills
    orders often, else speculative). ``projection``: ``matmul`` (``policy.market_projection``
    per chunk), ``fft`` (`_FftProjection`, needs ``policy.market_weights()``) or ``auto``
    (fft from `FFT_MIN_BARS` bars on). All choices give the same decisions.
    """
    if mode not in MODES:
        raise ConfigError(f"run_policy: mode must be one of {MODES}, got {mode!r}")
    config = sim_config if sim_config is not None else SimConfig()
    start, stop = check_segment(builder, bars, start, stop)
    check_policy(policy, builder, config)
    dec = _Decider(policy, builder, tie_tol, _fft_projection(policy, builder, projection, stop - start))
    sim = Simulator(bars, config)
    actions, stats = _decision_loop(sim, dec, _compiled_tail(policy, builder, mode), mode, start, stop)
    sim.reset(start)  # the decisions again, in one kernel call, recording fills and trades
    result = sim.run(actions, close_at_end=close_at_end)
    return PolicyRun(actions, result, config.account.action_space.n, stats)


__all__ = ["ProjectionPolicy", "run_policy", "TIE_TOL", "TIE_TOL_AMP", "MODES", "PROJECTIONS"]
