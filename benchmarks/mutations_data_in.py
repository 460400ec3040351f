"""Curated mutations: readers, date order, asset-class detection, actions/positions files, commission limits (issue 25).

Same form as `benchmarks.mutations`: exact snippet, replacement, killing tests, the bug.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

M = Mutation

MUTATIONS: list[Mutation] = [
]
