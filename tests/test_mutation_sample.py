"""Mutation score in CI, bounded (issue 26): every curated snippet is still in the code, and a
seeded sample of the curated mutations (`benchmarks.mutation --fast --sample 3`) is killed.

The full list takes tens of minutes on 2 cores and is run before a release (README, "Mutation
testing"); this sample takes about a minute. ``MUTATION_SAMPLE_SEED`` draws another sample
(CI keeps the default, so its runs are reproducible).
"""

from __future__ import annotations

import os

import pytest

from benchmarks.mutation import FAST_TESTS, is_fast, main, sample

SEED = int(os.environ.get("MUTATION_SAMPLE_SEED", "26"))
SIZE = 3


def test_every_curated_snippet_is_found_once(capsys):
    """A refactor that moves a snippet makes its mutation stale (never counted as a kill)."""
    assert main(["--check"]) == 0, capsys.readouterr().out[-3000:]


def test_the_sample_is_seeded_and_drawn_from_fast_mutations():
    from benchmarks.mutations import MUTATIONS

    pool = [m for m in MUTATIONS if is_fast(m)]
    assert len(pool) >= 20 and all(t.split("::")[0] in FAST_TESTS for m in pool for t in m.tests)
    a, b = sample(pool, SIZE, SEED), sample(pool, SIZE, SEED)
    assert a == b and len(a) == SIZE and len({m.name for m in a}) == SIZE
    assert sample(pool, len(pool) + 5, SEED) == pool
    assert {m.name for s in range(20) for m in sample(pool, SIZE, s)} != {m.name for m in a}  # seeds differ


@pytest.mark.slow
def test_a_seeded_sample_of_the_mutations_is_killed(capsys):
    rc = main(["--fast", "--sample", str(SIZE), "--seed", str(SEED), "--jobs", "1", "--timeout", "300"])
    out = capsys.readouterr().out
    assert rc == 0, out[-5000:]
    assert f"mutation score: {SIZE}/{SIZE} = 100.0% killed" in out, out[-3000:]
