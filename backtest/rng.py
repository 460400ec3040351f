"""Counter-based uniform numbers keyed by (seed, bar index): the same bits everywhere.

The simulator (numba), the training environment (torch) and tests (numpy) must draw
the same slippage for the same bar without sharing a generator's state. So the
draw is a pure hash of ``(seed, index)``, written once with integer operators only
(``^``, ``>>``, ``&``, ``*``, ``+``) on non-negative int64 values that stay below
2**32 before every multiply (the multipliers are below 2**31), so no product
overflows int64 and Python ints, numpy int64 arrays, torch int64 tensors and numba
all produce identical bits.

`uniform_bits` returns a 53-bit integer; `uniform` turns it into a float64 in
[0, 1) by an exact conversion and an exact multiply by 2**-53. Seeds and indices are
non-negative integers below 2**63 (both 32-bit halves are mixed in).
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

_M32 = 0xFFFFFFFF
_MUL_A = 0x7FEB352D  # odd multipliers below 2**31: x < 2**32 times these stays < 2**63
_MUL_B = 0x5BD1E995
_KEY = 0x243F6A88  # arbitrary constants (digits of pi) separating the mixing lanes
_LANE_HI = 0x13198A2E
_LANE_LO = 0x03707344
_INV_2_53 = 1.0 / 9007199254740992.0  # 2**-53, exact


@register_jitable
def mix32(x):
    """A 32-bit avalanche mix (xorshift-multiply); input and output in [0, 2**32)."""
    x = x ^ (x >> 16)
    x = (x * _MUL_A) & _M32
    x = x ^ (x >> 15)
    x = (x * _MUL_B) & _M32
    x = x ^ (x >> 16)
    return x


@register_jitable
def uniform_bits(seed, index):
    """53 random bits (an int in [0, 2**53)) for ``(seed, index)``; int ops only."""
    h = mix32((seed & _M32) ^ _KEY)
    h = mix32(h ^ ((seed >> 32) & _M32))
    h = mix32(h ^ (index & _M32))
    h = mix32(h ^ ((index >> 32) & _M32))
    hi = mix32(h ^ _LANE_HI) >> 6  # 26 bits
    lo = mix32(h ^ _LANE_LO) >> 5  # 27 bits
    return hi * 134217728 + lo  # hi * 2**27 + lo < 2**53


@register_jitable
def uniform_scalar(seed, index):
    """`uniform` for one int pair, usable inside numba kernels."""
    return float(uniform_bits(seed, index)) * _INV_2_53


def uniform(seed, index):
    """Uniform float64 in [0, 1) for ``(seed, index)``.

    ``index`` may be a Python int, a numpy integer array or a torch integer tensor;
    the result has the matching type (float64). The integer-to-float conversion is
    exact (values < 2**53), so every backend gives the same float.
    """
    if isinstance(index, np.ndarray):
        return uniform_bits(int(seed), index.astype(np.int64)).astype(np.float64) * _INV_2_53
    if type(index).__module__.startswith("torch"):
        import torch

        bits = uniform_bits(int(seed), index.to(torch.int64))
        return bits.to(torch.float64) * _INV_2_53
    return uniform_scalar(int(seed), int(index))
