"""Curated mutations: known-answer numbers: Newey-West, deflated Sharpe, PBO, stitched baselines, summary, compare, config codec, checkpoint world, resume (issue 26).

Same form as `benchmarks.mutations`: exact snippet, replacement, killing tests, the bug.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

M = Mutation

MUTATIONS: list[Mutation] = [
]
