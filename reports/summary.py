"""Per-symbol summaries over stitched out-of-sample folds, and the run's ``summary.json``.

The on-disk layout read here is documented in docs/INTERNALS.md ("Results format consumed
by reports"); the files themselves are `backtest.result_files` (``result.json`` through
its typed `FoldRecord`). Symbol names always come from JSON (``manifest.json``,
``result.json``); directory names may be sanitised (`backtest.result_files.safe_name`) and
are never parsed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from backtest.errors import DataError, UserError
from backtest.result_files import EQUITY_CSV_COLUMNS, TRADES_CSV_COLUMNS, FoldRecord, read_json
from backtest.trades import profit_factor
from reports.metrics import bar_returns, compute_stats, consistency
from reports.verdict import VerdictThresholds, verdict

FORMAT_VERSION = 1


class NotARunDirError(UserError, FileNotFoundError):
    """The directory given is not a walk-forward run directory."""


def load_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest; `NotARunDirError` when there is none."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    if not run_dir.is_dir() or not path.is_file():
        raise NotARunDirError(
            f"{run_dir} is not a run directory: {path} is missing; pass the --out directory "
            "of a `walkforward run`"
        )
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("symbols"), list):
        raise NotARunDirError(f"{path}: no 'symbols' list; is this a walkforward run directory?")
    for i, e in enumerate(manifest["symbols"]):
        missing = [k for k in ("symbol", "dir", "bars_per_year") if not isinstance(e, dict) or k not in e]
        if missing:
            raise DataError(f"{path}: symbols[{i}] lacks {missing}; see docs/INTERNALS.md, results format")
        d = str(e["dir"])
        if d in ("", ".", "..") or Path(d).name != d or "\\" in d:
            raise DataError(f"{path}: symbols[{i}].dir={d!r} must be one plain directory name inside the run "
                            "(use backtest.result_files.safe_name)")
    return manifest


def _read_csv(path: Path, columns: Sequence[str], time_cols: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path} is missing; rerun `walkforward run` to complete this fold")
    rerun = "rerun `walkforward run` to rewrite this fold"
    try:  # a corrupted run directory is bad input: one line, never a pandas traceback
        frame = pd.read_csv(path)
    except ValueError as exc:  # parser, empty-file and decoding errors all derive from ValueError
        raise DataError(f"{path}: not a readable CSV ({' '.join(str(exc).split())[:120]}); {rerun}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected {list(columns)}")
    for c in time_cols:
        try:
            frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601")
        except (ValueError, TypeError):
            raise DataError(f"{path}: column {c!r} holds a value that is not an ISO 8601 time; {rerun}") from None
    bad = [c for c in columns if c not in time_cols and c != "side" and len(frame)
           and not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if bad:
        raise DataError(f"{path}: column {bad[0]!r} holds non-numeric values; {rerun}")
    return frame


def load_fold(fold_dir: Path) -> dict[str, Any]:
    """One fold's result.json, read through the typed `FoldRecord` (checked, defaults filled),
    plus its trades and equity frames under ``trades`` and ``equity``."""
    fold_dir = Path(fold_dir)
    path = fold_dir / "result.json"
    result = FoldRecord.from_json(read_json(path), str(path)).to_json()
    result["trades"] = _read_csv(fold_dir / "trades.csv", TRADES_CSV_COLUMNS, ("entry_time", "exit_time"))
    result["equity"] = _read_csv(fold_dir / "equity.csv", EQUITY_CSV_COLUMNS, ("timestamp",))
    return result


def load_symbol_folds(run_dir: Path, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All folds of one manifest symbol entry, ordered by the fold id stored in JSON."""
    sym_dir = Path(run_dir) / str(entry["dir"])
    folds = [load_fold(p.parent) for p in sym_dir.glob("fold_*/result.json")]
    return sorted(folds, key=lambda f: int(f["fold"]))


def _chain(segments: Sequence[np.ndarray], initial: Sequence[float], start: float) -> np.ndarray:
    """Chain per-fold equity curves into one curve starting at ``start`` (returns compounded)."""
    if not segments:
        return np.zeros(0)
    r = np.concatenate([bar_returns(np.asarray(s, dtype=np.float64), i) for s, i in zip(segments, initial)])
    return start * np.cumprod(1.0 + r)


