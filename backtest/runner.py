"""Fast policy backtest: a policy decides at every bar of a test segment, its account feeding back.

The decision for bar t needs the observation ``market window(t) ++ account features(state
before t)``, and the state before t depends on every earlier decision, so the loop is
sequential. What makes it fast without changing a single decision:

1. **Market part once, in batch.** The first layer of the network splits into a market part
   (depends on the bar only) and an account part. `policy.market_projection` runs over
   chunks of windows (one large matmul per chunk), which is nearly all the FLOPs.
2. **The small rest, without Python per bar.** Two ways, same decisions (``mode``):

   * *speculative*: between fills the account evolves deterministically (mark price, bars
     in position, PDT day trades left), exactly as a HOLD step moves it. For a block of bars
     the runner computes those states with the simulator kernel's own HOLD arithmetic
     (`_hold_states`), evaluates the network tail for the whole block in one torch batch,
     then commits decisions through the kernel (`_commit`) up to the first *filled* order.
     A rejected order (nothing to sell, max position, PDT...) leaves the account as HOLD
     would, so speculation carries on past it. The block size adapts to the fill rate.
   * *compiled*: one numba loop per chunk computes the account features, the tail (weights
     from ``policy.actor_tail()``, float32), the argmax and the kernel step per bar.
   * *auto* picks per chunk: compiled when the previous chunk filled often (short blocks
     cost more than they save), speculative otherwise (HOLD-heavy policies).
3. **Near ties go to the reference.** Batched and single-row float32 matmuls sum in different
   orders (torch on CPU differs for fewer than ~64 rows; the compiled tail sums in float64),
   so logits agree with ``policy.act`` only to ~1e-6 relative. Where the top two logits are
   within ``tie_tol`` (relative to the largest |logit|) the runner does not trust them: it
   builds that bar's observation with the `BacktestObservationBuilder` and calls
   ``policy.act(obs)``, exactly what the naive loop does. Every other decision has a margin
   ~100x above the rounding noise, so the actions, and with them fills, trades and equity,
   equal `run_policy_naive` (tested).

Fills, trades and the per-bar series come from one `Simulator.run` over the decided actions
(the same kernel that committed them), so a `PolicyRun.sim` is exactly
``simulate(bars, run.actions, config, start=start, close_at_end=...)``.

The policy is duck-typed (`PolicyLike`): `backtest` never imports `models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numba import njit

from backtest import _sim_kernel as K
from backtest.account import REASON_PDT
from backtest.account_features import (ACCOUNT_FEATURE_NAMES, BARS_IN_POSITION_CAP, UNREALISED_SCALE,
                                       account_features)
from backtest.errors import ConfigError, SchemaMismatchError
from backtest.simulator import SimConfig, SimResult, Simulator
from backtest.state import PDT_MAX_DAY_TRADES
from backtest.state import equity as state_equity
from backtest.trades import FILL_DTYPE, STATUS_FILLED, STATUS_HOLD, TRADE_DTYPE

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
class PolicyLike(Protocol):
    """What the runner needs of a policy (e.g. `models.policy.Policy`).

    * ``market_projection(windows)``: ``[B, W*n_market]`` float windows -> ``[B, h1]`` market
      part of the actor's first layer (torch tensor or array);
    * ``act_from_projection(proj, account_feats)``: greedy actions ``[B]`` from projection rows
      and float64 account features ``[B, n_account]``;
    * ``act(obs)``: greedy action of one full observation ``[obs_dim]`` (the reference path).

    Optional: ``logits_from_projection(proj, account_feats) -> [B, n_actions]``; with it the
    runner detects near ties and hands them to ``act`` (exact equality with the naive loop).
    Without it decisions come from ``act_from_projection`` and may differ from ``act`` on
    logit near-ties (float32 summation order). Optional ``actor_tail() -> {"account": [h1,
    n_account] or None, "layers": [(weight [out, in], bias [out]), ...]}`` (float32) enables
    the compiled loop (ReLU after the first layer's sum and every layer but the last).
    """

    def market_projection(self, windows: Any) -> Any: ...

    def act_from_projection(self, proj: Any, account_feats: Any) -> Any: ...

    def act(self, obs: Any) -> Any: ...


@dataclass
class PolicyRun:
    """A policy's backtest over decision bars ``[start, stop)``."""

    actions: np.ndarray
    """int64 ``[stop - start]``: the policy's decision at each bar (before close_at_end)."""
    sim: SimResult
    """Fills, trades, per-bar equity/cash/position, PDT rejections (`backtest.simulator`);
    ``sim.actions`` is what was executed (the last one CLOSE with ``close_at_end``)."""
    n_actions: int
    """Size of the action space (for `action_counts`)."""
    stats: dict
    """How the run went: ``blocks`` (speculative batches), ``reference_calls`` (near ties
    decided by ``policy.act``), ``evaluated`` (rows the network tail evaluated, >= bars, more
    when speculation was cut short), ``compiled_bars`` (bars decided by the compiled loop)."""

    @property
    def start(self) -> int:
        return self.sim.start

    @property
    def stop(self) -> int:
        return self.sim.stop

    @property
    def action_counts(self) -> np.ndarray:
        """int64 ``[n_actions]``: how often the policy chose each action."""
        return np.bincount(self.actions, minlength=self.n_actions).astype(np.int64)


# --------------------------------------------------------------------------------------
# numba kernels (they call the simulator kernel's own functions, so arithmetic is shared)
# --------------------------------------------------------------------------------------
# the cached kernels below inline `backtest._sim_kernel` and its formulas; their cache is
# keyed by every file they import (`backtest._jit_cache`)


@njit(cache=True)
def _hold_states(t0, n, mkt, ap, fs, ist, cash, pos, entry, mark, held, left):
    """Account states before decisions ``t0 .. t0+n-1`` if every one of them is HOLD (or a
    rejected order): a scratch copy of the state stepped by the kernel's session roll and
    `mark`, the day trades left by `state_day_trades_left`, as `Simulator.account_state`."""
    close, session, pdt_on = mkt[1], mkt[3], mkt[4]
    f = fs.copy()
    s_ = ist.copy()
    for i in range(n):
        t = t0 + i
        cash[i] = f[K.F_CASH]
        pos[i] = f[K.F_POS]
        entry[i] = f[K.F_ENTRY]
        mark[i] = f[K.F_MARK]
        held[i] = s_[K.I_BARS_IN_POS]
        left[i] = K.state_day_trades_left(t, session, pdt_on, ap, f, s_)
        s = session[t]
        if s != s_[K.I_SESSION]:
            f[K.F_PREV_CLOSE_EQUITY] = f[K.F_EQUITY]
            s_[K.I_SESSION] = s
        K.mark(t, close[t], f, s_)


@njit(cache=True)
def _commit(t0, acts, trusted, mkt, kind, size, ap, ip, fp, fs, ist, lots, ff, fi, tf, ti, out, off):
    """Step decisions ``acts`` from bar ``t0`` through `_sim_kernel.step` while they are
    trusted, stopping after the first filled order (the account left the speculated path).
    Returns ``(committed, stop reason)``: 0 block done, 1 untrusted row next, 2 filled."""
    for i in range(acts.shape[0]):
        if not trusted[i]:
            return i, 1
        a = acts[i]
        t = t0 + i
        out[t - off] = a
        ist[K.I_N_TRADES] = 0
        K.step(t, a, mkt, kind, size, ap, ip, fp, fs, ist, lots, ff, fi, 0, tf, ti)
        if kind[a] != 0 and fi[0, K.FI_STATUS] == STATUS_FILLED:
            return i + 1, 2
    return acts.shape[0], 0


@njit(cache=True)
def _account_row(codes, max_pos, cash, pos, entry, mark, held, left, out):
    """One row of `backtest.account_features.account_features` (same operations, codes index
    `ACCOUNT_FEATURE_NAMES`), rounded to float32 as the policy rounds its input. numba's tanh
    may differ from torch's by one float64 ulp: far inside the tie tolerance."""
    notional = pos * mark
    eq = cash + notional
    alive = eq > 0.0
    safe = eq if alive else 1.0
    for j in range(codes.shape[0]):
        c = codes[j]
        if c == 0:
            v = notional / (safe * max_pos) if alive else 0.0
            v = min(max(v, -2.0), 2.0)
        elif c == 1:
            v = cash / safe if alive else 1.0
            v = min(max(v, -10.0), 10.0)
        elif c == 2:
            r = 0.0
            if pos != 0.0 and entry > 0.0:
                r = (mark / entry - 1.0) * (-1.0 if pos < 0.0 else 1.0)
            v = np.tanh(r * UNREALISED_SCALE)
        elif c == 3:
            v = min(max(float(held), 0.0), float(BARS_IN_POSITION_CAP)) / float(BARS_IN_POSITION_CAP)
        else:
            v = min(max(left / float(PDT_MAX_DAY_TRADES), 0.0), 1.0)
        out[j] = np.float32(v)


@njit(cache=True, fastmath={"reassoc", "contract"})
def _logits(proj_row, acc, wflat, woff, boff, dims, x, y):
    """Actor tail in float32: ``relu(proj + A acc)``, the hidden layers (ReLU) and the head;
    logits land in ``x[:dims[-1]]``. Dot products may be reassociated (vectorised): the sums
    differ from torch's in the last bits only, which the tie tolerance covers."""
    h1 = dims[0]
    n_acc = acc.shape[0]
    for k in range(h1):
        s = proj_row[k]
        for j in range(n_acc):
            s += wflat[woff[0] + k * n_acc + j] * acc[j]
        x[k] = s if s > 0.0 else np.float32(0.0)
    n_layers = dims.shape[0] - 1
    for l in range(n_layers):
        din, dout = dims[l], dims[l + 1]
        xx = x[:din]
        last = l == n_layers - 1
        for k in range(dout):
            row = wflat[woff[l + 1] + k * din : woff[l + 1] + (k + 1) * din]
            s = wflat[boff[l] + k]
            for j in range(din):
                s += row[j] * xx[j]
            y[k] = s if (last or s > 0.0) else np.float32(0.0)
        for k in range(dout):
            x[k] = y[k]


@njit(cache=True)
def _fused(t, t_end, start, proj, off, codes, max_pos, tie_tol, wflat, woff, boff, dims, mkt, kind, size, ap, ip,
           fp, fs, ist, lots, ff, fi, tf, ti, out):
    """Decide and step bars ``t .. t_end-1`` one by one (account features, network tail, argmax,
    `_sim_kernel.step`); returns the first bar whose top-two logits are within the tie
    tolerance (left undecided for the reference), or ``t_end``."""
    session, pdt_on = mkt[3], mkt[4]
    x = np.empty(dims.max(), dtype=np.float32)
    y = np.empty(dims.max(), dtype=np.float32)
    acc = np.empty(codes.shape[0], dtype=np.float32)
    n_out = dims[dims.shape[0] - 1]
    while t < t_end:
        left = K.state_day_trades_left(t, session, pdt_on, ap, fs, ist)
        _account_row(codes, max_pos, fs[K.F_CASH], fs[K.F_POS], fs[K.F_ENTRY], fs[K.F_MARK], ist[K.I_BARS_IN_POS],
                     left, acc)
        _logits(proj[t - off], acc, wflat, woff, boff, dims, x, y)
        best = 0
        for k in range(1, n_out):
            if x[k] > x[best]:
                best = k
        second = -np.inf
        scale = 0.0
        for k in range(n_out):
            if k != best and x[k] > second:
                second = x[k]
            scale = max(scale, abs(x[k]))
        if not (x[best] - second > tie_tol * scale):
            return t
        out[t - start] = best
        ist[K.I_N_TRADES] = 0
        K.step(t, best, mkt, kind, size, ap, ip, fp, fs, ist, lots, ff, fi, 0, tf, ti)
        t += 1
    return t


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _check_segment(builder, bars, start: int, stop: int) -> tuple[int, int]:
    if builder.n_bars != len(bars):
        raise ConfigError(f"run_policy: the builder covers {builder.n_bars} bars but bars has {len(bars)}; "
                          "build the BacktestObservationBuilder over the same full series")
    start, stop = int(start), int(stop)
    if start < builder.first_bar:
        raise ConfigError(f"run_policy: start={start} is inside the warm-up (window + look-back = "
                          f"{builder.first_bar} bars); start at bar {builder.first_bar} or later")
    if not start < stop <= len(bars):
        raise ConfigError(f"run_policy: need start < stop <= {len(bars)} (number of bars), got "
                          f"start={start}, stop={stop}")
    return start, stop


def _check_policy(policy, builder, config: SimConfig) -> None:
    schema = getattr(policy, "schema", None)
    if schema is not None and getattr(schema, "version", None) != builder.schema.version:
        raise SchemaMismatchError(f"run_policy: the policy's feature schema {str(schema.version)[:12]} differs "
                                  f"from the builder's {builder.schema.version[:12]}; build features with the "
                                  "checkpoint's schema")
    n = getattr(policy, "n_actions", None)
    if n is not None and int(n) != config.account.action_space.n:
        raise SchemaMismatchError(f"run_policy: the policy has {n} actions but the account's action space has "
                                  f"{config.account.action_space.n}; set AccountConfig.include_close_action to match")


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


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
            self._proj_np = np.ascontiguousarray(_to_numpy(self.proj), dtype=np.float32)
        return self._proj_np

    def decide(self, t: int, states: dict) -> tuple[np.ndarray, np.ndarray]:
        """(actions int64 [n], trusted bool [n]) for bars ``t ..`` with the given states."""
        n = len(states["cash"])
        feats = np.asarray(account_features(states, self.acct, self.names)).reshape(n, -1)
        proj = self.proj[t - self.c0 : t - self.c0 + n]
        if not self.has_logits:
            acts = _to_numpy(self.policy.act_from_projection(proj, feats)).astype(np.int64).reshape(n)
            return acts, np.ones(n, dtype=np.bool_)
        logits = self.policy.logits_from_projection(proj, feats)
        if hasattr(logits, "topk"):  # torch: reduce on the device, move little
            top = logits.topk(2, dim=-1).values
            scale = logits.abs().amax(dim=-1)
            trusted = _to_numpy((top[:, 0] - top[:, 1]) > self.tie_tol * scale)
            acts = _to_numpy(logits.argmax(-1))
        else:
            lg = np.asarray(logits)
            top = -np.sort(-lg, axis=-1)[:, :2]
            trusted = (top[:, 0] - top[:, 1]) > self.tie_tol * np.abs(lg).max(axis=-1)
            acts = lg.argmax(-1)
        return acts.astype(np.int64).reshape(n), trusted.astype(np.bool_).reshape(n)

    def reference(self, t: int, state) -> int:
        """The naive loop's decision: full observation through ``policy.act``."""
        return int(_to_numpy(self.policy.act(self.builder.get_obs_at_bar(t, state))).reshape(-1)[0])


# --------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------
class _Tail:
    """The policy's actor tail flattened for `_fused` (float32, row-major [out, in] per layer)."""

    def __init__(self, tail: dict, names, max_position: float):
        layers = tail["layers"]
        acc = tail["account"]
        h1 = layers[0][0].shape[1]
        first = np.zeros((h1, 0), np.float32) if acc is None else np.ascontiguousarray(acc, np.float32)
        if first.shape[1] != len(names):
            raise ConfigError(f"run_policy: the policy's account layer takes {first.shape[1]} features but the "
                              f"schema names {len(names)} ({list(names)})")
        parts, woff, boff = [first.reshape(-1)], [0], []
        pos = first.size
        for w, b in layers:
            w = np.asarray(w, np.float32)
            woff.append(pos)
            parts.append(np.ascontiguousarray(w).reshape(-1))
            pos += w.size
            boff.append(pos)
            parts.append(np.asarray(b, np.float32).reshape(-1))
            pos += w.shape[0]
        self.wflat = np.concatenate(parts).astype(np.float32)
        self.woff, self.boff = np.array(woff, np.int64), np.array(boff, np.int64)
        self.dims = np.array([h1] + [w.shape[0] for w, _ in layers], np.int64)
        self.codes = np.array([ACCOUNT_FEATURE_NAMES.index(n) for n in names], np.int64)
        self.max_position = float(getattr(max_position, "max_position", max_position))


def _compiled_tail(policy, builder, mode: str):
    """`_Tail` when the compiled loop is usable (policy exposes `actor_tail`, no bf16), else None."""
    if mode == "speculative":
        return None
    usable = callable(getattr(policy, "actor_tail", None)) and not getattr(policy, "_amp", False)
    if not usable:
        if mode == "compiled":
            raise ConfigError("run_policy: mode='compiled' needs a policy with actor_tail() and no bf16 autocast; "
                              "use mode='auto' or 'speculative'")
        return None
    return _Tail(policy.actor_tail(), builder.schema.account_features, builder.account_config)


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
    buf = {k: np.empty(BLOCK_MAX, dtype=d) for k, d in (("cash", np.float64), ("position", np.float64),
                                                        ("entry_price", np.float64), ("mark_price", np.float64),
                                                        ("bars_in_position", np.int64),
                                                        ("day_trades_left", np.int64))}
    ff, fi = np.zeros((1, K.N_FF)), np.zeros((1, K.N_FI), dtype=np.int64)
    tf, ti = np.zeros((1, K.N_TF)), np.zeros((1, K.N_TI), dtype=np.int64)
    kargs = (sim._mkt, sim._kind, sim._size, sim._ap, sim._ip, sim._fp, sim._fs, sim._ist, sim._lots,
             ff, fi, tf, ti)
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
            t_new = _fused(t, chunk_end, start, dec.proj_numpy(), dec.c0, tail.codes, tail.max_position,
                           dec.tie_tol, tail.wflat, tail.woff, tail.boff, tail.dims, *kargs,
                           actions)
            stats["compiled_bars"] += t_new - t
            stats["evaluated"] += t_new - t
            t, why = t_new, (1 if t_new < chunk_end else 0)
        else:
            n = min(block, chunk_end - t)
            _hold_states(t, n, sim._mkt, sim._ap, sim._fs, sim._ist, buf["cash"], buf["position"],
                         buf["entry_price"], buf["mark_price"], buf["bars_in_position"], buf["day_trades_left"])
            acts, trusted = dec.decide(t, {k: v[:n] for k, v in buf.items()})
            done, why = _commit(t, acts, trusted, *kargs, actions, start)
            stats["blocks"] += 1
            stats["evaluated"] += n
            chunk_fills += why == 2
            t += done
            block = min(block * 2, BLOCK_MAX) if why == 0 else max(BLOCK_MIN, min(2 * done, BLOCK_MAX))
        if why == 1:  # near tie: the reference decides this bar
            a = dec.reference(t, sim.account_state())
            stats["reference_calls"] += 1
            done, _ = _commit(t, np.array([a], dtype=np.int64), np.ones(1, dtype=np.bool_), *kargs, actions, start)
            t += done
    return actions, stats


def run_policy(policy: PolicyLike, builder, bars, sim_config: SimConfig | None, start: int, stop: int, *,
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
    start, stop = _check_segment(builder, bars, start, stop)
    _check_policy(policy, builder, config)
    dec = _Decider(policy, builder, tie_tol, _fft_projection(policy, builder, projection, stop - start))
    actions, stats = _decision_loop(Simulator(bars, config), dec, _compiled_tail(policy, builder, mode), mode,
                                    start, stop)
    out = Simulator(bars, config)
    out.reset(start)
    result = out.run(actions, close_at_end=close_at_end)
    return PolicyRun(actions, result, config.account.action_space.n, stats)


def run_policy_naive(policy: PolicyLike, builder, bars, sim_config: SimConfig | None, start: int, stop: int, *,
                     close_at_end: bool = True) -> PolicyRun:
    """The reference loop, one bar at a time through the step API: ``obs =
    builder.get_obs_at_bar(t, sim.account_state())``, ``a = policy.act(obs)``, ``sim.step(a)``.
    Its records are assembled from the step results (not from `Simulator.run`)."""
    config = sim_config if sim_config is not None else SimConfig()
    start, stop = _check_segment(builder, bars, start, stop)
    _check_policy(policy, builder, config)
    sim = Simulator(bars, config)
    state = sim.reset(start)
    n = stop - start
    actions = np.zeros(n, dtype=np.int64)
    executed = np.zeros(n, dtype=np.int64)
    eq, cash, pos = np.zeros(n), np.zeros(n), np.zeros(n)
    fills = []
    for i in range(n):
        t = start + i
        a = int(_to_numpy(policy.act(builder.get_obs_at_bar(t, state))).reshape(-1)[0])
        actions[i] = a
        if close_at_end and i == n - 1:
            executed[i] = sim.n_actions  # the simulator's internal CLOSE row
            fill = sim._step(t, sim.n_actions)
        else:
            executed[i] = a
            fill = sim.step(a)
        if fill["status"] != STATUS_HOLD:
            fills.append(fill)
        state = sim.account_state()
        eq[i] = state_equity(state)
        cash[i], pos[i] = state["cash"], state["position"]
    fills_arr = np.array(fills, dtype=FILL_DTYPE) if fills else np.zeros(0, dtype=FILL_DTYPE)
    trades = np.array(sim.trades, dtype=TRADE_DTYPE) if sim.trades else np.zeros(0, dtype=TRADE_DTYPE)
    pdt = int(np.count_nonzero(fills_arr["reason"] == REASON_PDT))
    result = SimResult(bars, config, start, stop, executed, fills_arr, trades, eq, cash, pos, pdt)
    return PolicyRun(actions, result, config.account.action_space.n,
                     {"blocks": n, "reference_calls": n, "evaluated": n})


__all__ = ["PolicyLike", "PolicyRun", "run_policy", "run_policy_naive", "TIE_TOL", "TIE_TOL_AMP"]
