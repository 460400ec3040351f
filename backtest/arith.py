"""Elementwise arithmetic written once for every backend: Python floats, numpy arrays, torch
tensors and numba kernels.

The simulator kernel, its torch mirror (`models.env_step`), the training env and the fast
policy runner must compute the same formulas to the bit. A formula written with the
functions here (and plain ``+ - * /``, comparisons and ``&``) runs unchanged in all of them:
in Python each function picks numpy or torch from its input's type, and each is overloaded
for numba scalars, so a `numba.extending.register_jitable` formula compiles into a kernel.
Every operation is an exact IEEE operation in every backend, except where noted:

- `select(cond, a, b)`: ``a`` where ``cond`` else ``b`` (``torch.where`` / ``np.where`` /
  a branch). Both ``a`` and ``b`` are evaluated: guard a division by selecting its operand
  first (``x / select(ok, d, 1.0)``), never its result alone;
- `clip(x, lo, hi)`: ``min(max(x, lo), hi)``;
- `tanh(x)`: evaluated by torch on both numpy and torch inputs (numpy's tanh differs from
  torch's by one ulp on about a fifth of inputs); in numba ``math.tanh``, which may differ
  from torch's by one float64 ulp (the fast runner's tie tolerance absorbs it);
- `sqrt(x)`: correctly rounded everywhere: ``np.sqrt`` / ``math.sqrt`` are; ``torch.sqrt`` on
  CPU is not always (its vectorised float64 path can be 1 ulp off, measured with torch
  2.13), so tensors go through `_torch_sqrt_rn`, which corrects it exactly. Never
  ``x ** 0.5``.

`ops_for(value)` gives the same operations (plus ``f64 minimum sign stack``) as a namespace
picked once per call, for vectorised code that never runs in numba (`models.reward`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba.extending import overload


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


class _NumpyOps:
    """The few non-operator functions the shared formulas need, numpy flavour."""

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
    the same bits on numpy arrays and torch tensors."""
    if _is_torch(value):
        import torch

        return _TorchOps(torch)
    return _NumpyOps


def select(cond, a, b):
    """``a`` where ``cond``, else ``b`` (elementwise for arrays and tensors)."""
    if _is_torch(cond):
        import torch

        return torch.where(cond, a, b)
    if np.ndim(cond) == 0:
        return a if cond else b
    return np.where(cond, a, b)


def clip(x, lo, hi):
    """``min(max(x, lo), hi)`` (elementwise for arrays and tensors)."""
    if _is_torch(x):
        import torch

        return torch.clamp(x, lo, hi)
    return np.clip(x, lo, hi)


def tanh(x):
    """Hyperbolic tangent, by torch for numpy and torch inputs alike (same bits)."""
    if _is_torch(x):
        import torch

        return torch.tanh(x)
    out = _NumpyOps.tanh(x)
    return out if np.ndim(x) else float(out)


def sqrt(x):
    """Correctly rounded square root of a float, numpy array or torch tensor (module doc)."""
    if _is_torch(x):
        return _torch_sqrt_rn(x)
    return np.sqrt(x)


def _two_product(a, b):
    """``a * b = p + e`` exactly (Dekker's split, plain multiplies and subtractions, no FMA)."""
    c = 134217729.0 * a  # 2**27 + 1
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = 134217729.0 * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    p = a * b
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _below_midpoint(x, a, b):
    """For adjacent floats ``a < b``: is ``sqrt(x)`` below their midpoint?

    ``mid**2 = a*b + (b-a)**2/4`` and ``x - a*b`` is a multiple of ``(b-a)**2``, so the
    test is ``x - a*b <= 0``, evaluated exactly (``x - p`` is exact by Sterbenz; the last
    subtraction keeps the sign).
    """
    p, e = _two_product(a, b)
    return ((x - p) - e) <= 0.0


def _torch_sqrt_rn(x):
    """Correctly rounded float64 square root of a tensor (normal, non-negative inputs):
    ``torch.sqrt`` is within 1 ulp, so pick among it and its two neighbours."""
    import torch

    y = torch.sqrt(x)
    lo = torch.nextafter(y, torch.zeros_like(y))
    hi = torch.nextafter(y, torch.full_like(y, math.inf))
    return torch.where(_below_midpoint(x, lo, y), lo, torch.where(_below_midpoint(x, y, hi), y, hi))


# ---- inside numba kernels: scalars -------------------------------------------------------
@overload(select)
def _select_nb(cond, a, b):
    return lambda cond, a, b: a if cond else b


@overload(clip)
def _clip_nb(x, lo, hi):
    return lambda x, lo, hi: min(max(x, lo), hi)


@overload(tanh)
def _tanh_nb(x):
    return lambda x: math.tanh(x)


@overload(sqrt)
def _sqrt_nb(x):  # the LLVM sqrt intrinsic (IEEE, correctly rounded)
    return lambda x: math.sqrt(x)


__all__ = ["clip", "ops_for", "select", "sqrt", "tanh"]
