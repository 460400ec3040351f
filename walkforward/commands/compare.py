"""`walkforward compare RUN_DIR... | --ledger-data HASH`: configurations on the same data side by side.

Per symbol held by at least two of the runs: the key metrics of each, the best run's Sharpe
difference to every other on their common bars with a studentised block-bootstrap p-value,
and the probability of backtest overfitting (CSCV) of picking the best configuration
(methods: `reports.compare`). Writes ``compare.html`` and ``compare.json`` under ``--out``.
Runs on different data or test segments are refused with the reason.

Exit codes: 0 done, 2 bad input (runs on different data, unreadable run or ledger).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from backtest.errors import UserError

DEFAULT_OUT = "runs/compare"


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"expected a whole number, got {text!r}") from None
    return value


def gather(args: argparse.Namespace) -> tuple[list, str | None]:
    """The trials to compare (`walkforward.ledger.TrialRecord`) and the ledger path used."""
    from walkforward.ledger import Ledger, resolve, run_trials

    if args.ledger_data is not None:
        if args.runs:
            raise UserError("walkforward compare: give RUN_DIRs or --ledger-data HASH, not both")
        path = resolve(args.ledger)
        ledger = Ledger(path)
        if not ledger.exists:
            raise UserError(f"--ledger-data: the research ledger {path} holds no runs yet; run or evaluate first")
        return ledger.trials(ledger.find(args.ledger_data)), str(path)
    roots = list(dict.fromkeys(str(Path(r).expanduser().resolve()) for r in args.runs))
    if len(roots) < 2:
        raise UserError("walkforward compare: give at least two run directories (or --ledger-data HASH)")
    records = []
    for root in roots:
        found = run_trials(root)
        if not found:
            raise UserError(f"{root}: no symbol with completed folds to compare; finish the run first")
        records.extend(found)
    return records, None


def _describe_tests(tests) -> str:
    return f"{len(tests)} test segments " + ", ".join(f"[{a}, {b})" for a, b in tests[:3]) + \
        (", ..." if len(tests) > 3 else "")


def group(records) -> tuple[dict[str, list], list[str]]:
    """Records per symbol (at least two runs each); different data on one symbol is refused."""
    by_symbol: dict[str, list] = defaultdict(list)
    for r in records:
        by_symbol[r.symbol].append(r)
    groups, skipped = {}, []
    for symbol, recs in by_symbol.items():
        first = recs[0]
        for r in recs[1:]:
            if r.data_hash != first.data_hash:
                raise UserError(f"{symbol}: {first.run_dir} and {r.run_dir} hold different data (sha256 "
                                f"{first.data_hash[:12]} vs {r.data_hash[:12]}); compare runs on the same data")
            if r.data_key != first.data_key:
                raise UserError(f"{symbol}: {first.run_dir} and {r.run_dir} test different segments "
                                f"({_describe_tests(first.tests)} vs {_describe_tests(r.tests)}); compare runs "
                                f"with the same folds and segment sizes")
        if len(recs) < 2:
            skipped.append(f"{symbol}: only in {recs[0].run_dir}")
        else:
            groups[symbol] = recs
    if not groups:
        raise UserError("walkforward compare: no symbol is held by two of the runs (" + "; ".join(skipped)
                        + "); compare runs on the same data")
    return groups, skipped


def _labels(recs) -> list[str]:
    names = [r.label for r in recs]
    return [r.run_dir if names.count(r.label) > 1 else r.label for r in recs]


def compare(records, *, blocks: int, bootstrap: int, seed: int) -> tuple[dict, dict]:
    """(result, arrays): the JSON-able comparison and, per symbol, the common bars' times and
    returns for the page's equity overlay."""
    from reports.compare import compare_symbol

    groups, skipped = group(records)
    symbols, arrays = [], {}
    for symbol, recs in groups.items():
        labels = _labels(recs)
        c = compare_symbol(labels, [r.times for r in recs], [r.returns for r in recs],
                           bars_per_year=float(recs[0].bars_per_year), configurations=[r.fingerprint for r in recs],
                           n_blocks=blocks, n_boot=bootstrap, seed=seed)
        runs = [{"label": lab, "run_dir": r.run_dir, "fingerprint": r.fingerprint, "kind": r.kind,
                 "verdict": r.verdict, "metrics": r.metrics, "sharpe_common": c["sharpe"][j],
                 "best": j == c["best"], "in_pbo": j in c["pbo_runs"]}
                for j, (lab, r) in enumerate(zip(labels, recs))]
        symbols.append({"symbol": symbol, "data_hash": recs[0].data_hash, "data_key": recs[0].data_key,
                        "tests": [list(t) for t in recs[0].tests], "bars": c["bars"],
                        "bars_per_year": c["bars_per_year"], "runs": runs,
                        "best": None if c["best"] is None else labels[c["best"]],
                        "differences": c["differences"], "pbo": c["pbo"], "pbo_note": c["pbo_note"]})
        arrays[symbol] = {"times": c["times"], "returns": c["returns"]}
    return {"format_version": 1, "symbols": symbols, "skipped": skipped, "blocks": blocks, "bootstrap": bootstrap,
            "seed": seed}, arrays


