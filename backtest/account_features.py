"""Account features: what the policy sees of its own account (DESIGN 3.2).

Written once (`feature_values`), for numpy, torch and numba alike: arithmetic operators
plus the backend-generic `backtest.arith` selects, clips and tanh. `account_features`
takes a mapping of field -> array (a structured `ACCOUNT_STATE_DTYPE` record array, a
dict of numpy arrays, or a dict of torch tensors with the same field names); the fast
policy runner's compiled loop calls `feature_values` on scalars inside numba. ``+ - * /``,
comparisons and selects are exact IEEE operations everywhere (a divisor is always an array,
since CUDA torch divides by a host scalar through its reciprocal), and ``tanh`` is evaluated by
torch on the numpy and torch paths (numpy's and torch's tanh may differ by one ulp), so the
training environment and the backtest get bit-identical float64 features (numba's tanh
may differ by one ulp, which the runner's tie tolerance absorbs).

Features, in `ACCOUNT_FEATURE_NAMES` order (equity = cash + position * mark_price):

- ``position_fraction``: position * mark_price / (max_position * equity), clipped to
  +-`POSITION_FRACTION_CLIP` (2; 1 = the full allowed long position; negative for
  shorts); 0 when equity <= 0.
- ``cash_share``: cash / equity, clipped to +-`CASH_SHARE_CLIP` (10); 1 when equity <= 0.
- ``unrealised_return``: tanh(10 * (mark/entry - 1) * sign(position)); 0 when flat.
- ``bars_in_position``: min(bars, BARS_IN_POSITION_CAP) / BARS_IN_POSITION_CAP.
- ``day_trades_left``: day_trades_left / 3, clipped to [0, 1] (1 when PDT does not bind).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from numba.extending import register_jitable

from backtest.arith import clip, ops_for, select, tanh
from backtest.state import PDT_MAX_DAY_TRADES

ACCOUNT_FEATURE_NAMES = (
    "position_fraction",
    "cash_share",
    "unrealised_return",
    "bars_in_position",
    "day_trades_left",
)

#: Bars in position saturate here (feature = 1 from this many bars on).
BARS_IN_POSITION_CAP = 100
#: Scale inside tanh for the unrealised return (10 -> +-10% maps to +-0.76).
UNREALISED_SCALE = 10.0
#: Clip of the position fraction (2 = twice the allowed position) and of the cash share.
POSITION_FRACTION_CLIP = 2.0
CASH_SHARE_CLIP = 10.0


@register_jitable
def feature_values(cash, position, entry_price, mark_price, bars_in_position, day_trades_left, max_position):
    """Every feature, in `ACCOUNT_FEATURE_NAMES` order, as a tuple: float64 scalars inside numba,
    elementwise over float64 arrays or tensors in Python (module doc)."""
    notional = position * mark_price
    equity = cash + notional
    alive = equity > 0.0
    safe_equity = select(alive, equity, cash * 0.0 + 1.0)
    position_fraction = clip(select(alive, notional / (safe_equity * max_position), notional * 0.0),
                             -POSITION_FRACTION_CLIP, POSITION_FRACTION_CLIP)
    cash_share = clip(select(alive, cash / safe_equity, cash * 0.0 + 1.0), -CASH_SHARE_CLIP, CASH_SHARE_CLIP)
    open_pos = (position != 0.0) & (entry_price > 0.0)
    safe_entry = select(open_pos, entry_price, entry_price * 0.0 + 1.0)
    direction = select(position < 0.0, position * 0.0 - 1.0, position * 0.0 + 1.0)
    ret = select(open_pos, (mark_price / safe_entry - 1.0) * direction, mark_price * 0.0)
    unrealised = tanh(ret * UNREALISED_SCALE)
    # Divisors are arrays of the operand's shape, never Python numbers: torch on CUDA divides by a
    # host scalar as a multiplication by its reciprocal (35 / 100 != 35 * 0.01), seen on an H200.
    held = clip(bars_in_position, 0.0, float(BARS_IN_POSITION_CAP)) / (
        bars_in_position * 0.0 + float(BARS_IN_POSITION_CAP))
    left = clip(day_trades_left / (day_trades_left * 0.0 + float(PDT_MAX_DAY_TRADES)), 0.0, 1.0)
    return position_fraction, cash_share, unrealised, held, left


def feature_codes(names: Sequence[str] = ACCOUNT_FEATURE_NAMES) -> np.ndarray:
    """int64 positions of ``names`` in `feature_values`' tuple (ValueError for unknown names)."""
    unknown = [n for n in names if n not in ACCOUNT_FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown account features {unknown}; known: {list(ACCOUNT_FEATURE_NAMES)}")
    return np.array([ACCOUNT_FEATURE_NAMES.index(n) for n in names], dtype=np.int64)


def max_position_of(account_config_or_max_position: Any) -> float:
    """The maximum position (fraction of equity) of an `AccountConfig`, or the number itself."""
    value = getattr(account_config_or_max_position, "max_position", account_config_or_max_position)
    value = float(value)
    if not value > 0.0:
        raise ValueError(f"max_position must be > 0 (a fraction of equity), got {value!r}")
    return value


def account_features(
    state: Mapping[str, Any] | np.ndarray,
    account_config_or_max_position: Any,
    names: Sequence[str] = ACCOUNT_FEATURE_NAMES,
) -> Any:
    """``[..., len(names)]`` float64 features of ``state`` (numpy in, numpy out; torch in, torch out).

    ``account_config_or_max_position`` is a `backtest.account.AccountConfig` (its
    ``max_position``) or the maximum position as a fraction of equity.
    """
    codes = feature_codes(names)
    max_pos = max_position_of(account_config_or_max_position)
    ops = ops_for(state["cash"])
    values = feature_values(*(ops.f64(state[f]) for f in ("cash", "position", "entry_price", "mark_price",
                                                           "bars_in_position", "day_trades_left")), max_pos)
    return ops.stack([values[c] for c in codes])
