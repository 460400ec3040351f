"""Walk-forward fold splitting with embargo gaps (DESIGN 3.7, contract).

`WalkForwardSplit` follows scikit-learn's splitter protocol: the constructor stores
its parameters unmodified, `split(X)` yields ``(train, val, test)`` integer index
arrays per fold, `get_n_splits(X)` agrees with `split`. `folds(X)` gives the same
folds as `Fold` records (ranges plus the test segment's warm-up window), which is
what the orchestrator and the run store use.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtest.errors import ConfigError

SCHEMES = ("rolling", "anchored")
_SIZE_NAMES = ("train_size", "val_size", "test_size", "embargo")


@dataclass(frozen=True)
class Fold:
    """One fold's segments as half-open bar ranges ``[start, stop)``, in time order."""

    id: int  # fold number, 0 = oldest test segment
    train: range  # bars the policy is trained on
    val: range  # bars used to select the checkpoint (carved from the end of training)
    test: range  # unseen bars backtested with the selected checkpoint
    warmup: range  # bars before `test` whose feature rows the first test decisions read (no trades)

    def to_dict(self) -> dict:
        """JSON-able ``{"id", "train": [start, stop], ...}`` for manifests and hashes."""
        out: dict = {"id": self.id}
        for name in ("train", "val", "test", "warmup"):
            seg = getattr(self, name)
            out[name] = [seg.start, seg.stop]
        return out


@dataclass(frozen=True)
class _Plan:
    """Resolved sizes in bars; every fold is derived from these."""

    n: int  # bars in the data
    start: int  # first bar any segment may use (min_start)
    train: int
    val: int
    test: int
    embargo: int


