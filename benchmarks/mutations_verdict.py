"""Curated mutations: the verdict for every policy family: timing null, signed exposure, episode PF, trial counts, PAPER (issue 27).

Same form as `benchmarks.mutations`: exact snippet, replacement, killing tests, the bug.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

M = Mutation

MUTATIONS: list[Mutation] = [
]
