"""`walkforward report RUN_DIR`: rebuild summary.json and every HTML page from stored results.

Nothing is retrained or re-simulated: the pages are recomputed from each fold's
``trades.csv``, ``equity.csv`` and ``result.json`` (docs/INTERNALS.md, "Results format
consumed by reports").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="rebuild the HTML reports of a run directory from stored results",
                              description=__doc__.splitlines()[0])
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="directory written by `walkforward run --out`")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reports.html import build_reports  # imported late: plotly is only needed here

    written = build_reports(args.run_dir)
    if not args.quiet:
        print(f"wrote {len(written)} pages; open {written[0]}", file=sys.stdout)
    return 0