class WalkForwardSplit:
    """Walk-forward splitter: per fold a training, a validation and a test segment.

    Each fold is laid out in time as ``train | embargo | val | embargo | test``; the
    validation segment is carved from the end of the training period. Test segments of
    consecutive folds are consecutive and do not overlap, and the last one ends at the
    last bar (the most recent data is always tested; bars left over go unused at the
    start). ``scheme="rolling"`` keeps the training size fixed and slides it forward;
    ``"anchored"`` keeps fold 0's training start and grows training with every fold.

    Parameters
    ----------
    n_folds : int
        Number of folds (test segments), >= 1.
    scheme : {"rolling", "anchored"}
    train_size, val_size, test_size : int, str or None
        Segment lengths in bars, or durations (``"90D"``, ``"12h"``) converted to bars
        from the average bar density of the timestamp index given to `split` (so every
        fold has the same bar counts even across weekends and holidays). Defaults: with
        ``u = available // (n_folds + 4)``, where ``available`` is the data length minus
        ``min_start`` and the two embargo gaps, test = val = u and train takes the rest
        of fold 0's span (about 3u). A given test or val size is used for the other one
        when that one is missing; a given train size leaves
        ``(available - train) // (n_folds + 1)`` to each of test and val.
    embargo : int, str or None
        Bars skipped between train and val and between val and test. At least
        ``window + reward_horizon`` (also the default): a validation or test decision
        reads the ``window`` feature rows before it, and a training reward looks
        ``reward_horizon`` bars ahead, so a smaller gap would let one segment see the
        other.
    window : int
        Observation window W of the feature schema (default 100).
    reward_horizon : int
        Bars a training reward looks ahead (default 1).
    min_start : int
        First bar any segment may start at, normally the feature schema's
        ``warmup_bars``: no decision is taken before its features exist.

    Look-ahead warning
    ------------------
    The splitter only prevents overlap between segments. It cannot stop look-ahead
    inside the pipeline: features must be causal (computed from bars <= t), the
    normaliser must be fitted on the training segment only, and hyper-parameters chosen
    by looking at test results leak the test set into the model. Report the test
    segments of all folds, not the best one. Shorter embargoes than the minimum are
    refused because they would leak rewards or observation windows across segments.

    Examples
    --------
    >>> cv = WalkForwardSplit(n_folds=3, train_size=6, val_size=2, test_size=3, window=2)
    >>> for train, val, test in cv.split(26):
    ...     print(train, val, test)
    [3 4 5 6 7 8] [12 13] [17 18 19]
    [ 6  7  8  9 10 11] [15 16] [20 21 22]
    [ 9 10 11 12 13 14] [18 19] [23 24 25]
    >>> cv.get_n_splits(26)
    3

    The embargo is window + reward_horizon = 3 bars; 23 bars are needed, so bars 0..2
    are left unused. Anchored keeps fold 0's training start:

    >>> cv = WalkForwardSplit(n_folds=3, scheme="anchored", train_size=6, val_size=2, test_size=3, window=2)
    >>> for f in cv.folds(26):
    ...     print(f.id, f.train, f.val, f.test)
    0 range(3, 9) range(12, 14) range(17, 20)
    1 range(3, 12) range(15, 17) range(20, 23)
    2 range(3, 15) range(18, 20) range(23, 26)
    """

    def __init__(
        self,
        n_folds: int = 5,
        scheme: str = "rolling",
        train_size: int | str | None = None,
        val_size: int | str | None = None,
        test_size: int | str | None = None,
        embargo: int | str | None = None,
        window: int = 100,
        reward_horizon: int = 1,
        min_start: int = 0,
    ) -> None:
        self.n_folds = n_folds
        self.scheme = scheme
        self.train_size = train_size
        self.val_size = val_size
        self.test_size = test_size
        self.embargo = embargo
        self.window = window
        self.reward_horizon = reward_horizon
        self.min_start = min_start
        self._check_params()

    # ---- scikit-learn protocol -------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters, as given."""
        return {
            "n_folds": self.n_folds,
            "scheme": self.scheme,
            "train_size": self.train_size,
            "val_size": self.val_size,
            "test_size": self.test_size,
            "embargo": self.embargo,
            "window": self.window,
            "reward_horizon": self.reward_horizon,
            "min_start": self.min_start,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"WalkForwardSplit({args})"

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds; with X, also checks that X can hold them (like `split`)."""
        if X is not None:
            self._plan(X)
        return int(self.n_folds)

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(train, val, test)`` int64 index arrays per fold, oldest fold first.

        X is a length, a timestamp index (`DatetimeIndex` or datetime64 array), an
        object with such an ``index`` (DataFrame, `Bars`), or any sized array.
        Duration sizes need timestamps.
        """
        for fold in self.folds(X):
            yield (
                np.arange(fold.train.start, fold.train.stop, dtype=np.int64),
                np.arange(fold.val.start, fold.val.stop, dtype=np.int64),
                np.arange(fold.test.start, fold.test.stop, dtype=np.int64),
            )

    def folds(self, X) -> list[Fold]:
        """The folds as `Fold` records (same segments as `split`)."""
        p = self._plan(X)
        first_test = p.n - self.n_folds * p.test
        anchor = first_test - 2 * p.embargo - p.val - p.train
        out = []
        for k in range(self.n_folds):
            test_start = first_test + k * p.test
            val_start = test_start - p.embargo - p.val
            train_stop = val_start - p.embargo
            train_start = anchor if self.scheme == "anchored" else train_stop - p.train
            out.append(
                Fold(
                    id=k,
                    train=range(train_start, train_stop),
                    val=range(val_start, val_start + p.val),
                    test=range(test_start, test_start + p.test),
                    warmup=range(max(0, test_start - self.window), test_start),
                )
            )
        return out

    def sizes(self, X) -> dict[str, int]:
        """Resolved sizes in bars: ``n, min_start, train, val, test, embargo``."""
        p = self._plan(X)
        return {"n": p.n, "min_start": p.start, "train": p.train, "val": p.val, "test": p.test, "embargo": p.embargo}

    # ---- validation and planning ----------------------------------------------
    def _check_params(self) -> None:
        _check_int("n_folds", self.n_folds, 1, "e.g. --folds 5")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"scheme={self.scheme!r} is unknown; use one of {list(SCHEMES)}")
        _check_int("window", self.window, 1, "use the feature schema's window, e.g. 100")
        _check_int("reward_horizon", self.reward_horizon, 0, "e.g. 1")
        _check_int("min_start", self.min_start, 0, "use the feature schema's warmup_bars")
        for name in _SIZE_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, (str, pd.Timedelta, _dt.timedelta)):
                _parse_duration(name, value)
            else:
                _check_int(name, value, 1, 'give a positive number of bars or a duration like "90D"')

    def _check_room(self, n: int, emb: int, sizes: list[int]) -> None:
        tr, va, te = (max(s, 1) for s in sizes)  # every segment needs a bar: the real minimum
        needed = self.min_start + 2 * emb + tr + va + self.n_folds * te
        if needed > n:
            raise ConfigError(
                f"n_folds={self.n_folds} needs at least {needed} bars (min_start {self.min_start} + "
                f"2 x embargo {emb} + train {tr} + val {va} + {self.n_folds} x test {te}) but the data "
                f"has {n}; use fewer folds, smaller segments, more data, or a shorter feature window "
                f"(window={self.window}: the embargo is at least window + reward horizon; in the TOML, "
                f"e.g. window = 20)"
            )

    def _plan(self, X) -> _Plan:
        n, index = _length_and_index(X)
        emb_min = self.window + self.reward_horizon
        emb = emb_min if self.embargo is None else _to_bars("embargo", self.embargo, n, index)
        if emb < emb_min:
            raise ConfigError(
                f"embargo={self.embargo!r} ({emb} bars) is shorter than window + reward_horizon = "
                f"{emb_min} bars; use at least {emb_min} (or leave it unset)"
            )
        tr, va, te = (
            None if getattr(self, name) is None else _to_bars(name, getattr(self, name), n, index)
            for name in ("train_size", "val_size", "test_size")
        )
        for name, size in zip(("train_size", "val_size", "test_size"), (tr, va, te)):
            if size is not None and size < 1:  # a duration under one bar of this data
                raise ConfigError(f"{name}={getattr(self, name)!r} is shorter than one bar of this data; "
                                  f"give at least one bar (an integer) or a longer duration")
        available = n - self.min_start - 2 * emb
        # unset sizes at their smallest: one bar for train, and val and test as each other
        # (what the defaults below give them when only one of the two is set)
        def smallest(size, other):
            return size if size is not None else (other if other is not None else 1)

        self._check_room(n, emb, [smallest(tr, None), smallest(va, te), smallest(te, va)])
        if te is None and va is None:
            share = (available - tr) // (self.n_folds + 1) if tr is not None else available // (self.n_folds + 4)
            te = va = max(share, 1)
        te = va if te is None else te
        va = te if va is None else va
        if tr is None:
            tr = available - va - self.n_folds * te
        self._check_room(n, emb, [tr, va, te])
        return _Plan(n=n, start=self.min_start, train=tr, val=va, test=te, embargo=emb)


