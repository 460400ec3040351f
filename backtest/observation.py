"""`BacktestObservationBuilder`: the training environment's observations, for the backtest.

``obs(t, state) = concat(Fn[t-W:t].reshape(-1), account_features(state))``, oldest
row first, with ``Fn = normaliser.transform(compute_features(bars, schema))``. By the
timing rule (DESIGN 3.2) the decision for bar t sees rows up to t-1 only, so the
allowed decision bars are ``schema.warmup_bars <= t <= T`` (t = T is the decision
after the last bar). Because ``Fn`` is C-contiguous the window of every t is one
contiguous slice, and all windows together are a zero-copy strided view
(`market_windows`); a batch is one gather from that view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from backtest.account_features import account_features
from backtest.errors import UserError
from backtest.features import FeatureSchema, compute_features
from backtest.normaliser import Normaliser


class DecisionBarError(UserError, ValueError):
    """A decision bar index is outside the range the window and warm-up allow."""


@njit(cache=True)
def _gather_windows(flat, starts, width, out):
    """``out[i, :width] = flat[starts[i] : starts[i] + width]``: rows of the windows view,
    copied once straight into the batch (numpy fancy indexing would copy twice)."""
    for i in range(starts.shape[0]):
        s = starts[i]
        out[i, :width] = flat[s : s + width]


class BacktestObservationBuilder:
    """Observations for decision bars ``t`` and account states (see module doc).

    ``features_or_bars``: a `Bars` (features are computed here) or the raw float64
    feature matrix ``[T, n_market]`` from `compute_features` (normalised here).
    ``account_config``: an `AccountConfig` or the maximum position fraction.
    ``n_bars``: optional check that the matrix covers exactly that many bars.
    """

    def __init__(
        self,
        features_or_bars: Any,
        schema: FeatureSchema,
        normaliser: Normaliser,
        account_config: Any,
        n_bars: int | None = None,
    ) -> None:
        if isinstance(features_or_bars, np.ndarray):
            raw = features_or_bars
        else:
            raw = compute_features(features_or_bars, schema)
        if raw.ndim != 2 or raw.shape[1] != schema.n_market:
            raise ValueError(
                f"feature matrix must be [T, {schema.n_market}] for schema {schema.version[:12]}, got {raw.shape}"
            )
        if n_bars is not None and raw.shape[0] != int(n_bars):
            raise ValueError(f"feature matrix has {raw.shape[0]} rows but n_bars={n_bars}")
        if normaliser.n_features != schema.n_market:
            raise ValueError(
                f"normaliser has {normaliser.n_features} features, schema {schema.version[:12]} has {schema.n_market}"
            )
        self.schema = schema
        self.normaliser = normaliser
        self.account_config = account_config
        self.features = np.ascontiguousarray(normaliser.transform(raw), dtype=np.float64)
        self.features.flags.writeable = False
        self.n_bars = int(self.features.shape[0])
        self._market_dim = schema.window * schema.n_market

    # --- ranges ----------------------------------------------------------------------
    @property
    def first_bar(self) -> int:
        """Earliest decision bar (``schema.warmup_bars``)."""
        return self.schema.warmup_bars

    @property
    def last_bar(self) -> int:
        """Latest decision bar (``T``: the decision after the last bar)."""
        return self.n_bars

    def _check_bars(self, ts: np.ndarray) -> None:
        if ts.size == 0:
            return
        lo, hi = int(ts.min()), int(ts.max())
        if lo < self.first_bar or hi > self.last_bar:
            bad = lo if lo < self.first_bar else hi
            raise DecisionBarError(
                f"decision bar t={bad} is outside the allowed range [{self.first_bar}, {self.last_bar}] "
                f"(window {self.schema.window} + longest feature look-back {self.schema.max_lookback} "
                f"= warm-up {self.first_bar}; {self.n_bars} bars): start the segment at or after "
                f"bar {self.first_bar}"
            )

    # --- observations ------------------------------------------------------------------
    def market_windows(self) -> np.ndarray:
        """Read-only zero-copy view ``[T-W+1, W*n]``: row i is the window of decision bar i+W."""
        w, n = self.schema.window, self.schema.n_market
        rows = max(self.n_bars - w + 1, 0)
        item = self.features.itemsize
        return np.lib.stride_tricks.as_strided(
            self.features, shape=(rows, w * n), strides=(n * item, item), writeable=False
        )

    def account_part(self, state: Any) -> np.ndarray:
        return np.asarray(account_features(state, self.account_config, self.schema.account_features))

    def get_obs_at_bar(self, t: int, state: Any) -> np.ndarray:
        """float64 ``[obs_dim]`` for decision bar ``t`` and one account state."""
        t = int(t)
        self._check_bars(np.array([t]))
        w = self.schema.window
        market = self.features[t - w : t].reshape(-1)
        return np.concatenate([market, self.account_part(state).reshape(-1)])

    def build_batch(self, ts: Any, states: Any, out: np.ndarray | None = None) -> np.ndarray:
        """float64 ``[len(ts), obs_dim]``: one gather of windows plus vectorised account features.

        ``states``: a structured `ACCOUNT_STATE_DTYPE` array of ``len(ts)`` records or a
        mapping field -> array (one state per t). ``out``: optional C-contiguous float64
        buffer of that shape to fill (reused between calls, no allocation).
        """
        ts = np.asarray(ts, dtype=np.int64).reshape(-1)
        self._check_bars(ts)
        acc = self.account_part(states)
        if acc.ndim == 1:
            acc = np.broadcast_to(acc, (len(ts), acc.shape[0]))
        if acc.shape[0] != len(ts):
            raise ValueError(f"build_batch: {len(ts)} bars but {acc.shape[0]} account states")
        shape = (len(ts), self.schema.obs_dim)
        if out is None:
            out = np.empty(shape, dtype=np.float64)
        elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError(f"build_batch: out must be a C-contiguous float64 array of shape {shape}")
        # Row t-W of market_windows() is the window of t; it starts at element (t-W)*n of Fn.
        starts = (ts - self.schema.window) * self.schema.n_market
        _gather_windows(self.features.reshape(-1), starts, self._market_dim, out)
        out[:, self._market_dim :] = acc
        return out

    def __repr__(self) -> str:
        return (
            f"BacktestObservationBuilder({self.n_bars} bars, schema {self.schema.version[:12]}, "
            f"decisions t in [{self.first_bar}, {self.last_bar}], obs_dim {self.schema.obs_dim})"
        )
