"""Market mechanics: bars, sessions, features, observations, costs, PDT, the simulator.

Knows nothing about learning; `models`, `walkforward` and `reports` build on it.
"""

# Numba's cache keyed by every file a kernel imports, before any kernel is defined.
from backtest import jit_cache

jit_cache.install()