def _compound_draws(folds: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    """Draw i of every fold's null compounded into stitched draw i (cut to the fewest draws)."""
    per_fold = [np.asarray((f.get("baselines") or {}).get(name, {}).get("net_returns") or [], np.float64)
                for f in folds]
    n = min((d.size for d in per_fold), default=0)
    return (np.prod([1.0 + d[:n] for d in per_fold], axis=0) - 1.0) if n else np.zeros(0)


def _baseline_curve(folds: Sequence[Mapping[str, Any]], name: str, inits: Sequence[float],
                    initial_equity: float) -> np.ndarray | None:
    """A buy-and-hold style baseline's per-bar equity, chained over folds (None if any lacks it)."""
    curves = [(f.get("baselines") or {}).get(name, {}).get("equity") for f in folds]
    if not curves or any(c is None or len(c) != len(f["equity"]) for c, f in zip(curves, folds)):
        return None
    return _chain(curves, inits, initial_equity)


def stitch(folds: Sequence[Mapping[str, Any]], initial_equity: float) -> dict[str, Any]:
    """Stitched out-of-sample trades, equity (compounded across folds), the buy-and-hold and
    exposure-matched buy-and-hold curves, fold boundaries (bar offsets) and the random policy's
    and the timing null's compounded net returns."""
    inits = [float(f.get("initial_equity") or initial_equity) for f in folds]
    eqs = [f["equity"] for f in folds]
    equity = pd.concat(eqs, ignore_index=True) if eqs else pd.DataFrame(columns=list(EQUITY_CSV_COLUMNS))
    chained = _chain([e["equity"].to_numpy(np.float64) for e in eqs], inits, initial_equity)
    if len(equity):
        scale = chained / equity["equity"].to_numpy(np.float64)
        equity = equity.assign(equity=chained, cash=equity["cash"].to_numpy(np.float64) * scale)
    trades = [f["trades"] for f in folds if len(f["trades"])]
    trades = pd.concat(trades, ignore_index=True) if trades else folds[0]["trades"].iloc[:0] if folds \
        else pd.DataFrame(columns=list(TRADES_CSV_COLUMNS))
    bounds = np.cumsum([0] + [len(e) for e in eqs]).tolist()
    return {"trades": trades, "equity": equity, "bounds": bounds,
            "buy_and_hold": _baseline_curve(folds, "buy_and_hold", inits, initial_equity),
            "bh_matched": _baseline_curve(folds, "buy_and_hold_matched", inits, initial_equity),
            "random_net_returns": _compound_draws(folds, "random"),
            "timing_null_net_returns": _compound_draws(folds, "timing_null"),
            "timing_null_model": _compound_model(folds), "timing_null_arrangements_log10": _arrangements(folds)}


def _compound_model(folds: Sequence[Mapping[str, Any]]) -> float | None:
    """The model's timing-null replays compounded across folds exactly as the draws are (None
    when a fold's record predates the replay: the stitched net return is used then)."""
    vals = [(f.get("baselines") or {}).get("timing_null", {}).get("model_net_return") for f in folds]
    if not vals or any(v is None for v in vals):
        return None
    return float(np.prod([1.0 + np.asarray([v], np.float64) for v in vals], axis=0)[0] - 1.0)


def _arrangements(folds: Sequence[Mapping[str, Any]]) -> float | None:
    """log10 of the stitched timing null's distinct arrangements: the folds' counts multiply."""
    vals = [(f.get("baselines") or {}).get("timing_null", {}).get("arrangements_log10") for f in folds]
    return None if not vals or any(v is None for v in vals) else float(sum(vals))


#: Bisection tolerance of the stitched breakeven cost multiple.
BREAKEVEN_TOL = 1e-4


def _stitched_round_trips(recs: Sequence[Mapping[str, Any]], ks: Sequence[int]) -> list[float]:
    """The folds' round-trip P&L at one cost multiple, in order, a round trip still open at a
    fold's end joined with its rest in the next fold (positions carried across folds)."""
    out: list[float] = []
    pending = False  # the last round trip in ``out`` goes on into the next fold
    for r, k in zip(recs, ks):
        trips = list(r["round_trips"][k])
        if not trips:
            continue  # no exit in this fold: an open round trip stays open
        if pending and r["open_in"][k]:
            out[-1] += trips.pop(0)
        out.extend(trips)
        pending = bool(r["open_out"][k])
    return out


def stitch_costs(folds: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Cost sensitivity of the stitched folds, from each fold's ``cost_sensitivity`` record.

    Net return at a multiple compounds the folds' net returns at it; PF is over the folds'
    round trips at it (`_stitched_round_trips`), as the headline PF. The breakeven multiple is found by bisection on the stitched net return, with
    each fold's net return linear between the multiples it was re-run at (its grid, its own
    bisection points and its breakeven). None when a fold has no record (an older run).
    """
    recs = [f.get("cost_sensitivity") for f in folds]
    if not recs or any(not isinstance(r, Mapping) for r in recs):
        return None
    multiples = [m for m in recs[0]["multiples"] if all(m in r["multiples"] for r in recs)]
    net, pf = [], []
    for m in multiples:
        ks = [r["multiples"].index(m) for r in recs]
        net.append(float(np.prod([1.0 + r["net_return"][k] for r, k in zip(recs, ks)]) - 1.0))
        if all("round_trips" in r for r in recs):
            pf.append(profit_factor(_stitched_round_trips(recs, ks)))
            continue
        wins = sum(r["wins"][k] for r, k in zip(recs, ks))  # a record without round trips (an older run)
        losses = sum(r["losses"][k] for r, k in zip(recs, ks))
        pf.append(wins / losses if losses > 0 else (math.inf if wins > 0 else None))
    curves = []
    for r in recs:
        xs, ys = list(r["curve_multiples"]), list(r["curve_net_return"])
        b = r.get("breakeven_multiple")
        if b is not None and b > 0 and b not in xs:  # the fold's own root is a knot of its curve
            k = int(np.searchsorted(xs, b))
            xs.insert(k, b)
            ys.insert(k, 0.0)
        curves.append((np.asarray(xs, np.float64), np.asarray(ys, np.float64)))
    end = min(float(x[-1]) for x, _ in curves)

    def stitched(m: float) -> float:
        return float(np.prod([1.0 + np.interp(m, x, y) for x, y in curves]) - 1.0)

    breakeven, above = None, None
    if stitched(0.0) <= 0:
        breakeven = 0.0
    elif stitched(end) > 0:
        above = end
    else:
        lo, hi = 0.0, end
        while hi - lo > BREAKEVEN_TOL:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if stitched(mid) > 0 else (lo, mid)
        breakeven = hi
    return {"multiples": multiples, "net_return": net, "pf": pf, "breakeven_multiple": breakeven,
            "breakeven_above": above,
            "method": "bisection on the stitched net return; each fold's net return is linear between the "
                      "cost multiples its decisions were re-run at (" + str(recs[0].get("method", "")) + ")"}


def _fold_summary(f: Mapping[str, Any], *, bars_per_year: float, initial_equity: float,
                  n_trials: int, meanings, seed: int) -> dict[str, Any]:
    init = float(f.get("initial_equity") or initial_equity)
    base = f.get("baselines") or {}
    matched = base.get("buy_and_hold_matched", {}).get("equity")
    m = compute_stats(f["trades"], f["equity"], bars_per_year=float(f.get("bars_per_year") or bars_per_year),
                      initial_equity=init, n_trials=n_trials, random_baseline=base.get("random"),
                      timing_null=base.get("timing_null"),
                      benchmark_equity=matched if matched is not None and len(matched) == len(f["equity"]) else None,
                      action_meanings=f.get("action_meanings") or meanings,
                      pdt_rejections=int(f.get("pdt_rejections") or 0), bootstrap_seed=seed)
    costs = f.get("cost_sensitivity")
    if isinstance(costs, Mapping):
        m["breakeven_cost_multiple"] = costs.get("breakeven_multiple")
        m["breakeven_cost_above"] = costs.get("breakeven_above")
    return {
        "fold": int(f["fold"]),
        "test_start": f.get("test_start"),
        "test_end": f.get("test_end"),
        "buy_and_hold_net_return": base.get("buy_and_hold", {}).get("net_return"),
        "metrics": m,
    }


def symbol_summary(
    symbol: str,
    fold_results: Sequence[Mapping[str, Any]],
    *,
    bars_per_year: float,
    initial_equity: float,
    n_trials: int = 1,
    action_meanings: Sequence[str] | None = None,
    thresholds: VerdictThresholds | None = None,
    bootstrap_seed: int = 0,
    trial_sharpe_var: float | None = None,
) -> dict[str, Any]:
    """Metrics of one symbol over its stitched test folds, per-fold metrics and the verdict.

    ``fold_results``: dicts as `load_fold` returns them (result.json keys plus ``trades``
    and ``equity`` frames). PDT rejections add up over folds.
    """
    if not fold_results:
        raise DataError(f"symbol {symbol!r} has no completed folds; run `walkforward run` first")
    folds = [_fold_summary(f, bars_per_year=bars_per_year, initial_equity=initial_equity,
                           n_trials=n_trials, meanings=action_meanings, seed=bootstrap_seed)
             for f in fold_results]
    st = stitch(fold_results, initial_equity)
    m = compute_stats(st["trades"], st["equity"], bars_per_year=bars_per_year,
                      initial_equity=initial_equity, n_trials=n_trials, trial_sharpe_var=trial_sharpe_var,
                      random_baseline={"net_returns": st["random_net_returns"]},
                      timing_null={"net_returns": st["timing_null_net_returns"],
                                   "model_net_return": st["timing_null_model"],
                                   "arrangements_log10": st["timing_null_arrangements_log10"]},
                      benchmark_equity=st["bh_matched"], action_meanings=action_meanings,
                      pdt_rejections=sum(int(f.get("pdt_rejections") or 0) for f in fold_results),
                      bootstrap_seed=bootstrap_seed)
    m["consistency"] = consistency([f["metrics"]["net_pnl"] for f in folds])
    m["folds"] = len(folds)
    bh = st["buy_and_hold"]
    m["buy_and_hold_net_return"] = None if bh is None else float(bh[-1] / initial_equity - 1.0)
    m["cost_sensitivity"] = stitch_costs(fold_results)
    m["breakeven_cost_multiple"] = None if m["cost_sensitivity"] is None else m["cost_sensitivity"]["breakeven_multiple"]
    m["breakeven_cost_above"] = None if m["cost_sensitivity"] is None else m["cost_sensitivity"]["breakeven_above"]
    caps = {(f.get("baselines") or {}).get("buy_and_hold", {}).get("position_cap") for f in fold_results}
    m["buy_and_hold_cap"] = caps.pop() if len(caps) == 1 else None
    v = verdict(m, thresholds)
    return {"symbol": symbol, "pf": m["pf"], "skew": m["skew"], "consistency": m["consistency"],
            "metrics": m, **v, "fold_metrics": folds}


def default_n_trials(manifest: Mapping[str, Any]) -> tuple[int, str]:
    """Trials for the deflated Sharpe, and how the count was formed: the manifest's
    ``n_trials`` if given, else ``configurations_tried`` (default 1). Folds and symbols are
    not trials: the stitched test folds are one test of one configuration per symbol."""
    if manifest.get("n_trials"):
        return int(manifest["n_trials"]), str(manifest.get("n_trials_basis") or "declared in the manifest")
    n = max(1, int(manifest.get("configurations_tried", 1)))
    return n, f"{n} configuration(s) tried on this data (the run's own)"


def training_summary(folds: list, manifest: dict) -> dict | None:
    """How the symbol's models were trained and whether training learned (issue 24): the
    mode and reward, per fold the selected checkpoint's train / validation / test figures,
    and the signs of not learning in words (`walkforward.learning_check`); None for an
    actions file (nothing trained)."""
    from walkforward.learning_check import symbol_training_notes

    trained = [f for f in folds if f.get("training_log")]
    if not trained:
        return None
    config = manifest.get("config") or {}
    mode = config.get("mode")
    notes = []
    if mode == "smoke":
        notes.append("mode smoke is a quick demo of the pipeline, too small to judge a market: a DROP here says "
                     "more about the training budget than about the market; use --mode cpu (or larger) for that")
    return {"mode": mode, "reward": trained[0].get("reward"),
            "folds": [{"fold": f.get("fold"), **(f.get("figures") or {})} for f in trained],
            "notes": notes + symbol_training_notes(trained)}


def build_summary(run_dir: Path, thresholds: VerdictThresholds | None = None) -> tuple[dict, dict]:
    """(summary, loaded) for a run directory; ``loaded`` maps symbol dir -> folds, for HTML."""
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    th = thresholds or VerdictThresholds.from_dict(manifest.get("verdict_thresholds"), strict=False)
    loaded = {str(e["dir"]): load_symbol_folds(run_dir, e) for e in manifest["symbols"]}
    n_trials, n_trials_basis = default_n_trials(manifest)
    meanings = manifest.get("action_meanings")
    init = float(manifest.get("initial_equity", 1000.0))
    symbols = []
    for e in manifest["symbols"]:
        folds = loaded[str(e["dir"])]
        if not folds:
            continue
        # the research ledger counts trials per symbol (walkforward.ledger): symbols[i].n_trials
        n_sym = int(e["n_trials"]) if isinstance(e.get("n_trials"), int) and e["n_trials"] >= 1 else n_trials
        s = symbol_summary(str(e["symbol"]), folds, bars_per_year=float(e["bars_per_year"]),
                           initial_equity=init, n_trials=n_sym, action_meanings=meanings,
                           trial_sharpe_var=e.get("trial_sharpe_var") if n_sym >= 2 else None,
                           thresholds=th, bootstrap_seed=int(manifest.get("seed") or 0))
        s["fold_start"] = folds[0].get("fold_start") or "flat"  # flat, or carry (walkforward.fold_carry)
        s["training"] = training_summary(folds, manifest)
        s["n_trials_basis"] = str(e.get("n_trials_basis") or n_trials_basis)
        s["dir"] = str(e["dir"])
        s["asset_class"] = e.get("asset_class")
        s["timeframe"] = e.get("timeframe")
        symbols.append(s)
    summary = {
        "format_version": FORMAT_VERSION,
        # no creation time: the same command and seed must give a byte-identical summary.json
        "run": {k: manifest.get(k) for k in ("command", "seed", "config", "versions")},
        "initial_equity": init,
        "action_meanings": meanings,
        "n_trials": n_trials,
        "n_trials_basis": n_trials_basis,
        "thresholds": th.to_dict(),
        "symbols": symbols,
    }
    return summary, loaded
