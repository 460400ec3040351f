"""Account rules and THE action decoder (DESIGN 3.3), shared by simulator, env and CLI.

`AccountConfig` holds the sizing rules; `ActionSpace` maps action ids to
``(kind, size)``. The simulator kernel and the torch environment index the
``kind``/``size`` arrays by action id, so there is exactly one decoder.

Sizing (executed by `backtest.simulator`, documented there step by step), with
``E`` the equity marked at the fill bar's open:

- BUY s (flat or long): notional ``E * (1 - safety_buffer) * base_allocation * s``,
  capped so the position value after the buy is at most ``max_position * E`` and
  by cash (no leverage), quantity ``notional / open`` (whole shares when not
  ``fractional``). BUY s while short buys back fraction s of the short.
- SELL s (long): sells fraction s of the position; flat: rejected (nothing to
  sell) unless ``allow_short``, then opens a short of the BUY notional (capped by
  the max position); while short it adds to the short likewise.
- CLOSE: closes the whole position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backtest.errors import ConfigError

#: Action kinds, as stored in `ActionSpace.kind`.
HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
KIND_NAMES = ("hold", "buy", "sell", "close")

#: Rejection / clipping reason codes recorded on fills (`backtest.simulator`).
REASON_NONE = 0
REASON_CASH = 1  # not enough cash (no leverage)
REASON_MAX_POSITION = 2  # position would exceed max_position * equity
REASON_VOLUME_CAP = 3  # fill would take more than the allowed share of bar volume
REASON_PDT = 4  # pattern-day-trader rule: would be the 4th day trade in 5 sessions
REASON_NOTHING_TO_SELL = 5  # SELL/CLOSE while flat (long-only), or BUY-to-cover with nothing short
REASON_MIN_SIZE = 6  # quantity rounds to zero (whole shares) or the order is below min_order_notional
REASON_NAMES = ("", "cash", "max_position", "volume_cap", "pdt", "nothing_to_sell", "min_size")


def _check_fraction(name: str, value: float, low: float, high: float, *, low_open: bool = False) -> None:
    ok = (low < value <= high) if low_open else (low <= value <= high)
    if not (isinstance(value, (int, float)) and np.isfinite(value) and ok):
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ConfigError(f"AccountConfig.{name} must be in {bound}, got {value!r}")


@dataclass(frozen=True)
class AccountConfig:
    """Account sizing rules (defaults from the seeds)."""

    initial_equity: float = 1000.0
    """Starting cash, in the quote currency."""
    safety_buffer: float = 0.30
    """Share of equity never committed by one BUY: notional uses ``1 - safety_buffer``."""
    base_allocation: float = 0.15
    """Share of the buffered equity a full-size (s = 1) BUY commits."""
    max_position: float = 0.20
    """Cap on the open position's value as a share of equity, checked at each buy."""
    allow_short: bool = False
    """Whether SELL while flat opens a short (otherwise long-only)."""
    fractional: bool = True
    """Fractional quantities; False rounds every order down to whole shares."""
    include_close_action: bool = False
    """Add an eighth action, CLOSE, that exits the whole position."""
    min_order_notional: float = 1.0
    """Smallest order worth placing (quantity x open, quote currency): a smaller increase is
    rejected (min_size), and a reduction that would leave a position worth less sells all of
    it, so repeated partial SELLs never leave dust positions and dust trades; 0 turns it off."""

    def __post_init__(self) -> None:
        if not (isinstance(self.initial_equity, (int, float)) and np.isfinite(self.initial_equity)
                and self.initial_equity > 0):
            raise ConfigError(
                f"AccountConfig.initial_equity must be a positive number, got {self.initial_equity!r}")
        _check_fraction("safety_buffer", self.safety_buffer, 0.0, 1.0)
        if self.safety_buffer >= 1.0:
            raise ConfigError("AccountConfig.safety_buffer must be below 1 (1 would never buy), got 1")
        _check_fraction("base_allocation", self.base_allocation, 0.0, 1.0, low_open=True)
        _check_fraction("max_position", self.max_position, 0.0, 1.0, low_open=True)
        if not (isinstance(self.min_order_notional, (int, float)) and not isinstance(self.min_order_notional, bool)
                and np.isfinite(self.min_order_notional) and self.min_order_notional >= 0):
            raise ConfigError(f"AccountConfig.min_order_notional must be a number >= 0 (0 = off), "
                              f"got {self.min_order_notional!r}")
        for name in ("allow_short", "fractional", "include_close_action"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"AccountConfig.{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def buy_fraction(self) -> float:
        """Share of equity a size-1 BUY commits: ``(1 - safety_buffer) * base_allocation``."""
        return (1.0 - self.safety_buffer) * self.base_allocation

    @property
    def action_space(self) -> "ActionSpace":
        return ActionSpace(include_close=self.include_close_action)


_BASE_ACTIONS = (
    ("HOLD", HOLD, 0.0),
    ("BUY_25", BUY, 0.25),
    ("BUY_50", BUY, 0.50),
    ("BUY_75", BUY, 0.75),
    ("SELL_25", SELL, 0.25),
    ("SELL_50", SELL, 0.50),
    ("SELL_75", SELL, 0.75),
)
_CLOSE_ACTION = ("CLOSE", CLOSE, 1.0)


@dataclass(frozen=True)
class ActionSpace:
    """The one action decoder: action id -> (kind, size).

    >>> space = ActionSpace()
    >>> space.n, space.meanings[3], int(space.kind[3]), float(space.size[3])
    (7, 'BUY_75', 1, 0.75)
    >>> ActionSpace(include_close=True).meanings[-1]
    'CLOSE'
    """

    include_close: bool = False
    """Whether the optional CLOSE action (id 7) exists."""
    meanings: tuple[str, ...] = field(init=False)
    kind: np.ndarray = field(init=False, repr=False, compare=False)
    size: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.include_close, bool):
            raise ConfigError(f"ActionSpace.include_close must be True or False, got {self.include_close!r}")
        rows = _BASE_ACTIONS + ((_CLOSE_ACTION,) if self.include_close else ())
        object.__setattr__(self, "meanings", tuple(r[0] for r in rows))
        kind = np.array([r[1] for r in rows], dtype=np.int64)
        size = np.array([r[2] for r in rows], dtype=np.float64)
        kind.setflags(write=False)
        size.setflags(write=False)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "size", size)

    @property
    def n(self) -> int:
        return len(self.meanings)

    def __len__(self) -> int:
        return self.n

    def id_of(self, meaning: str) -> int:
        """Action id of a name such as ``"BUY_50"`` (case-insensitive)."""
        key = meaning.upper()
        if key not in self.meanings:
            raise ConfigError(f"unknown action {meaning!r}; known actions: {', '.join(self.meanings)}")
        return self.meanings.index(key)

    def decode(self, action: int) -> tuple[str, float]:
        """``(kind name, size)`` of one action id."""
        a = int(action)
        if not 0 <= a < self.n:
            raise ConfigError(f"action id must be in [0, {self.n - 1}], got {action!r}")
        return KIND_NAMES[int(self.kind[a])], float(self.size[a])

    def validate(self, actions: np.ndarray) -> np.ndarray:
        """Actions as a contiguous int64 array, every id checked to be in range."""
        arr = np.ascontiguousarray(np.asarray(actions), dtype=np.int64)
        if arr.ndim != 1:
            raise ConfigError(f"actions must be a 1-d array of action ids, got shape {arr.shape}")
        bad = np.flatnonzero((arr < 0) | (arr >= self.n))
        if bad.size:
            raise ConfigError(
                f"action ids must be in [0, {self.n - 1}] ({', '.join(self.meanings)}); "
                f"position {int(bad[0])} holds {int(arr[bad[0]])}")
        return arr
