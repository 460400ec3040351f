"""Walk-forward orchestration: folds, per-fold retraining, the run store, engines, the CLI.

``walkforward.run(data, **settings)`` is the Python entry point (`walkforward.orchestrator.run`).
"""


def run(data=(), **settings):
    """Run or resume a walk-forward job; see `walkforward.orchestrator.run`."""
    from walkforward.orchestrator import run as _run

    return _run(data, **settings)


__all__ = ["run"]
