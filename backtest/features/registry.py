"""Feature registry and the per-series context the formulas read from.

Each formula (`kind`) is a function ``fn(ctx, **params) -> float64 [T]`` registered
with its neutral value (what warm-up rows hold). `BarContext` exposes the bar
columns as contiguous arrays and memoises shared intermediates (log returns, EMAs,
rolling windows), so 58 features cost little more than their distinct windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from backtest.features import kernels as K

_NS_PER_MIN = 60 * 1_000_000_000
_NS_PER_HOUR = 60 * _NS_PER_MIN


@dataclass(frozen=True)
class KindDef:
    """A registered formula."""

    fn: Callable[..., np.ndarray]
    neutral: float


KINDS: dict[str, KindDef] = {}


def register(kind: str, neutral: float = 0.0) -> Callable:
    """Decorator: register ``fn`` as formula ``kind`` with its warm-up ``neutral`` value."""

    def deco(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if kind in KINDS:
            raise ValueError(f"feature kind {kind!r} registered twice")
        KINDS[kind] = KindDef(fn, float(neutral))
        return fn

    return deco


def safe_div(num, den, fill: float) -> np.ndarray:
    """``num / den``, with ``fill`` where ``den == 0`` or the quotient is not finite."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    shape = num.shape
    out = K.safe_div(np.ascontiguousarray(num).reshape(-1), np.ascontiguousarray(den).reshape(-1), float(fill))
    return out.reshape(shape)


def flat_to_zero(spread: np.ndarray, level: np.ndarray, rel: float = 1e-10) -> np.ndarray:
    """``spread`` with values below ``rel * |level|`` set to 0: a window of one repeated
    price has a rounding-noise spread (its mean is off by an ulp), not a real one."""
    return np.where(spread > rel * np.abs(level), spread, 0.0)


class BarContext:
    """Arrays of one bar series plus memoised intermediates (see module doc)."""

    def __init__(self, open_, high, low, close, volume, ts_ns, session_index,
                 minutes_from_open, minutes_to_close, session_ns, timeframe_ns: int):
        f = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
        self.open, self.high, self.low, self.close, self.volume = f(open_), f(high), f(low), f(close), f(volume)
        self.ts_ns = np.ascontiguousarray(ts_ns, dtype=np.int64)
        self.session_index = np.ascontiguousarray(session_index, dtype=np.int64)
        self.minutes_from_open = f(minutes_from_open)
        self.minutes_to_close = f(minutes_to_close)
        self.session_ns = np.ascontiguousarray(session_ns, dtype=np.int64)
        self.timeframe_ns = int(timeframe_ns)
        self.n = self.close.shape[0]
        self._memo: dict[Any, Any] = {}

    @classmethod
    def from_bars(cls, bars) -> "BarContext":
        frame = bars.frame
        session = frame["session"]
        session_ns = np.asarray(session.to_numpy().astype("datetime64[ns]").astype(np.int64))
        return cls(
            bars.open, bars.high, bars.low, bars.close, bars.volume, bars.index.as_unit("ns").asi8,
            bars.session_index, bars.column("minutes_from_open"), bars.column("minutes_to_close"),
            session_ns, int(pd_timedelta_ns(bars.timeframe)),
        )

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # --- shared series -------------------------------------------------------------
    @property
    def log_close(self) -> np.ndarray:
        return self.memo("log_close", lambda: np.log(np.maximum(self.close, 1e-300)))

    @property
    def logret(self) -> np.ndarray:
        """Bar-to-bar log return of the close (0 at the first bar)."""

        def make():  # log of the ratio (not a difference of logs): exact under price rescaling
            out = np.zeros(self.n)
            out[1:] = np.log(self.close[1:] / self.close[:-1])
            return out

        return self.memo("logret", make)

    @property
    def session_start(self) -> np.ndarray:
        """Index of the first bar of each bar's session run."""

        def make():
            idx = np.arange(self.n, dtype=np.int64)
            first = np.ones(self.n, dtype=bool)
            first[1:] = self.session_index[1:] != self.session_index[:-1]
            return np.maximum.accumulate(np.where(first, idx, 0))

        return self.memo("session_start", make)

    @property
    def session_ret(self) -> np.ndarray:
        """Log return within the session: vs the previous close, or vs the open on a session's first bar."""

        def make():
            prev = np.empty(self.n)
            prev[:1] = self.open[:1]
            prev[1:] = self.close[:-1]
            first = self.session_start == np.arange(self.n)
            ref = np.where(first, self.open, prev)
            return np.log(self.close / np.maximum(ref, 1e-300))

        return self.memo("session_ret", make)

    @property
    def hour_key(self) -> np.ndarray:
        """Clock hour (UTC ``floor('h')``) of each bar's start, as hours since the epoch."""
        return self.memo("hour_key", lambda: np.floor_divide(self.ts_ns, _NS_PER_HOUR))

    # --- memoised kernels ----------------------------------------------------------------
    def ema(self, name: str, x: np.ndarray, alpha: float) -> np.ndarray:
        return self.memo(("ewm", name, alpha), lambda: K.ewm(x, alpha))

    def rolling(self, stat: str, name: str, x: np.ndarray, n: int) -> np.ndarray:
        fn = {
            "mean": K.rolling_mean, "std": K.rolling_std, "max": K.rolling_max, "min": K.rolling_min,
            "sum": K.rolling_sum, "mad": K.rolling_mean_abs_dev,
        }[stat]
        return self.memo(("rolling", stat, name, int(n)), lambda: fn(x, int(n)))

    def vol(self, n: int) -> np.ndarray:
        """Population std of the last ``n`` log returns (O(T) window sums)."""
        return self.memo(("vol", int(n)), lambda: K.rolling_std_returns(self.logret, int(n)))

    def lagged(self, x: np.ndarray, k: int) -> np.ndarray:
        """``x[t-k]`` (``x[0]`` before the series has k bars: a causal back-stop)."""
        if k <= 0:
            return x.copy()
        out = np.empty_like(x)
        out[k:] = x[:-k] if k < len(x) else x[:0]
        out[: min(k, len(x))] = x[0] if len(x) else 0.0
        return out


def pd_timedelta_ns(td) -> int:
    import pandas as pd

    return int(pd.Timedelta(td).value)
