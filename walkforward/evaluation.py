"""`walkforward evaluate`: any strategy's decisions judged exactly like a trained model's.

The decisions come from an actions file (`backtest.actions_file`). Everything after them
is what `walkforward run` does with a trained model's decisions: the same fold layout
(`walkforward.orchestrator.plan_symbols`, same flags), the same simulator, costs, PDT and
account on each test segment (decision at bar t filled at t's open), the same baselines (`walkforward.fold_evidence`), metrics, verdict,
run directory and HTML. Only training is missing: a fold's ``result.json`` has no training
log and no checkpoint.

Test folds form one continuous account by default (``fold_start = "carry"``: the position,
cash and cost basis carry from one test fold into the next, only the last fold's position is
closed at its end, each fold's figures are measured from its first bar; `walkforward.fold_carry`);
``fold_start = "flat"`` starts every fold flat with the initial equity and closes it at its last
bar, as `walkforward run` does with each fold's trained policy.

Bad input (a row naming no bar, an unknown action, a test bar without an action) is refused
before the run directory is created. Python: `evaluate(actions, data, **settings)` (files,
DataFrames or Series, as the CLI) or `evaluate_arrays(bars, actions, config)` (in memory,
nothing written). A ``position`` file's targets become actions over the test segments
(`backtest.actions_file.segment_actions`: from the position carried in, or from flat in each
segment with ``fold_start = "flat"``).
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backtest.errors import DataError
from walkforward import fold_evidence
from walkforward.config import RunConfig
from walkforward.fold_job import FoldOutcome
from walkforward.orchestrator import RunOutcome, build_manifest, load_series, plan_symbols
from walkforward.store import RunStore, discard_on_error, open_run


@dataclass(frozen=True)
class Evaluation:
    """A validated evaluation: the fold plan per symbol and the decision at every bar."""

    plans: dict  # symbol -> walkforward.orchestrator.SymbolPlan
    actions: dict  # symbol -> int64 [n_bars] (backtest.actions_file.NO_ACTION outside the file)
    fingerprint: str  # the config's fingerprint with the actions mixed in
    source: dict  # {"path", "sha256"} of the actions file
    config: RunConfig  # the run's config (a position file turns on the CLOSE action: `for_positions`)


def _fingerprint(config: RunConfig, actions_sha256: str) -> str:
    return hashlib.sha256(f"{config.fingerprint()}|actions:{actions_sha256}".encode()).hexdigest()


def _meanings(config: RunConfig) -> tuple[str, ...]:
    return config.account.action_space.meanings


def for_positions(config: RunConfig, kind: str) -> RunConfig:
    """The config an actions table of ``kind`` is judged under: a position file needs the CLOSE
    action (a target of 0 exits in one order), so it is turned on, with a notice."""
    if kind != "position" or config.account.include_close_action:
        return config
    import dataclasses
    import warnings

    warnings.warn("a position file: [account] include_close_action turned on, so a target of 0 exits in one order",
                  UserWarning, stacklevel=3)
    return dataclasses.replace(config, account=dataclasses.replace(config.account, include_close_action=True))


def prepare(config: RunConfig, actions_path) -> Evaluation:
    """Load the data and the actions (a file, DataFrame or Series), lay out the folds and check
    that every test bar has a decision; raises `UserError` naming the first problem, writes
    nothing."""
    from backtest.actions_file import check_covered, read_actions, segment_actions

    table = read_actions(actions_path, config.date_format)
    config = resolve_fold_start(for_positions(config, table.kind))
    series = load_series(config)
    names = {b.symbol for b in series}
    if table.symbol is None and len(series) > 1:
        raise DataError(f"{table.path}: no symbol column, but DATA holds {len(series)} symbols "
                        f"({', '.join(sorted(names))}); add a symbol column")
    if table.symbol is not None and config.symbols is None:
        upper = {n.upper() for n in names}
        unknown = [k for k, s in enumerate(table.symbol) if str(s) not in names and str(s).upper() not in upper]
        if unknown:
            k = unknown[0]
            from backtest.io_formats import row_label

            raise DataError(f"{table.path}: {row_label(table.rows, k)}: symbol {table.symbol[k]!r} is not in DATA "
                            f"(symbols: {', '.join(sorted(names))}); add its bars or remove its rows")
    fingerprint = _fingerprint(config, table.sha256)
    plans = plan_symbols(config, series, fingerprint=fingerprint)
    actions = {}
    for symbol, plan in plans.items():
        acts = segment_actions(table, plan.bars, config.account, [fold.test for fold in plan.folds],
                               carry=config.fold_start == "carry")
        for fold in plan.folds:
            check_covered(table, plan.bars, acts, fold.test, f"test segment of fold {fold.id}")
        actions[symbol] = acts
    where = table.path if table.path.startswith("<") else str(Path(table.path).resolve())
    return Evaluation(plans, actions, fingerprint, {"path": where, "sha256": table.sha256}, config)


def resolve_fold_start(config: RunConfig) -> RunConfig:
    """``config`` with its fold start decided: ``carry`` unless set (`walkforward.fold_carry`)."""
    import dataclasses

    return config if config.fold_start is not None else dataclasses.replace(config, fold_start=DEFAULT_FOLD_START)


def evaluate_segment(bars, actions: np.ndarray, fold: dict, config: RunConfig, *, bars_per_year: float,
                     data_hash: str, tests=None):
    """One fold's test segment: ``(record, sim, decisions)`` with ``record`` the result.json
    content (`walkforward.fold_evidence.segment_record` plus the source) and ``sim`` the
    segment's `SimResult`. ``tests``: every fold's test range in order; with ``fold_start =
    "carry"`` (the default) the fold continues the account of the folds before it
    (`walkforward.fold_carry`), with ``"flat"`` (or without ``tests``) it starts flat."""
    from backtest.simulator import simulate
    from walkforward import fold_carry

    sim_config = config.sim_config(bars.asset_class)
    test = range(*fold["test"])
    decisions = np.ascontiguousarray(actions[test.start:test.stop], dtype=np.int64)
    carry = resolve_fold_start(config).fold_start == "carry" and tests is not None
    if carry:
        tests = [range(t.start, t.stop) for t in tests]
        k = tests.index(test)
        sim, account = fold_carry.carried_segment(bars, sim_config, actions, tests, k)
        carried = fold_carry.carried_baselines(bars, sim_config, actions, tests, k, account, sim.initial_equity)
        costs = fold_evidence.cost_sensitivity(lambda m: fold_carry.carried_segment(
            bars, fold_evidence.scaled_config(sim_config, bars.asset_class, m), actions, tests, k)[0])
    else:
        sim = simulate(bars, decisions, sim_config, start=test.start, close_at_end=True)
        carried = None
        costs = fold_evidence.cost_sensitivity(lambda m: simulate(
            bars, decisions, fold_evidence.scaled_config(sim_config, bars.asset_class, m), start=test.start,
            close_at_end=True))
    base = fold_evidence.baselines(bars, sim_config, test, sim, decisions, seed=config.seed, fold_id=int(fold["id"]),
                                   n_random_seeds=config.n_random_seeds, null_draws=config.null_draws,
                                   carried=carried)
    meanings = sim_config.account.action_space.meanings
    record = fold_evidence.segment_record(fold, bars, sim, base, meanings, bars_per_year, data_hash, costs,
                                          fold_start="carry" if carry else "flat")
    return record, sim, decisions


def run_evaluate(config: RunConfig, actions_path: str | Path, *, force: bool = False, command: str | None = None,
                 progress: bool | None = None, stream=None, ledger=None, trials: int = 0) -> RunOutcome:
    """Evaluate (or resume evaluating) an actions file; see the module doc. ``ledger`` and
    ``trials``: the research ledger, as `walkforward.orchestrator.run_walkforward` takes them."""
    from walkforward import ledger as research_ledger

    trials = research_ledger.check_trials(trials)
    stream = stream if stream is not None else sys.stderr
    progress = (not config.quiet) if progress is None else progress
    t0 = time.perf_counter()
    with discard_on_error(config.out):
        ev = prepare(config, actions_path)
        config = ev.config
        manifest = build_manifest(config, ev.plans, command, fingerprint=ev.fingerprint, kind="evaluate",
                                  actions=ev.source, trial_fingerprint=hashlib.sha256(
                                      f"{config.trial_fingerprint()}|actions:{ev.source['sha256']}".encode()).hexdigest())
        store = open_run(config.out, manifest, force=force)
    from walkforward.config import warn_commission_minimum, warn_few_folds

    warn_few_folds(config)
    warn_commission_minimum(config, (p.bars.asset_class for p in ev.plans.values()))
    todo = [(s, p, f, h) for s, p in ev.plans.items() for f, h in zip(p.folds, p.input_hashes)]
    outcomes, pending = [], []
    for symbol, plan, fold, h in todo:
        if store.is_fold_complete(symbol, fold.id, h):
            outcomes.append(FoldOutcome(symbol, fold.id, True, 0.0, skipped=True))
        else:
            pending.append((symbol, plan, fold, h))
    if not config.quiet:
        print(f"{'resuming' if store.resumed else 'starting'} evaluation in {store.root}: {len(ev.plans)} symbol(s), "
              f"{len(todo)} fold(s), {len(todo) - len(pending)} already complete", file=stream, flush=True)
    bar = None
    if progress and pending:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), desc="folds", unit="fold", file=stream, dynamic_ncols=True)
    try:
        for symbol, plan, fold, h in pending:
            outcomes.append(_evaluate_fold(store, symbol, plan, fold, h, ev, config))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    from reports.html import build_reports

    counted = research_ledger.count_trials(store, ledger=ledger, trials=trials)  # never raises
    build_reports(store.root)
    import json

    summary = json.loads((store.root / "summary.json").read_text(encoding="utf-8"))
    research_ledger.record_run(store, summary, counted)  # never raises
    return RunOutcome(store.root, summary, outcomes, [], time.perf_counter() - t0, store.resumed)


def _evaluate_fold(store: RunStore, symbol: str, plan, fold, input_hash: str, ev: Evaluation,
                   config: RunConfig) -> FoldOutcome:
    t0 = time.perf_counter()
    record, sim, decisions = evaluate_segment(plan.bars, ev.actions[symbol], fold.to_dict(), config,
                                              bars_per_year=plan.bars_per_year, data_hash=plan.data_hash,
                                              tests=[f.test for f in plan.folds])
    fold_evidence.write_fold_files(store, symbol, fold.id, plan.bars, sim, decisions)
    store.mark_fold_complete(symbol, fold.id, input_hash, {**record, "source": {"actions_file": ev.source}})
    pf = record["test"]["pf"]
    return FoldOutcome(symbol, fold.id, True, time.perf_counter() - t0, net_return=sim.net_return,
                       trades=int(len(sim.round_trip_pnl())), pf=pf)


def evaluate_arrays(bars, actions, config: RunConfig | None = None, **settings) -> dict:
    """The symbol summary (metrics, verdict, criteria, per-fold metrics) of decisions given in
    memory. ``bars``: a `Bars` or a one-symbol DataFrame (loaded by `backtest.data.load_bars`);
    ``actions``: one action id per bar (`backtest.actions_file.NO_ACTION`, -1, where there is
    none; every test bar needs one), or a Series/DataFrame as `backtest.actions_file.read_actions`
    takes (a Series named ``position`` holds targets). Same folds, simulator, baselines, metrics
    and verdict as the CLI; nothing is written. ``settings`` are `RunConfig` fields."""
    import pandas as pd

    from backtest.actions_file import NO_ACTION, read_actions, segment_actions
    from backtest.result_files import equity_frame
    from reports.summary import symbol_summary

    config = resolve_fold_start(config or RunConfig(**settings))
    if isinstance(bars, pd.DataFrame):
        from backtest.data import load_bars

        loaded = load_bars(bars, asset_class=None if config.asset_class == "auto" else config.asset_class,
                           keep_extended=config.keep_extended)
        if len(loaded) != 1:
            raise DataError(f"evaluate_arrays: the bars DataFrame holds {len(loaded)} symbols; pass one at a time")
        bars = loaded[0]
    plan = plan_symbols(config, [bars])[bars.symbol]
    if isinstance(actions, (pd.Series, pd.DataFrame)):
        table = read_actions(actions)
        config = for_positions(config, table.kind)
        actions = segment_actions(table, bars, config.account, [fold.test for fold in plan.folds],
                                  carry=config.fold_start == "carry")
    actions = np.asarray(actions, dtype=np.int64)
    if actions.shape != (len(bars),):
        raise DataError(f"evaluate_arrays: {actions.shape} actions for {len(bars)} bars; give one per bar")
    folds = []
    for fold in plan.folds:
        if np.any(actions[fold.test.start:fold.test.stop] == NO_ACTION):
            raise DataError(f"evaluate_arrays: the test segment of fold {fold.id} has bars without an action")
        record, sim, decisions = evaluate_segment(bars, actions, fold.to_dict(), config,
                                                  bars_per_year=plan.bars_per_year, data_hash=plan.data_hash,
                                                  tests=[f.test for f in plan.folds])
        folds.append({**record, "fold": fold.id, "trades": sim.trades_frame(),
                      "equity": equity_frame(bars, sim, decisions)})
    out = symbol_summary(bars.symbol, folds, bars_per_year=plan.bars_per_year,
                         initial_equity=float(folds[0]["initial_equity"]), action_meanings=_meanings(config),
                         thresholds=config.verdict, bootstrap_seed=config.seed)
    out["fold_start"] = config.fold_start
    return out


def frames_to_files(data) -> list[str]:
    """Paths for ``data``: paths as given; a DataFrame (or each value of a ``{symbol: DataFrame}``
    dict, named by its key) written once to a parquet file named by its content, in the
    temporary directory, so a run's manifest hashes and a rerun resumes it like a file."""
    import tempfile

    import pandas as pd

    if isinstance(data, (str, Path, pd.DataFrame)):
        data = (data,)
    items = list(data.items()) if isinstance(data, dict) else [(None, d) for d in data]
    out = []
    for name, item in items:
        if not isinstance(item, pd.DataFrame):
            out.append(str(item))
            continue
        digest = hashlib.sha256(pd.util.hash_pandas_object(item).to_numpy().tobytes()
                                + "|".join(map(str, item.columns)).encode()).hexdigest()[:20]
        folder = Path(tempfile.gettempdir()) / "walkforward-frames" / digest
        path = folder / f"{name or 'DATA'}.parquet"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{path.name}.partial"
            item.to_parquet(partial)
            partial.replace(path)
        out.append(str(path))
    return out


