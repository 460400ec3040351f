"""Account features: what the policy sees of its own account (DESIGN 3.2).

Written once, for numpy and torch alike: the state is a mapping of field -> array
(a structured `ACCOUNT_STATE_DTYPE` record array, a dict of numpy arrays, or a dict
of torch tensors with the same field names) and every step uses arithmetic operators
plus a small namespace picked from the input type. ``+ - * /``, comparisons and
selects are exact IEEE operations in both libraries, and ``tanh`` is evaluated by
torch on both paths (numpy's and torch's tanh may differ by one ulp), so the
training environment and the backtest get bit-identical float64 features.

Features, in `ACCOUNT_FEATURE_NAMES` order (equity = cash + position * mark_price):

- ``position_fraction``: position * mark_price / (max_position * equity), clipped to
  +-2 (1 = the full allowed long position; negative for shorts); 0 when equity <= 0.
- ``cash_share``: cash / equity, clipped to +-10; 1 when equity <= 0.
- ``unrealised_return``: tanh(10 * (mark/entry - 1) * sign(position)); 0 when flat.
- ``bars_in_position``: min(bars, BARS_IN_POSITION_CAP) / BARS_IN_POSITION_CAP.
- ``day_trades_left``: day_trades_left / 3, clipped to [0, 1] (1 when PDT does not bind).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

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
_FIELDS = ("cash", "position", "entry_price", "mark_price", "bars_in_position", "day_trades_left")


class _NumpyOps:
    """The few non-operator functions account features need, numpy flavour."""

    @staticmethod
    def f64(x):
        return np.asarray(x, dtype=np.float64)

    where = staticmethod(np.where)
    clip = staticmethod(np.clip)
    minimum = staticmethod(np.minimum)
    sign = staticmethod(np.sign)

    @staticmethod
    def tanh(x):
        import torch

        x = np.asarray(x, dtype=np.float64)
        return torch.tanh(torch.from_numpy(x.reshape(-1).copy())).numpy().reshape(x.shape)

    @staticmethod
    def stack(xs):
        return np.stack(xs, axis=-1)


class _TorchOps:
    """Same functions for torch tensors (kept on the input's device)."""

    def __init__(self, torch):
        self.torch = torch

    def f64(self, x):
        return x.to(self.torch.float64)

    def where(self, c, a, b):
        return self.torch.where(c, a, b)

    def clip(self, x, lo, hi):
        return self.torch.clamp(x, lo, hi)

    def minimum(self, a, b):
        return self.torch.clamp(a, max=b)

    def tanh(self, x):
        return self.torch.tanh(x)

    def sign(self, x):
        return self.torch.sign(x)

    def stack(self, xs):
        return self.torch.stack(xs, dim=-1)


def ops_for(value: Any):
    """The namespace for ``value``'s library: ``f64 where clip minimum tanh sign stack``, each
    an exact IEEE operation in both (tanh by torch on both), so code written with them gives
    the same bits on numpy arrays and torch tensors (`models.reward` uses it too)."""
    mod = type(value).__module__
    if mod.startswith("torch"):
        import torch

        return _TorchOps(torch)
    return _NumpyOps


def _max_position(account_config_or_max_position: Any) -> float:
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
    unknown = [n for n in names if n not in ACCOUNT_FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown account features {unknown}; known: {list(ACCOUNT_FEATURE_NAMES)}")
    max_pos = _max_position(account_config_or_max_position)
    ops = ops_for(state["cash"])
    cash, pos = ops.f64(state["cash"]), ops.f64(state["position"])
    entry, mark = ops.f64(state["entry_price"]), ops.f64(state["mark_price"])
    held = ops.f64(state["bars_in_position"])
    trades_left = ops.f64(state["day_trades_left"])

    notional = pos * mark
    equity = cash + notional
    alive = equity > 0.0
    safe_equity = ops.where(alive, equity, cash * 0.0 + 1.0)
    feats = {}
    feats["position_fraction"] = ops.clip(
        ops.where(alive, notional / (safe_equity * max_pos), notional * 0.0), -2.0, 2.0
    )
    feats["cash_share"] = ops.clip(ops.where(alive, cash / safe_equity, cash * 0.0 + 1.0), -10.0, 10.0)
    open_pos = (pos != 0.0) & (entry > 0.0)
    safe_entry = ops.where(open_pos, entry, entry * 0.0 + 1.0)
    direction = ops.where(pos < 0.0, pos * 0.0 - 1.0, pos * 0.0 + 1.0)
    ret = ops.where(open_pos, (mark / safe_entry - 1.0) * direction, mark * 0.0)
    feats["unrealised_return"] = ops.tanh(ret * UNREALISED_SCALE)
    feats["bars_in_position"] = ops.minimum(ops.clip(held, 0.0, None), float(BARS_IN_POSITION_CAP)) / float(
        BARS_IN_POSITION_CAP
    )
    feats["day_trades_left"] = ops.clip(trades_left / float(PDT_MAX_DAY_TRADES), 0.0, 1.0)
    return ops.stack([feats[n] for n in names])
