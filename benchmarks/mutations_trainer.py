"""Curated mutations: the trainer: reward alignment, learning diagnostics, the cpu mode (issue 24).

Same form as `benchmarks.mutations`: exact snippet, replacement, killing tests, the bug.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

M = Mutation

MUTATIONS: list[Mutation] = [
]
