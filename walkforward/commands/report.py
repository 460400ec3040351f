"""`walkforward report RUN_DIR [--config FILE.toml]`: rebuild summary.json and every HTML page
from stored results, with the verdict recomputed.

Nothing is retrained or re-simulated: the pages are recomputed from each fold's
``trades.csv``, ``equity.csv`` and ``result.json`` (docs/INTERNALS.md, "Results format
consumed by reports"). ``--config`` takes the ``[verdict]`` table of a TOML file as the run's
new thresholds (recorded in its manifest, so later rebuilds keep them); without it the
manifest's thresholds are used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="rebuild the HTML reports (and the verdict) of a run directory",
                              description=__doc__.splitlines()[0])
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="directory written by `walkforward run --out`")
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="take the verdict thresholds from this file's [verdict] table")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reports.html import build_reports  # imported late: plotly is only needed here

    thresholds = None
    if args.config is not None:
        from reports.summary import load_manifest
        from walkforward.config import RunConfig
        from walkforward.store import RunStore

        load_manifest(args.run_dir)  # refuse a directory that is not a run before anything else
        thresholds = RunConfig.from_sources(args.config).verdict
        store = RunStore(args.run_dir)
        manifest = store.read_manifest()
        manifest["verdict_thresholds"] = thresholds.to_dict()
        store.write_json("manifest.json", manifest)
    written = build_reports(args.run_dir, thresholds)
    if not args.quiet:
        print(f"wrote {len(written)} pages; open {written[0]}", file=sys.stdout)
    return 0
