"""Shared test configuration: hypothesis profiles.

``CI=true`` selects the ``ci`` profile: derandomized (same examples every run),
bounded example counts and no deadline, so CI is deterministic and its time bounded.
A failing property prints its minimal example either way.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """An uninterrupted tiny `walkforward run` (see tests/run_helpers.py): (run dir, process)."""
    from tests.run_helpers import TINY, run_cli

    cwd = tmp_path_factory.mktemp("uninterrupted")
    proc = run_cli(["run", "--out", "run", *TINY, "-q"], cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "run", proc
