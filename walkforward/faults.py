"""Fault injection for the crash-safety tests: kill or break the run at a named point.

Set ``WALKFORWARD_FAULT=<point>[@<symbol>/<fold>][#<n>]`` in the environment of a
`walkforward run` to make the process SIGKILL itself (or, for ``nan_rewards``, break
the training) when it reaches that point, on the given symbol/fold and at the n-th time
(default 1st). The tests in ``tests/test_faults.py`` use it to prove that nothing
finished is lost and nothing half-written is trusted. Unset, every check is one
dictionary lookup; the variable is never set by the suite itself.

Points: ``train_update`` (after a PPO update), ``checkpoint_write`` (half-way through
writing ``checkpoint.pt``), ``report_write`` (all folds done, before the reports),
``nan_rewards`` (the fold's training rewards become NaN, so the loss diverges).
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "WALKFORWARD_FAULT"
_counts: dict[str, int] = {}


def _parse(text: str) -> tuple[str, str | None, int]:
    point, _, nth = text.partition("#")
    point, _, where = point.partition("@")
    return point.strip(), (where.strip() or None), int(nth) if nth.strip() else 1


def armed(point: str, where: str | None = None) -> bool:
    """True when the configured fault is ``point`` (at ``where`` = "SYMBOL/FOLD") and this
    is its n-th occurrence."""
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return False
    want_point, want_where, nth = _parse(spec)
    if want_point != point or (want_where is not None and want_where != where):
        return False
    _counts[point] = _counts.get(point, 0) + 1
    return _counts[point] == nth


def kill_here(point: str, where: str | None = None) -> None:
    """SIGKILL this process when the fault ``point`` is armed (no cleanup, like a power cut)."""
    if armed(point, where):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["ENV_VAR", "armed", "kill_here"]