def table(result: dict) -> str:
    """The terminal view: per symbol, runs with key metrics and the difference to the best."""
    from reports.metrics import format_value as fv

    lines = []
    for s in result["symbols"]:
        lines.append(f"{s['symbol']}: {len(s['runs'])} runs on {s['bars']} common bars "
                     f"(data {s['data_hash'][:12]}, {len(s['tests'])} test segments)")
        head = (f"  {'run':<22} {'config':<12} {'verdict':<12} {'Sharpe':>7} {'net ret':>8} {'PF':>6} "
                f"{'max DD':>7} {'trades':>6} {'DSR':>6} {'trials':>6}  {'best - run [95% CI]':<24} {'p':>6} {'Holm':>6}")
        lines += [head, "  " + "-" * (len(head) - 2)]
        diffs = {d["label"]: d for d in s["differences"]}
        for r in s["runs"]:
            m, d = r["metrics"], diffs.get(r["label"])
            gap = "(best)" if r["best"] else "" if d is None or d["diff"] is None else \
                f"{d['diff']:+.3f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"
            lines.append(f"  {r['label'][:22]:<22} {r['fingerprint'][:12]:<12} {str(r['verdict']):<12} "
                         f"{fv(r['sharpe_common']):>7} {fv(m.get('net_return'), 'pct'):>8} {fv(m.get('pf')):>6} "
                         f"{fv(m.get('max_drawdown'), 'pct'):>7} {fv(m.get('trades'), 'int'):>6} "
                         f"{fv(m.get('dsr')):>6} {fv(m.get('n_trials'), 'int'):>6}  {gap:<24} "
                         f"{fv(d['p_value']) if d else '':>6} {fv(d['p_holm']) if d else '':>6}")
        p = s["pbo"]
        lines.append(f"  PBO {p['pbo']:.3f} (CSCV: {p['n_configurations']} configurations, {p['n_blocks']} blocks, "
                     f"{p['n_combinations']} splits): the share of splits where the in-sample best ranks below "
                     f"the median of the configurations out of sample; {p['prob_oos_loss']:.1%} of splits: "
                     "where it loses money out of sample (negative Sharpe), whatever the others do"
                     if p else f"  PBO not computed: {s['pbo_note']}")
    for text in result.get("skipped", []):
        lines.append(f"not compared: {text}")
    lines.append("Sharpe annualised on the common bars; best - run: Sharpe difference, studentised circular block "
                 "bootstrap (two-sided p; Holm-adjusted over the comparisons)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from reports.compare import DEFAULT_BLOCKS, MAX_BLOCKS
    from reports.compare_page import write_compare
    from backtest.result_files import to_jsonable

    if args.blocks < 2 or args.blocks % 2 or args.blocks > MAX_BLOCKS:
        raise UserError(f"--blocks {args.blocks}: the number of CSCV blocks must be even, between 2 and "
                        f"{MAX_BLOCKS} (default {DEFAULT_BLOCKS})")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: the bootstrap seed is a whole number >= 0")
    if args.bootstrap < 100:
        raise UserError(f"--bootstrap {args.bootstrap}: use at least 100 resamples (default 2000)")
    out = Path(args.out)
    if (out / "manifest.json").exists():
        raise UserError(f"--out {str(out)!r} is a run directory; choose another --out for the comparison")
    records, ledger_path = gather(args)
    result, arrays = compare(records, blocks=args.blocks, bootstrap=args.bootstrap, seed=args.seed)
    result["source"] = "research ledger" if ledger_path else "run directories"
    result["ledger"] = ledger_path
    page = write_compare(out, result, arrays)
    if args.json:
        print(json.dumps(to_jsonable(result), indent=1, allow_nan=False))
    else:
        print(table(result))
        print(f"page: {page}")
    sys.stdout.flush()
    return 0


def register(subparsers) -> None:
    from reports.compare import DEFAULT_BLOCKS, DEFAULT_BOOTSTRAP

    p = subparsers.add_parser("compare", help="runs on the same data side by side: Sharpe differences and PBO",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories of `walkforward run` or `evaluate`")
    p.add_argument("--ledger-data", default=None, metavar="HASH",
                   help="compare every trial the research ledger holds on this data (key or data hash prefix, "
                        "as `walkforward ledger` lists them)")
    p.add_argument("--ledger", default=None, metavar="PATH",
                   help="research ledger for --ledger-data (default: $WALKFORWARD_LEDGER, else the user data dir)")
    p.add_argument("--blocks", type=_whole, default=DEFAULT_BLOCKS,
                   help=f"CSCV blocks for the PBO, even (default {DEFAULT_BLOCKS})")
    p.add_argument("--bootstrap", type=_whole, default=DEFAULT_BOOTSTRAP,
                   help=f"bootstrap resamples of each Sharpe difference (default {DEFAULT_BOOTSTRAP})")
    p.add_argument("--seed", type=_whole, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"where compare.html and compare.json go (default {DEFAULT_OUT})")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON instead of a table")
    p.set_defaults(func=run)


__all__ = ["compare", "gather", "group", "register", "run", "table"]