def _check_int(name: str, value, minimum: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}; {hint}")


def _parse_duration(name: str, value) -> pd.Timedelta:
    """A positive duration; strings must carry a unit ("90D"), a bare "500" would be nanoseconds."""
    if isinstance(value, str) and not any(c.isalpha() for c in value):
        raise ConfigError(f'{name}={value!r} has no unit; give bars as an integer ({name}=500) or a duration like "90D"')
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ConfigError(f'{name}={value!r} is neither a number of bars nor a duration like "90D" or "12h"') from None
    if pd.isna(td) or td <= pd.Timedelta(0):
        raise ConfigError(f'{name}={value!r} must be a positive duration, e.g. "90D"')
    return td


def _to_bars(name: str, value, n: int, index: pd.DatetimeIndex | None) -> int:
    """Bars for a size: ints as given, durations from the index's average bar density."""
    if not isinstance(value, (str, pd.Timedelta, _dt.timedelta)):
        return int(value)
    td = _parse_duration(name, value)
    if index is None or n < 2:
        raise ConfigError(
            f"{name}={value!r} is a duration but the data has no timestamps; give bars (an integer) "
            f"or split a timestamp index"
        )
    step = pd.Timedelta(np.median(np.diff(index.asi8)))
    span = index[-1] - index[0] + step
    return max(int(round(td / span * n)), 0)


def _length_and_index(X) -> tuple[int, pd.DatetimeIndex | None]:
    """Data length and, when X carries timestamps, its DatetimeIndex."""
    if isinstance(X, (int, np.integer)) and not isinstance(X, bool):
        if X < 0:
            raise ConfigError(f"data length {X!r} must be >= 0")
        return int(X), None
    idx = getattr(X, "index", None)
    if isinstance(idx, pd.DatetimeIndex):
        X = idx
    if isinstance(X, pd.DatetimeIndex):
        return len(X), X
    arr = np.asarray(X)
    if arr.dtype.kind == "M":
        return len(arr), pd.DatetimeIndex(arr)
    if arr.dtype == object and arr.ndim == 1 and len(arr) and isinstance(arr[0], _dt.datetime):
        return len(arr), pd.DatetimeIndex(arr)  # tz-aware timestamps as an object array
    if arr.ndim == 0:
        raise ConfigError(f"cannot split {type(X).__name__}: give a length, a timestamp index or an array")
    return len(arr), None


__all__ = ["SCHEMES", "Fold", "WalkForwardSplit"]
