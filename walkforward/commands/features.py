"""`walkforward features DATA... [--sample] [--json]`: what the model will see.

Prints the feature schema (version, window, groups, observation size) and, per
symbol, a summary of every market feature (min, max, mean, NaN count) over the rows
an observation can contain (from the longest look-back on), before normalisation.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from backtest.errors import UserError
from backtest.features import compute_features, default_schema


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "features",
        help="show the feature schema and per-feature summaries of bar files",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("data", nargs="*", metavar="DATA", help="bar files or directories (CSV/parquet)")
    p.add_argument("--sample", action="store_true", help="use the bundled sample data (default with no DATA)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--window", type=int, default=None, help="window W of the schema (default 100)")
    p.set_defaults(func=run)


def _load(args) -> list:
    if args.sample or not args.data:
        from backtest.sample_data import sample_bars

        return list(sample_bars(seed=0))
    from backtest.data import load_bars

    bars = []
    for source in args.data:
        bars.extend(load_bars(source))
    return bars


def summarise(bars, schema) -> dict:
    """Per-feature min/max/mean/std/NaN count over rows ``schema.max_lookback`` onwards."""
    f = compute_features(bars, schema)
    rows = f[schema.max_lookback :] if len(f) > schema.max_lookback else f[:0]
    out = {}
    for j, spec in enumerate(schema.features):
        col = rows[:, j]
        finite = col[np.isfinite(col)]
        out[spec.name] = {
            "group": spec.group,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std()) if finite.size else None,
            "nan": int(np.isnan(col).sum()),
        }
    return {"bars": len(bars), "rows_summarised": int(rows.shape[0]), "features": out}


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def run(args) -> int:
    if args.window is not None and args.window < 1:
        raise UserError(f"--window must be >= 1, got {args.window}")
    schema = default_schema() if args.window is None else default_schema(window=args.window)
    bars = _load(args)
    result = {
        "schema": {
            "version": schema.version,
            "window": schema.window,
            "groups": schema.groups,
            "n_market": schema.n_market,
            "account_features": list(schema.account_features),
            "obs_dim": schema.obs_dim,
            "warmup_bars": schema.warmup_bars,
            "features": [s.to_dict() for s in schema.features],
        },
        "symbols": {b.symbol: summarise(b, schema) for b in bars},
    }
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return 0
    print(schema.describe())
    print("account features: " + ", ".join(schema.account_features))
    for symbol, summ in result["symbols"].items():
        print(f"\n{symbol}: {summ['bars']} bars, summary over rows {schema.max_lookback}.. "
              f"({summ['rows_summarised']} rows, before normalisation)")
        print(f"  {'feature':24s} {'group':12s} {'min':>11s} {'max':>11s} {'mean':>11s} {'nan':>5s}")
        for name, s in summ["features"].items():
            print(f"  {name:24s} {s['group']:12s} {_fmt(s['min']):>11s} {_fmt(s['max']):>11s} "
                  f"{_fmt(s['mean']):>11s} {s['nan']:>5d}")
    return 0


def main(argv=None) -> int:  # pragma: no cover - convenience for `python -m`
    from walkforward.cli import main as cli_main

    return cli_main(["features", *(argv or [])])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

