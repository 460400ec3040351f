"""Walk-forward orchestration: folds, per-fold retraining, the run store, engines, the CLI."""
