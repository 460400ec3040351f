"""Calibration of the verdict per family of policies: false DEPLOY without skill, power with a planted edge.

Markets are synthetic daily bars on the real XNYS sessions (`backtest.sample_data`, GARCH
returns with Student-t shocks and volatility regimes), each case a new market seed. Every
policy is a column of decisions put through `walkforward.evaluation.evaluate_arrays`: the
same folds, simulator, default costs, account, baselines, metrics and verdict as a trained
model (5 test folds of 250 daily bars, about 1,250 test bars).

Families without skill (the answer must not be DEPLOY; each family gets its own rate):

- ``random``: uniform random actions, regime market;
- ``long_biased``: random with buys six times as likely as sells, +20%/year drift (in the
  market almost throughout, resizing at random);
- ``hold_longer``: enters at random and holds about 60 bars, +30%/year drift;
- ``momentum``, ``mean_reversion``: rules on driftless random walks (long while the last 20
  closes rose / the last 5 fell);
- ``never_flat``: BUY_75 at every bar (at the cap throughout, nothing to time), +30%/year;
- ``resize_random``: in the market throughout, BUY_75 or SELL_25 at random each bar (the
  issue's case), +30%/year;
- ``short_random``: shorting allowed, adds to a short (SELL_75), covers part (BUY_25) or all
  (CLOSE) at random, -30%/year drift.

Families with a planted, tradable edge: each knows the sign of the coming open-to-open
return with accuracy p and

- ``edge``: long (BUY_75 up to the cap) when it predicts a rise, flat (CLOSE) otherwise;
- ``resize_edge``: in the market throughout, BUY_75 when it predicts a rise, SELL_75 otherwise
  (a quarter of the position stays: it never goes flat);
- ``short_edge``: shorting allowed, short (SELL_75) when it predicts a fall, flat otherwise.

Each edge family's accuracy is `EDGE_P` (the planted strength whose median Sharpe after costs
is at least 1.3, the goals' level) unless ``--edge-p`` sets one for all. Test folds carry the
account from one to the next, as `walkforward evaluate` does by default (``--fold-start``).

Per family: DEPLOY rate with its Wilson 95% interval (false DEPLOY for nulls, power for
edges), PAPER rate, median Sharpe after costs. ``--cases`` sizes the run (cases per family).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter, defaultdict

import numpy as np

NULL_FAMILIES = ("random", "long_biased", "hold_longer", "momentum", "mean_reversion", "never_flat",
                 "resize_random", "short_random")
EDGE_FAMILIES = ("edge", "resize_edge", "short_edge")
#: Kept for callers of the first version: the original five null policies.
NULL_POLICIES = NULL_FAMILIES[:5]
#: Market of each family: annual drift (None: the generator's regime mixture).
NULL_MARKET = {"random": None, "long_biased": 0.20, "hold_longer": 0.30, "momentum": 0.0, "mean_reversion": 0.0,
               "never_flat": 0.30, "resize_random": 0.30, "short_random": -0.30,
               "edge": None, "resize_edge": None, "short_edge": None}
#: Families run with shorting allowed.
SHORT = {"short_random", "short_edge"}
EDGES = (0.55, 0.57, 0.60)
#: Accuracy of each edge family in a default run: the planted edge strength whose median Sharpe
#: after costs is at least 1.3 (the goals' level: power is judged at that Sharpe, not below it).
#: Resizing and short edges earn less per correct call than long/flat at the same accuracy (a
#: quarter of the position stays on; a short pays the drift), so they need a larger one.
EDGE_P = {"edge": 0.60, "resize_edge": 0.635, "short_edge": 0.625}
ANNUAL_VOL = 0.25
N_FOLDS, TEST_BARS = 5, 250
HOLD, BUY25, BUY75, SELL25, SELL75, CLOSE = 0, 1, 3, 4, 6, 7  # ids with the CLOSE action enabled


def market(seed: int, annual_drift: float | None):
    """Daily XNYS bars 2010-2020 (2,769 sessions) with the given drift."""
    from backtest.sample_data import generate_equity_bars

    return generate_equity_bars(f"CAL{seed}", "2010-01-01", "2021-01-01", seed=seed, timeframe="1D",
                                annual_vol=ANNUAL_VOL, annual_drift=annual_drift)


def _long_flat(long: np.ndarray) -> np.ndarray:
    """BUY_75 where ``long`` (adds up to the cap), CLOSE where not."""
    return np.where(long, BUY75, CLOSE).astype(np.int64)


def _predicted_up(bars, rng, p: float) -> np.ndarray:
    """Sign of the coming open-to-open return, right with probability ``p``."""
    n = len(bars)
    nxt = np.r_[bars.open[1:] / bars.open[:-1] - 1.0, 0.0]
    right = rng.random(n) < p
    return np.where(right, nxt > 0, nxt <= 0)


def policy_actions(name: str, bars, seed: int, p: float | None = None) -> np.ndarray:
    """One action id per bar; rules only read closes before the decision bar."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA1]))
    n = len(bars)
    if name == "random":
        return rng.integers(0, 8, n).astype(np.int64)
    if name == "long_biased":
        probs = np.array([0.55, 0.1, 0.1, 0.1, 0.0167, 0.0167, 0.0166, 0.1])
        probs[-1] = 0.0
        probs[0] += 0.1
        return rng.choice(8, size=n, p=probs / probs.sum()).astype(np.int64)
    if name == "hold_longer":
        state, out = False, np.empty(n, dtype=bool)
        u = rng.random(n)
        for t in range(n):  # a two-state chain: enter w.p. 0.05, leave w.p. 1/60 per bar
            state = (u[t] >= 1.0 / 60.0) if state else (u[t] < 0.05)
            out[t] = state
        return _long_flat(out)
    if name == "never_flat":
        return np.full(n, BUY75, dtype=np.int64)
    if name == "resize_random":
        return np.where(rng.random(n) < 0.5, BUY75, SELL25).astype(np.int64)
    if name == "short_random":
        return rng.choice([HOLD, SELL75, BUY25, CLOSE], size=n, p=[0.5, 0.3, 0.1, 0.1]).astype(np.int64)
    close = bars.close
    if name in ("momentum", "mean_reversion"):
        k = 20 if name == "momentum" else 5
        past = np.full(n, np.nan)
        past[k + 1:] = close[k:-1] / close[:-k - 1] - 1.0  # closes up to t-1 only
        return _long_flat(past > 0 if name == "momentum" else past < 0)
    if name == "edge":
        return _long_flat(_predicted_up(bars, rng, p))
    if name == "resize_edge":
        return np.where(_predicted_up(bars, rng, p), BUY75, SELL75).astype(np.int64)
    if name == "short_edge":
        return np.where(_predicted_up(bars, rng, p), CLOSE, SELL75).astype(np.int64)
    raise ValueError(f"unknown policy {name!r}")