def evaluate(actions, data=(), **settings) -> RunOutcome:
    """Python entry point: ``walkforward.evaluate("actions.csv", "bars.csv", out="runs/e", folds=5)``.

    ``actions``: a path, a DataFrame or a Series (named ``action`` or ``position``);
    ``data``: paths, DataFrames, or a ``{symbol: DataFrame}`` dict (`frames_to_files`).
    ``settings`` are `walkforward.config.RunConfig` fields plus ``config`` (a TOML path),
    ``force``, ``ledger`` (a path, or False) and ``trials``; progress bars are off unless
    ``progress=True``.
    """
    force = bool(settings.pop("force", False))
    progress = bool(settings.pop("progress", False))
    toml = settings.pop("config", None)
    ledger, trials = settings.pop("ledger", None), settings.pop("trials", 0)
    config = RunConfig.from_sources(toml, {**settings, "data": frames_to_files(data) or None,
                                           "out": settings.get("out") or default_out(toml)})
    return run_evaluate(config, actions, force=force, progress=progress, ledger=ledger, trials=trials)


#: How `evaluate` starts test folds when ``fold_start`` is not set (`walkforward.fold_carry`).
DEFAULT_FOLD_START = "carry"

#: Where `evaluate` writes when no --out is given (not runs/latest: a trained run lives there).
DEFAULT_OUT = "runs/evaluate"


def default_out(toml_path) -> str | None:
    """`DEFAULT_OUT` unless the TOML file sets ``out`` (None: keep the file's)."""
    from walkforward.config import load_toml

    return None if toml_path is not None and "out" in load_toml(toml_path) else DEFAULT_OUT

__all__ = ["DEFAULT_FOLD_START", "DEFAULT_OUT", "Evaluation", "resolve_fold_start", "default_out", "evaluate", "evaluate_arrays", "evaluate_segment", "for_positions",
           "frames_to_files", "prepare", "run_evaluate"]
