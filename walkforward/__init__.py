"""Walk-forward orchestration: folds, per-fold retraining, the run store, engines, the CLI.

Python entry points: ``walkforward.run(data, **settings)`` (`walkforward.orchestrator.run`)
and ``walkforward.evaluate(actions, data, **settings)`` (`walkforward.evaluation.evaluate`).
"""


def run(data=(), **settings):
    """Run or resume a walk-forward job; see `walkforward.orchestrator.run`."""
    from walkforward.orchestrator import run as _run

    return _run(data, **settings)


def evaluate(actions, data=(), **settings):
    """Judge an actions file like a trained model; see `walkforward.evaluation.evaluate`."""
    from walkforward.evaluation import evaluate as _evaluate

    return _evaluate(actions, data, **settings)


__all__ = ["evaluate", "run"]
