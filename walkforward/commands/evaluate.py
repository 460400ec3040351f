"""`walkforward evaluate ACTIONS [DATA ...]`: judge any strategy's decisions like a trained model's.

ACTIONS is a CSV of ``timestamp, action[, symbol]`` (action names such as BUY_50 or ids; the
action at bar t is filled at t's open; see `backtest.actions_file`) or of ``timestamp,
position[, symbol]`` (the target fraction of the position cap). Each test segment of the
same folds as `walkforward run` (same flags) goes through the same simulator, costs, PDT,
account, baselines, metrics, verdict, run directory and HTML. With no DATA it uses the
bundled sample data.

Exit codes: 0 done, 2 bad input (nothing written), 130 interrupted (rerun resumes).
"""

from __future__ import annotations

import argparse
import shlex


#: How test folds start, as `--help` and the README say it.
FOLD_START = ("How folds start: by default (--fold-start carry) the test folds are one continuous account: the "
              "position, cash and cost basis at the end of a test fold carry into the next, only the last fold's "
              "position is closed at its last bar, and each fold's figures are measured from its first bar (a round "
              "trip held across a boundary is a trade of the fold it ends in). BUY_75 three times, then HOLD, holds "
              "one position through every fold. The timing null's and random policy's draws of a fold start from "
              "the account carried in; buy and hold is one holding over all test folds. --fold-start flat (TOML "
              "fold_start = \"flat\") starts every fold flat with the initial equity and closes it at its last bar, "
              "as `walkforward run` does with each fold's trained policy.")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from walkforward.commands.run import load_config
    from walkforward.evaluation import default_out, run_evaluate
    from walkforward.orchestrator import summary_table

    config = load_config(args)
    if args.out is None and default_out(args.config) is not None:
        config = dataclasses.replace(config, out=default_out(args.config))
    command = "walkforward " + " ".join(shlex.quote(a) for a in (args.argv or ["evaluate"]))
    from walkforward.ledger import ledger_option

    outcome = run_evaluate(config, args.actions, force=args.force, command=command, ledger=ledger_option(args),
                           trials=args.trials)
    print(summary_table(outcome.summary, criteria=not config.quiet))
    if not config.quiet:
        done = sum(1 for o in outcome.outcomes if o.ok)
        print(f"{done} fold(s) complete, {outcome.seconds:.1f} s")
    print(f"report: {outcome.run_dir / 'index.html'}")
    return 0


_EPILOG = """\
actions: BUY_25/50/75 buy 25/50/75% of the full buy, which is equity x (1 - safety_buffer) x
base_allocation (10.5% of equity with the default account), capped at max_position (20% of
equity) and by cash; SELL_25/50/75 sell 25/50/75% of the open position (with allow_short, a SELL
from flat opens a short of the BUY notional). CLOSE (exit all) exists only with
[account] include_close_action = true in the --config TOML.

positions: a 'position' column instead of 'action' holds the target fraction of the position
cap: 1 long at the cap, 0 flat, -1..1 with [account] allow_short. Targets become the same
actions (from the position carried in; each test segment starts flat with --fold-start flat;
CLOSE is turned on). A numeric action column holding
only 0 and 1 is refused: long/flat signals belong in 'position'."""


def register(subparsers) -> None:
    from walkforward.commands.run import add_layout_arguments
    from walkforward.evaluation import DEFAULT_OUT
    from walkforward.fold_carry import FOLD_STARTS

    p = subparsers.add_parser("evaluate", help="judge an actions file (any strategy) like a trained model",
                              description=__doc__.split("\n\n")[0], epilog=_EPILOG + "\n\n" + FOLD_START,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("actions", metavar="ACTIONS",
                   help="CSV of timestamp, action[, symbol] or timestamp, position[, symbol]")
    p.add_argument("data", nargs="*", metavar="DATA", help="bar files or directories (default: bundled sample)")
    add_layout_arguments(p, default_out=DEFAULT_OUT)
    p.add_argument("--fold-start", choices=FOLD_STARTS, default=None,
                   help="carry (default): the position carries from one test fold into the next; flat: every test "
                        "fold starts flat and is closed at its last bar")
    p.set_defaults(func=run, argv=None)


__all__ = ["register", "run"]