def _config(null_draws: int, random_seeds: int, short: bool = False, fold_start: str = "carry"):
    from walkforward.config import RunConfig

    return RunConfig(folds=N_FOLDS, test_size=TEST_BARS, null_draws=null_draws, n_random_seeds=random_seeds,
                     account={"include_close_action": True, "allow_short": bool(short)}, fold_start=fold_start)


def run_case(policy: str, seed: int, p: float | None = None, null_draws: int = 1000, random_seeds: int = 100,
             fold_start: str = "carry") -> dict:
    """Verdict, criteria and key metrics of one case (test folds carried by default, as `evaluate`)."""
    from walkforward.evaluation import evaluate_arrays

    bars = market(seed, NULL_MARKET[policy])
    s = evaluate_arrays(bars, policy_actions(policy, bars, seed, p),
                        _config(null_draws, random_seeds, short=policy in SHORT, fold_start=fold_start))
    m = s["metrics"]
    keep = ("trades", "pf", "sharpe", "consistency", "max_drawdown", "timing_null_p", "excess_p", "dsr",
            "timing_null_arrangements_log10", "exposure_avg", "resizing_orders")
    return {"policy": policy, "p": p, "seed": seed, "verdict": s["verdict"],
            "criteria": {(c["level"], c["name"]): c["passed"] for c in s["criteria"]},
            **{k: m.get(k) for k in keep}}


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of a rate k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k:>4}/{n:<4} {100 * k / max(n, 1):5.1f}% [{100 * lo:4.1f}, {100 * hi:5.1f}]"


def cases(families, n_cases: int, edge_p: float | None, seed0: int = 1000) -> list[tuple[str, int, float | None]]:
    """``n_cases`` seeded cases per family (edges at accuracy ``edge_p``, or `EDGE_P` of the
    family when None), a new market each."""
    out = []
    for j, fam in enumerate(families):
        p = (EDGE_P[fam] if edge_p is None else edge_p) if fam in EDGE_FAMILIES else None
        out += [(fam, seed0 + 100_000 * (j + 1) + i, p) for i in range(n_cases)]
    return out


def calibrate(null_cases: int, power_cases: int, null_draws: int, random_seeds: int, seed0: int = 1000,
              progress: bool = True, families=NULL_POLICIES, edges=EDGES, edge_family: str = "edge") -> list[dict]:
    """``null_cases`` spread over ``families`` (round robin), ``power_cases`` per accuracy in ``edges``."""
    todo = [(families[i % len(families)], seed0 + i, None) for i in range(null_cases)]
    todo += [(edge_family, seed0 + 10_000 + int(p * 1000) * 1000 + i, p) for p in edges for i in range(power_cases)]
    return run_all(todo, null_draws, random_seeds, progress)


