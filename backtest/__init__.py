"""Market mechanics: bars, sessions, features, observations, costs, PDT, the simulator.

Knows nothing about learning; `models`, `walkforward` and `reports` build on it.
"""
