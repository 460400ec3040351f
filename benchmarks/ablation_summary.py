"""Summarise `benchmarks.trainer_ablation` result lines per configuration and world.

Input lines: ``TAG {json}`` (the sweep's format, `benchmarks/sweep_issue24.sh`) or a bare
JSON line (tag ``-``). Printed per (tag, world): runs, median and mean test Sharpe of the
selected checkpoint, median capture (test Sharpe / the oracle's on the same bars, over
runs whose oracle Sharpe is positive), how many runs beat the oracle's half, median
train / validation / test PF, and median seconds of training.

Run: ``python -m benchmarks.ablation_summary results.txt [more files]``.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def parse_line(line: str) -> tuple[str, dict] | None:
    """(tag, record) of one result line; None for blank or malformed lines."""
    line = line.strip()
    if not line:
        return None
    tag, _, rest = line.partition(" ") if not line.startswith("{") else ("-", "", line)
    try:
        rec = json.loads(rest)
    except ValueError:
        return None
    return (tag, rec) if isinstance(rec, dict) and "test" in rec else None


def _med(xs) -> float:
    xs = [x for x in xs if x is not None]
    return float(np.median(xs)) if xs else float("nan")


def _sharpe(fig: dict) -> float:
    """The segment's Sharpe; a policy that never trades (no return, Sharpe NaN) counts as 0."""
    x = fig.get("sharpe")
    return float(x) if x is not None and np.isfinite(x) else 0.0


def summarise(records: list[tuple[str, dict]]) -> list[dict]:
    """One row per (tag, world), in first-seen order."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    seen = set()
    for tag, rec in records:  # the same run twice (files merged) counts once: runs are deterministic
        key = (tag, rec["args"]["world"], rec["args"]["seed"])
        if key not in seen:
            seen.add(key)
            groups[key[:2]].append(rec)
    rows = []
    for (tag, world), recs in groups.items():
        sh = [_sharpe(r["test"]) for r in recs]
        caps = [_sharpe(r["test"]) / r["oracle_test"]["sharpe"] for r in recs if r["oracle_test"]["sharpe"] > 0]
        rows.append({"tag": tag, "world": world, "runs": len(recs), "seeds": sorted(r["args"]["seed"] for r in recs),
                     "sharpe_median": _med(sh), "sharpe_mean": float(np.mean(sh)), "capture_median": _med(caps),
                     "half_oracle": sum(c >= 0.5 for c in caps), "capture_runs": len(caps),
                     "train_pf": _med([r["train"]["pf"] for r in recs]), "val_pf": _med([r["val"]["pf"] for r in recs]),
                     "test_pf": _med([r["test"]["pf"] for r in recs]), "secs": _med([r["secs"] for r in recs])})
    return rows


def table(rows: list[dict]) -> str:
    head = (f"{'tag':<24} {'world':<16} {'runs':>4} {'Sharpe med':>10} {'mean':>6} {'capture med':>11} "
            f"{'>=half':>6} {'train PF':>8} {'val PF':>6} {'test PF':>7} {'s':>5}")
    out = [head]
    for r in rows:
        out.append(f"{r['tag']:<24} {r['world']:<16} {r['runs']:>4} {r['sharpe_median']:>+10.2f} "
                   f"{r['sharpe_mean']:>+6.2f} {r['capture_median']:>+11.2f} {r['half_oracle']:>3}/{r['capture_runs']:<2} "
                   f"{r['train_pf']:>8.2f} {r['val_pf']:>6.2f} {r['test_pf']:>7.2f} {r['secs']:>5.0f}")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+")
    a = p.parse_args(argv)
    records = []
    for name in a.files:
        with open(name, encoding="utf-8") as fh:
            records += [r for r in map(parse_line, fh) if r is not None]
    print(table(summarise(records)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
