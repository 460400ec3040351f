"""Shared test configuration: hypothesis profiles.

``CI=true`` selects the ``ci`` profile: derandomized (same examples every run),
bounded example counts and no deadline, so CI is deterministic and its time bounded.
Tests whose properties need more examples to catch the bugs they exist for say so with
their own ``@settings(max_examples=...)`` (measured with `benchmarks.mutation`: e.g. the
hourly-features reference needs 25 derandomized examples to catch an hour counted
complete one bar early, and runs 60). ``HYPOTHESIS_PROFILE=thorough`` (on demand, also
with ``CI=true``) draws random examples, a new seed every run, 200 per property and
`THOROUGH_FACTOR` times a test's own count; ``dev`` (the default off CI) is random with
50. A failing property prints its minimal example and the blob that reproduces it.
"""

import contextlib
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
settings.register_profile(
    "thorough",
    derandomize=False,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Under ``thorough``, a test that fixes its own example count runs this many times as many.
THOROUGH_FACTOR = 4
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev"))


def pytest_collection_modifyitems(config, items):
    """``thorough``: scale the example counts tests set themselves (`THOROUGH_FACTOR`)."""
    if settings.get_current_profile_name() != "thorough":
        return
    default = settings.get_profile("thorough").max_examples
    done = set()
    for item in items:
        fn = getattr(item, "function", None)
        own = getattr(fn, "_hypothesis_internal_use_settings", None)
        if own is None or id(fn) in done or own.max_examples == default:
            continue
        done.add(id(fn))
        fn._hypothesis_internal_use_settings = settings(own, max_examples=own.max_examples * THOROUGH_FACTOR)


@contextlib.contextmanager
def fresh_ledger(tmp_path_factory):
    """Point the research ledger (walkforward.ledger) at a new temporary file, in os.environ
    so that subprocesses (tests/run_helpers.py copies it) use it too; restore on exit."""
    previous = os.environ.get("WALKFORWARD_LEDGER")
    os.environ["WALKFORWARD_LEDGER"] = str(tmp_path_factory.mktemp("ledger") / "ledger.sqlite")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("WALKFORWARD_LEDGER", None)
        else:
            os.environ["WALKFORWARD_LEDGER"] = previous


# Never the user's research ledger, and never one shared by unrelated tests: trial counts (and
# with them the deflated Sharpe in summary.json) must not depend on which tests ran before in
# the same worker. One fresh ledger per session, per module (for module fixtures) and per test.
@pytest.fixture(scope="session", autouse=True)
def _session_ledger(tmp_path_factory):
    with fresh_ledger(tmp_path_factory):
        yield


@pytest.fixture(scope="module", autouse=True)
def _module_ledger(tmp_path_factory):
    with fresh_ledger(tmp_path_factory):
        yield


@pytest.fixture(autouse=True)
def _test_ledger(tmp_path_factory):
    with fresh_ledger(tmp_path_factory):
        yield


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """An uninterrupted tiny `walkforward run` (see tests/run_helpers.py): (run dir, process)."""
    from tests.run_helpers import TINY, run_cli

    cwd = tmp_path_factory.mktemp("uninterrupted")
    with fresh_ledger(tmp_path_factory):  # its own: whichever test first needs it, it counts one trial
        proc = run_cli(["run", "--out", "run", *TINY, "-q"], cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "run", proc