def run_all(todo, null_draws: int, random_seeds: int, progress: bool = True, fold_start: str = "carry") -> list[dict]:
    out, t0 = [], time.perf_counter()
    for k, (policy, seed, p) in enumerate(todo):
        out.append(run_case(policy, seed, p, null_draws, random_seeds, fold_start=fold_start))
        if progress and (k + 1) % 25 == 0:
            print(f"  {k + 1}/{len(todo)} cases, {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def _median(xs) -> str:
    v = np.asarray([x for x in xs if x is not None and math.isfinite(x)], dtype=float)
    return f"{np.median(v):6.2f}" if v.size else "   n/a"


def report(results: list[dict]) -> str:
    """The per-family table, the share of each family passing each DEPLOY criterion, totals."""
    groups = defaultdict(list)
    for r in results:
        groups[r["policy"] if r["p"] is None else f"{r['policy']} p={r['p']:g}"].append(r)
    lines = ["", "Per family: DEPLOY rate (Wilson 95% interval; false DEPLOY for nulls, power for edges), "
                 "PAPER rate, median Sharpe after costs",
             "goals: null DEPLOY <= 5%; long/flat and short edges >= 80%, resizing >= 50%; PAPER <= 20% of nulls", "",
             f"{'family':<22} {'kind':<5} {'DEPLOY':<28} {'PAPER':<28} {'med Sharpe':>10}  other verdicts"]
    for name, rs in groups.items():
        n = len(rs)
        dep = sum(r["verdict"] == "DEPLOY" for r in rs)
        pap = sum(r["verdict"] == "PAPER" for r in rs)
        other = Counter(r["verdict"] for r in rs if r["verdict"] not in ("DEPLOY", "PAPER"))
        kind = "null" if rs[0]["p"] is None else "edge"
        lines.append(f"{name:<22} {kind:<5} {rate(dep, n):<28} {rate(pap, n):<28} {_median(r['sharpe'] for r in rs):>10}"
                     "  " + ", ".join(f"{v} {c}" for v, c in sorted(other.items())))
    nulls = [r for r in results if r["p"] is None]
    if nulls:
        n = len(nulls)
        lines += ["", f"all null cases: DEPLOY {rate(sum(r['verdict'] == 'DEPLOY' for r in nulls), n)}, "
                      f"PAPER {rate(sum(r['verdict'] == 'PAPER' for r in nulls), n)}"]
    keys = [k for k in results[0]["criteria"] if k[0] in ("evidence", "deploy")] if results else []
    if keys:
        lines += ["", "share of each family passing each evidence/DEPLOY criterion:",
                  f"{'family':<22} " + " ".join(f"{k[1][:10]:>10}" for k in keys)]
        for name, rs in groups.items():
            lines.append(f"{name:<22} " + " ".join(f"{100 * sum(r['criteria'][k] for r in rs) / len(rs):9.1f}%"
                                                    for k in keys))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100, help="cases per family (default 100)")
    ap.add_argument("--families", default=",".join(NULL_FAMILIES + EDGE_FAMILIES),
                    help="comma-separated families (default: all)")
    ap.add_argument("--edge-p", type=float, default=None,
                    help="accuracy of every planted edge (default: per family, EDGE_P, median Sharpe >= 1.3)")
    ap.add_argument("--fold-start", choices=("carry", "flat"), default="carry",
                    help="how test folds start (evaluate's default: carry)")
    ap.add_argument("--null-draws", type=int, default=1000, help="timing-null draws per fold")
    ap.add_argument("--random-seeds", type=int, default=100, help="random-policy seeds per fold")
    ap.add_argument("--seed", type=int, default=1000, help="first market seed")
    ap.add_argument("--save", default=None, metavar="FILE.json", help="also write every case's outcome here")
    a = ap.parse_args(argv)
    fams = [f.strip() for f in a.families.split(",") if f.strip()]
    unknown = [f for f in fams if f not in NULL_FAMILIES + EDGE_FAMILIES]
    if unknown:
        ap.error(f"--families: unknown {unknown}; choose from {', '.join(NULL_FAMILIES + EDGE_FAMILIES)}")
    if a.cases < 1:
        ap.error(f"--cases must be >= 1, got {a.cases}")
    t0 = time.perf_counter()
    results = run_all(cases(fams, a.cases, a.edge_p, a.seed), a.null_draws, a.random_seeds, fold_start=a.fold_start)
    if a.save:
        import json

        rows = [{**r, "criteria": {f"{k[0]}:{k[1]}": v for k, v in r["criteria"].items()}} for r in results]
        with open(a.save, "w") as fh:
            json.dump(rows, fh, indent=0, default=str)
    print(report(results))
    print(f"\n{len(results)} cases in {time.perf_counter() - t0:.0f} s (--cases {a.cases}, --null-draws "
          f"{a.null_draws}, --random-seeds {a.random_seeds}, --edge-p {a.edge_p or EDGE_P}, "
          f"--fold-start {a.fold_start})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
