"""`walkforward ledger [--json] [--forget RUN_DIR]`: the trials the research ledger holds, per data set.

Every `walkforward run` and `evaluate` records its configuration per symbol, keyed by the
data and test segments (`walkforward.ledger`); the deflated Sharpe of a later run on the same
data counts them. ``--forget RUN_DIR`` removes a run's trials (a broken experiment, say);
later counts on that data say how many configurations were forgotten.

Exit codes: 0 done, 2 unreadable ledger or nothing to forget.
"""

from __future__ import annotations

import argparse
import json


def _listing(path, sets: list[dict]) -> str:
    from reports.metrics import format_value as fv

    if not sets:
        return f"research ledger {path}: no trials recorded yet"
    n = sum(s["runs"] for s in sets)
    lines = [f"research ledger {path}: {n} trial record(s) on {len(sets)} data set(s)"]
    for s in sets:
        bars = sum(b - a for a, b in s["tests"])
        forgotten = f", {s['forgotten']} forgotten" if s["forgotten"] else ""
        lines.append(f"\n{s['symbol']}  data set {s['data_key'][:12]} (bars {s['data_hash'][:12]}, "
                     f"{len(s['tests'])} test segments, {bars} test bars): {s['configurations']} configuration(s), "
                     f"{s['runs']} run(s){forgotten}")
        lines.append(f"  {'config':<12} {'kind':<8} {'verdict':<12} {'Sharpe':>7} {'net ret':>8} {'DSR':>6} "
                     f"{'trials':>6}  {'recorded':<25} run")
        for t in s["trials"]:
            m = t["metrics"]
            lines.append(f"  {t['fingerprint'][:12]:<12} {str(t['kind']):<8} {str(t['verdict']):<12} "
                         f"{fv(m.get('sharpe')):>7} {fv(m.get('net_return'), 'pct'):>8} {fv(m.get('dsr')):>6} "
                         f"{fv(t['n_trials'], 'int'):>6}  {t['recorded']:<25} {t['run_dir']}")
    lines.append("\ncompare one data set: walkforward compare --ledger-data DATA_SET")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from backtest.errors import UserError
    from backtest.result_files import to_jsonable
    from walkforward.ledger import Ledger, resolve

    path = resolve(args.ledger)
    ledger = Ledger(path)
    if args.forget is not None:
        if not ledger.exists:
            raise UserError(f"--forget: the research ledger {path} holds no runs yet")
        gone = ledger.forget(args.forget)
        if not gone:
            raise UserError(f"--forget {args.forget!r}: the research ledger {path} holds no trials of that run "
                            f"directory; `walkforward ledger` lists the recorded runs")
        symbols = sorted({g["symbol"] for g in gone})
        print(f"forgot {len(gone)} trial(s) of {args.forget} ({', '.join(symbols)}); later runs on the same data "
              f"count them as forgotten in n_trials_basis")
        return 0
    sets = ledger.data_sets()
    if args.json:
        print(json.dumps(to_jsonable({"ledger": str(path), "data_sets": sets}), indent=1, allow_nan=False))
    else:
        print(_listing(path, sets))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("ledger", help="list the research ledger's trials per data set; forget a run",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--ledger", default=None, metavar="PATH",
                   help="ledger file (default: $WALKFORWARD_LEDGER, else $XDG_DATA_HOME/rl-walkforward/ledger.sqlite)")
    p.add_argument("--forget", default=None, metavar="RUN_DIR", help="remove every trial of this run directory")
    p.add_argument("--json", action="store_true", help="print the data sets and their trials as JSON")
    p.set_defaults(func=run)


__all__ = ["register", "run"]
