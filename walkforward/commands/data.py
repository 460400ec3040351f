"""`walkforward data DATA... [--json]`: load, validate and summarise bar files.

Bad input raises `DataError`, which `walkforward.cli` turns into one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from backtest.bars import Bars
from backtest.errors import UserError


def summarise(bars: Bars) -> dict:
    """Per-symbol figures: bars, first/last, timeframe, sessions and gaps.

    ``gaps`` counts breaks in the series: a jump of more than one session (missing
    sessions) or, inside a session, a step longer than the timeframe (missing bars).
    Weekly and monthly bars (`backtest.timeframes.is_coarse`) span many sessions each by
    design: for them a gap is a step longer than 1.5 timeframes (a missing week or month).
    """
    from backtest.timeframes import is_coarse

    sidx = bars.session_index
    step = np.diff(bars.timestamps_ns)
    if is_coarse(bars.timeframe):
        gaps = int(np.count_nonzero(step > 1.5 * bars.timeframe.value))
    else:
        jump = np.diff(sidx)
        gaps = int(np.count_nonzero(jump > 1) + np.count_nonzero((jump == 0) & (step > bars.timeframe.value)))
    return {
        "symbol": bars.symbol,
        "bars": len(bars),
        "first": bars.index[0].isoformat() if len(bars) else None,
        "last": bars.index[-1].isoformat() if len(bars) else None,
        "timeframe": bars.timeframe_label,
        "asset_class": bars.asset_class,
        "sessions": int(len(np.unique(sidx))),
        "gaps": gaps,
    }


def _symbols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise UserError(f"--symbols {text!r} names no symbol; use e.g. --symbols SPY,QQQ")
    return names


def run(args: argparse.Namespace) -> int:
    from backtest.data import load_bars
    from backtest.sample_data import sample_bars

    wanted = _symbols(args.symbols)
    asset_class = None if args.asset_class == "auto" else args.asset_class
    if args.sample:
        series = sample_bars()
    elif not args.data:
        raise UserError("walkforward data: give DATA files/directories or --sample")
    else:
        series = load_bars(list(args.data), asset_class=asset_class, keep_extended=args.keep_extended,
                           date_format=args.date_format or "auto")
    if wanted is not None:
        known = {b.symbol.upper(): b for b in series}
        missing = [s for s in wanted if s.upper() not in known]
        if missing:
            raise UserError(f"--symbols: {', '.join(missing)} not in the data (have: {', '.join(b.symbol for b in series)})")
        series = [known[s.upper()] for s in wanted]
    rows = [summarise(b) for b in series]
    if args.json:
        print(json.dumps({"symbols": rows}, indent=2))
        return 0
    header = f"{'symbol':<12} {'bars':>8} {'first':<26} {'last':<26} {'tf':>5} {'class':<7} {'sessions':>8} {'gaps':>6}"
    print(header)
    for r in rows:
        print(f"{r['symbol']:<12} {r['bars']:>8} {r['first']:<26} {r['last']:<26} {r['timeframe']:>5} "
              f"{r['asset_class']:<7} {r['sessions']:>8} {r['gaps']:>6}")
    sys.stdout.flush()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="load, validate and summarise bar files",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", metavar="DATA", help="bar files (CSV/parquet) or directories of them")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.add_argument("--sample", action="store_true", help="summarise the bundled sample data instead")
    parser.add_argument("--symbols", default=None, help="comma-separated symbols to show (default: all)")
    parser.add_argument("--asset-class", default="auto", choices=("auto", "equity", "crypto", "fx"),
                        help="override asset-class detection")
    parser.add_argument("--keep-extended", action="store_true",
                        help="keep equity bars outside regular hours (and FX weekend bars) instead of dropping them")
    from walkforward.commands.run import add_date_format_argument

    add_date_format_argument(parser)
    parser.set_defaults(func=run)
