"""Calibration of the verdict: how often it says DEPLOY without skill, and with a planted edge.

Markets are synthetic daily bars on the real XNYS sessions (`backtest.sample_data`, GARCH
returns with Student-t shocks and volatility regimes), each case a new market seed. Every
policy is a column of decisions put through `walkforward.evaluation.evaluate_arrays`: the
same folds, simulator, default costs, account, baselines, metrics and verdict as a trained
model (5 test folds of 250 daily bars, about 1,250 test bars).

Policies without skill (the answer must not be DEPLOY):

- ``random``: uniform random actions, regime market;
- ``long_biased``: random with buys six times as likely as sells, +20%/year drift;
- ``hold_longer``: enters at random and holds about 60 bars, +30%/year drift (beats a
  random policy with the same action shares, which holds less: the old verdict's flaw);
- ``momentum``: long while the last 20 closes rose, driftless random walk;
- ``mean_reversion``: long while the last 5 closes fell, driftless random walk.

Policies with a planted, tradable edge: each knows the sign of the coming open-to-open
return (fill at t's open, hold to t+1's open) with accuracy p, and is long (BUY_75, up to
the cap) when it predicts a rise, flat (CLOSE) otherwise.

Printed: the DEPLOY (and other verdict) rates with Wilson 95% intervals, per policy and
pooled; per criterion, the share of planted-edge cases passing it (which gate limits the
power); and, measured on the same cases, the rates of verdict v1 (consistency, PF, drawdown
and the random-policy percentile only). Run: ``python -m benchmarks.bench_verdict``
(about 10 minutes at the default sizes on 2 cores; ``--null-cases 40 --power-cases 30``
for a quick look).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter, defaultdict

import numpy as np

NULL_POLICIES = ("random", "long_biased", "hold_longer", "momentum", "mean_reversion")
#: Market of each null policy: annual drift (None: the generator's regime mixture).
NULL_MARKET = {"random": None, "long_biased": 0.20, "hold_longer": 0.30, "momentum": 0.0, "mean_reversion": 0.0}
EDGES = (0.55, 0.57, 0.60)
ANNUAL_VOL = 0.25
N_FOLDS, TEST_BARS = 5, 250
BUY75, CLOSE = 3, 7  # ids with the CLOSE action enabled


def market(seed: int, annual_drift: float | None):
    """Daily XNYS bars 2010-2020 (2,769 sessions) with the given drift."""
    from backtest.sample_data import generate_equity_bars

    return generate_equity_bars(f"CAL{seed}", "2010-01-01", "2021-01-01", seed=seed, timeframe="1D",
                                annual_vol=ANNUAL_VOL, annual_drift=annual_drift)


def _long_flat(long: np.ndarray) -> np.ndarray:
    """BUY_75 where ``long`` (adds up to the cap), CLOSE where not."""
    return np.where(long, BUY75, CLOSE).astype(np.int64)


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
    close = bars.close
    if name in ("momentum", "mean_reversion"):
        k = 20 if name == "momentum" else 5
        past = np.full(n, np.nan)
        past[k + 1:] = close[k:-1] / close[:-k - 1] - 1.0  # closes up to t-1 only
        return _long_flat(past > 0 if name == "momentum" else past < 0)
    if name == "edge":
        nxt = np.r_[bars.open[1:] / bars.open[:-1] - 1.0, 0.0]
        right = rng.random(n) < p
        return _long_flat(np.where(right, nxt > 0, nxt <= 0))
    raise ValueError(f"unknown policy {name!r}")


def _config(null_draws: int, random_seeds: int):
    from walkforward.config import RunConfig

    return RunConfig(folds=N_FOLDS, test_size=TEST_BARS, null_draws=null_draws, n_random_seeds=random_seeds,
                     account={"include_close_action": True})


def verdict_v1(m: dict) -> str:
    """The verdict before v2 (seeds' gates plus the random-policy percentile), for comparison."""
    pct = m.get("random_percentile")
    deploy = (m.get("consistency") or 0) >= 0.8 and (m.get("pf") or 0) >= 1.4 \
        and (m.get("max_drawdown") if m.get("max_drawdown") is not None else 1) <= 0.10 and pct is not None \
        and pct >= 95.0
    return "DEPLOY" if deploy else "other"


def run_case(policy: str, seed: int, p: float | None = None, null_draws: int = 1000, random_seeds: int = 100) -> dict:
    """Verdict, v1 verdict and criteria of one case."""
    from walkforward.evaluation import evaluate_arrays

    drift = None if policy == "edge" else NULL_MARKET[policy]
    bars = market(seed, drift)
    s = evaluate_arrays(bars, policy_actions(policy, bars, seed, p), _config(null_draws, random_seeds))
    return {"policy": policy, "p": p, "seed": seed, "verdict": s["verdict"], "v1": verdict_v1(s["metrics"]),
            "criteria": {(c["level"], c["name"]): c["passed"] for c in s["criteria"]},
            "trades": s["metrics"]["trades"], "pf": s["metrics"]["pf"]}


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


def calibrate(null_cases: int, power_cases: int, null_draws: int, random_seeds: int, seed0: int = 1000,
              progress: bool = True) -> list[dict]:
    """Run every case: ``null_cases`` spread over the null policies, ``power_cases`` per edge."""
    cases = [(NULL_POLICIES[i % len(NULL_POLICIES)], seed0 + i, None) for i in range(null_cases)]
    cases += [("edge", seed0 + 10_000 + int(p * 1000) * 1000 + i, p) for p in EDGES for i in range(power_cases)]
    out, t0 = [], time.perf_counter()
    for k, (policy, seed, p) in enumerate(cases):
        out.append(run_case(policy, seed, p, null_draws, random_seeds))
        if progress and (k + 1) % 25 == 0:
            print(f"  {k + 1}/{len(cases)} cases, {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def report(results: list[dict]) -> str:
    lines = ["", "DEPLOY rate (Wilson 95% interval); goal: null <= 5%, edge p=0.60 >= 80%", "",
             f"{'policy':<16} {'cases':>5}  {'DEPLOY (v2)':<28} {'DEPLOY (v1, same cases)':<28} other verdicts"]
    groups = defaultdict(list)
    for r in results:
        groups[r["policy"] if r["p"] is None else f"edge p={r['p']:.2f}"].append(r)
    nulls = [r for r in results if r["p"] is None]
    order = [*NULL_POLICIES, "all null cases", *[f"edge p={p:.2f}" for p in EDGES]]
    groups["all null cases"] = nulls
    for name in order:
        rs = groups.get(name, [])
        if not rs:
            continue
        n = len(rs)
        dep = sum(r["verdict"] == "DEPLOY" for r in rs)
        v1 = sum(r["v1"] == "DEPLOY" for r in rs)
        other = Counter(r["verdict"] for r in rs if r["verdict"] != "DEPLOY")
        lines.append(f"{name:<16} {n:>5}  {rate(dep, n):<28} {rate(v1, n):<28} "
                     + ", ".join(f"{v} {c}" for v, c in sorted(other.items())))
    edge = [r for r in results if r["p"] is not None]
    if edge:
        lines += ["", "share of planted-edge cases passing each DEPLOY criterion (what limits the power):",
                  f"{'criterion':<20} " + " ".join(f"{f'p={p:.2f}':>8}" for p in EDGES)]
        keys = [k for k in edge[0]["criteria"] if k[0] in ("evidence", "deploy")]
        for key in keys:
            cells = []
            for p in EDGES:
                rs = [r for r in edge if r["p"] == p]
                cells.append(f"{100 * sum(r['criteria'][key] for r in rs) / max(len(rs), 1):7.1f}%")
            lines.append(f"{key[0][:4] + ':' + key[1]:<20} " + " ".join(cells))
        for p in EDGES:
            rs = [r for r in edge if r["p"] == p]
            pf = np.array([r["pf"] for r in rs if r["pf"] is not None], dtype=float)
            if pf.size:
                lines.append(f"edge p={p:.2f}: median PF {np.median(pf):.2f} (10%-90%: {np.quantile(pf, 0.1):.2f}-"
                             f"{np.quantile(pf, 0.9):.2f}), median trades {int(np.median([r['trades'] for r in rs]))}")
    if nulls:
        lines += ["", "share of null cases passing each DEPLOY criterion (each test's own rate without skill):",
                  "  " + ", ".join(f"{k[1]} {100 * sum(r['criteria'][k] for r in nulls) / len(nulls):.1f}%"
                                   for k in nulls[0]["criteria"] if k[0] == "deploy")]
    groups_loo = [("all null cases", nulls)] + [(f"edge p={p:.2f}", [r for r in edge if r["p"] == p]) for p in EDGES]
    deploy_keys = [k for k in (nulls or edge)[0]["criteria"] if k[0] == "deploy"] if (nulls or edge) else []
    if deploy_keys:
        lines += ["", "DEPLOY rate with one DEPLOY criterion left out (what each gate costs in power and buys "
                      "in false DEPLOYs):",
                  f"{'left out':<16} " + " ".join(f"{name[:14]:>15}" for name, _ in groups_loo)]
        for drop in [None, *deploy_keys]:
            cells = []
            for _, rs in groups_loo:
                ok = [all(v for k, v in r["criteria"].items() if k[0] in ("evidence", "deploy") and k != drop)
                      for r in rs]
                cells.append(f"{100 * sum(ok) / max(len(rs), 1):14.1f}%")
            lines.append(f"{'(none)' if drop is None else drop[1]:<16} " + " ".join(cells))
    n_null = len(nulls)
    dep = sum(r["verdict"] == "DEPLOY" for r in nulls)
    v1 = sum(r["v1"] == "DEPLOY" for r in nulls)
    lines += ["", f"summary: false DEPLOY {100 * dep / max(n_null, 1):.1f}% of {n_null} null cases "
                  f"(verdict v1 on the same cases: {100 * v1 / max(n_null, 1):.1f}%)"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--null-cases", type=int, default=250, help="cases without skill (spread over 5 policies)")
    ap.add_argument("--power-cases", type=int, default=100, help="cases per planted edge p")
    ap.add_argument("--null-draws", type=int, default=1000, help="timing-null draws per fold")
    ap.add_argument("--random-seeds", type=int, default=100, help="random-policy seeds per fold")
    ap.add_argument("--seed", type=int, default=1000, help="first market seed")
    ap.add_argument("--save", default=None, metavar="FILE.json", help="also write every case's outcome here")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = calibrate(a.null_cases, a.power_cases, a.null_draws, a.random_seeds, a.seed)
    if a.save:
        import json

        rows = [{**r, "criteria": {f"{k[0]}:{k[1]}": v for k, v in r["criteria"].items()}} for r in results]
        with open(a.save, "w") as fh:
            json.dump(rows, fh, indent=0, default=str)
    print(report(results))
    print(f"\n{len(results)} cases in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
