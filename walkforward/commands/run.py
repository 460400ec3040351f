"""`walkforward run [DATA ...]`: retrain, select and test a PPO policy on every fold of every symbol.

With no DATA it runs the bundled sample data (three synthetic equities, 15-minute bars on
the real NYSE calendar) in smoke mode with 3 folds. Flags override the values of
``--config FILE.toml`` (see `walkforward.config`), which override the defaults.

Exit codes: 0 done, 1 finished but some folds failed (see ``failures.json``), 2 bad input,
130 interrupted (rerun the same command to resume; completed folds are kept).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from walkforward.config import ASSET_CLASSES, DEVICES, ENGINES, MODES, PDT_MODES, SCHEMES

#: Folds when the bundled sample runs and no --folds/TOML value is given (fits the 5-minute demo).
SAMPLE_FOLDS = 3


def _overrides(args: argparse.Namespace) -> dict:
    """CLI flags as `RunConfig.from_sources` overrides (None = flag not given; flags a command
    does not have count as not given)."""
    a = lambda name: getattr(args, name, None)  # noqa: E731
    steps = a("steps")
    return {
        "data": list(a("data") or []) or None, "out": a("out"), "mode": a("mode"), "folds": a("folds"),
        "scheme": a("scheme"), "train_size": a("train_size"), "val_size": a("val_size"),
        "test_size": a("test_size"), "embargo": a("embargo"), "symbols": a("symbols"),
        "asset_class": a("asset_class"), "keep_extended": True if a("keep_extended") else None,
        "date_format": a("date_format"),
        "device": a("device"), "engine": a("engine"),
        "n_workers": a("workers"), "ray_address": a("ray_address"), "seed": a("seed"), "threads": a("threads"),
        "quiet": True if a("quiet") else None, "verbose": True if a("verbose") else None,
        "warm_start": True if a("warm_start") else None, "n_random_seeds": a("random_seeds"), "pdt": a("pdt"),
        "null_draws": a("null_draws"), "fold_start": a("fold_start"),
        "trainer": {"total_steps": steps} if steps is not None else None,
    }


def load_config(args: argparse.Namespace):
    from walkforward.config import RunConfig, load_toml

    overrides = _overrides(args)
    config = RunConfig.from_sources(args.config, overrides)
    toml_has_folds = args.config is not None and "folds" in load_toml(args.config)
    if not config.data and args.folds is None and not toml_has_folds:
        import dataclasses

        config = dataclasses.replace(config, folds=SAMPLE_FOLDS)
    return config


def run(args: argparse.Namespace) -> int:
    from walkforward.orchestrator import run_walkforward, summary_table

    config = load_config(args)
    command = "walkforward " + " ".join(shlex.quote(a) for a in (args.argv or ["run"]))
    from walkforward.ledger import ledger_option

    outcome = run_walkforward(config, force=args.force, command=command, ledger=ledger_option(args),
                              trials=args.trials)
    print(summary_table(outcome.summary, criteria=not config.quiet))
    for f in outcome.failures:
        print(f"FAILED {f['symbol']} fold {f['fold']}: {f['error']}", file=sys.stderr)
    done = sum(1 for o in outcome.outcomes if o.ok)
    if not config.quiet:
        print(f"{done} fold(s) complete, {len(outcome.failures)} failed, {outcome.seconds:.1f} s")
    if outcome.summary is not None:
        print(f"report: {outcome.run_dir / 'index.html'}")
    return 1 if outcome.failures else 0


def _int(text: str) -> int:
    """An integer flag; ranges are checked by `RunConfig` with a message naming the setting."""
    try:
        value = int(text)
    except ValueError:  # argparse names the flag: "argument --folds: expected a whole number, got 'two'"
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def add_layout_arguments(p, default_out: str = "runs/latest") -> None:
    """The flags `run` and `evaluate` share: data layout, folds, account rules, baselines, output."""
    p.add_argument("--out", default=None, help=f"run directory (default: {default_out}); a rerun resumes it")
    p.add_argument("--config", default=None, metavar="FILE.toml", help="TOML run config; flags override it")
    p.add_argument("--folds", type=_int, default=None,
                   help=f"test folds per symbol (default 5; {SAMPLE_FOLDS} on the bundled sample)")
    p.add_argument("--scheme", choices=SCHEMES, default=None, help="rolling (default) or anchored training windows")
    p.add_argument("--train-size", default=None, help="training bars or duration such as 365D (default: derived)")
    p.add_argument("--val-size", default=None, help="validation bars or duration (default: derived)")
    p.add_argument("--test-size", default=None, help="test bars or duration (default: derived)")
    p.add_argument("--embargo", default=None, help="bars between segments (default: window + reward horizon)")
    p.add_argument("--symbols", default=None, help="comma-separated symbols to run (default: all in DATA)")
    p.add_argument("--asset-class", choices=ASSET_CLASSES, default=None, help="override asset-class detection")
    p.add_argument("--keep-extended", action="store_true",
                   help="keep equity bars outside regular sessions (pre/after market) instead of refusing the file")
    add_date_format_argument(p)
    p.add_argument("--seed", type=_int, default=None, help="master seed (default 0)")
    p.add_argument("--random-seeds", type=_int, default=None,
                   help="seeds of the random-policy baseline (default 100)")
    p.add_argument("--null-draws", type=_int, default=None,
                   help="draws of the timing null per fold (default 1000)")
    p.add_argument("--pdt", choices=PDT_MODES, default=None, help="pattern-day-trader rule (default auto)")
    p.add_argument("--force", action="store_true", help="overwrite a run directory holding a different run")
    where = p.add_mutually_exclusive_group()  # the research ledger (walkforward.ledger): not part of the config
    where.add_argument("--ledger", default=None, metavar="PATH",
                       help="research ledger file (default: $WALKFORWARD_LEDGER, else "
                            "$XDG_DATA_HOME/rl-walkforward/ledger.sqlite)")
    where.add_argument("--no-ledger", action="store_true",
                       help="neither count earlier trials nor record this one")
    p.add_argument("--trials", type=_int, default=0, metavar="N",
                   help="configurations tried elsewhere on this data, added to the ledger's count (default 0)")
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print only the final summary and errors")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="print more progress")


def add_date_format_argument(p) -> None:
    """``--date-format`` (run, evaluate, data, backtest)."""
    p.add_argument("--date-format", default=None, metavar="ORDER",
                   help="dates in the files: auto (default: D/M/Y or M/D/Y decided by the whole column, an ambiguous "
                        "one refused), dayfirst (31/12/2024), monthfirst (12/31/2024) or a strptime format such as "
                        "'%%d.%%m.%%Y %%H:%%M'")


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="walk-forward: retrain, select and test per fold and symbol",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="*", metavar="DATA", help="bar files or directories (default: bundled sample)")
    add_layout_arguments(p)
    p.add_argument("--mode", choices=MODES, default=None, help="training budget (default: smoke)")
    p.add_argument("--device", choices=DEVICES, default=None, help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--engine", choices=ENGINES, default=None, help="local (default), processes or ray")
    p.add_argument("--workers", type=_int, default=None, help="worker processes for --engine processes")
    p.add_argument("--ray-address", default=None, help="Ray cluster address for --engine ray (default: local)")
    p.add_argument("--threads", type=_int, default=None,
                   help="torch CPU threads per fold (default 1; results depend on it, engines do not)")
    p.add_argument("--steps", type=_int, default=None, help="override the mode's training steps per fold")
    p.add_argument("--warm-start", action="store_true", help="start each fold from the previous fold's model")
    p.set_defaults(func=run, argv=None)


__all__ = ["register", "run", "load_config", "add_date_format_argument", "add_layout_arguments", "SAMPLE_FOLDS"]
