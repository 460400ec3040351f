"""The walk-forward run: data -> folds per symbol -> fold jobs on an engine -> reports.

`run_walkforward(config)` (and `walkforward.run(...)` for notebooks) does, in order:

1. load the bars (the bundled sample when ``config.data`` is empty) and pick symbols;
2. lay out each symbol's folds (`walkforward.folds.WalkForwardSplit`, warm-up from the
   feature schema) and hash every fold's inputs;
3. open the run directory (`walkforward.store.open_run`): a rerun of the same command
   resumes, a changed config or data is refused unless ``force``;
4. run the folds that are not complete yet (`walkforward.fold_job.run_folds`) on the
   local, process-pool or Ray engine, with progress bars;
5. rebuild ``summary.json`` and the HTML pages (`reports.html.build_reports`).

Bad input fails before anything is written, and leaves no run directory behind.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest.errors import ConfigError
from backtest.timeframes import DAY
from walkforward import faults
from walkforward.config import RunConfig, warn_commission_minimum, warn_few_folds
from walkforward.fold_job import FAILED, FoldOutcome, FoldSpec, run_folds
from walkforward.store import (
    RunStore, data_hash, discard_on_error, fold_input_hash, make_manifest, open_run, safe_name,
)

FAILURES = "failures.json"
REWARD_HORIZON = 1  # bars a training reward looks ahead (models.reward); sets the minimum embargo


@dataclass
class RunOutcome:
    """What a finished run returns: where it is, the summary and what happened to each fold."""

    run_dir: Path
    summary: dict | None  # summary.json (None when no fold completed)
    outcomes: list[FoldOutcome] = field(default_factory=list)  # folds run now (skipped ones included)
    failures: list[dict] = field(default_factory=list)  # failed.json records of this run's folds
    seconds: float = 0.0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and self.summary is not None


@dataclass(frozen=True)
class SymbolPlan:
    """One symbol's bars, folds and fold input hashes."""

    bars: Any
    data_hash: str
    folds: list  # walkforward.folds.Fold
    input_hashes: list[str]
    bars_per_year: float


# ---- inputs ---------------------------------------------------------------------------
def load_series(config: RunConfig) -> list:
    """The run's bars: files/directories of ``config.data``, or the bundled sample."""
    asset_class = None if config.asset_class == "auto" else config.asset_class
    if not config.data:
        from backtest.sample_data import sample_bars

        series = sample_bars(seed=0)
        if asset_class not in (None, "equity"):
            raise ConfigError(f"--asset-class {asset_class} does not fit the bundled sample (equities); "
                              f"give DATA files of that asset class")
    else:
        from backtest.data import load_bars

        series = load_bars(list(config.data), asset_class=asset_class, keep_extended=config.keep_extended,
                           date_format=config.date_format)
    if config.symbols is not None:
        have = {b.symbol: b for b in series}
        missing = [s for s in config.symbols if s not in have]
        if missing:
            raise ConfigError(f"--symbols: {missing[0]!r} is not in the data; available: {', '.join(sorted(have))}")
        series = [have[s] for s in config.symbols]
    return series


def bars_per_year(bars) -> float:
    """Bars per year of the symbol's calendar, measured as the data's bar density.

    For complete data this is the calendar's figure (about 252 sessions x bars per session
    for XNYS equities, 365.25 x 24 h / timeframe for crypto), and it stays right for
    calendars we do not hard-code.
    """
    ns = bars.timestamps_ns
    span_days = (int(ns[-1]) - int(ns[0]) + bars.timeframe.value) / 86_400e9
    return float(len(bars) / (span_days / 365.25)) if span_days > 0 else float(len(bars))


def plan_symbols(config: RunConfig, series: list, fingerprint: str | None = None) -> dict[str, SymbolPlan]:
    """Folds and input hashes per symbol; impossible layouts raise `ConfigError` up front.

    ``fingerprint`` replaces the config's own in the fold input hashes (`walkforward evaluate`
    mixes in its actions file)."""
    from walkforward.folds import WalkForwardSplit

    schema = config.schema()
    splitter = WalkForwardSplit(n_folds=config.folds, scheme=config.scheme, train_size=config.train_size,
                                val_size=config.val_size, test_size=config.test_size, embargo=config.embargo,
                                window=schema.window, reward_horizon=REWARD_HORIZON, min_start=schema.warmup_bars)
    fingerprint = fingerprint or config.fingerprint()
    plans: dict[str, SymbolPlan] = {}
    for bars in series:
        try:
            folds = splitter.folds(bars.index)
        except ConfigError as exc:
            raise ConfigError(f"{bars.symbol}: {exc}") from None
        dh = data_hash(bars)
        hashes, previous = [], None
        for f in folds:
            extra = {"schema": schema.version}
            if config.warm_start:
                extra["previous_fold"] = previous  # warm start: a fold depends on the one before
            previous = fold_input_hash(fingerprint, dh, f, **extra)
            hashes.append(previous)
        plans[bars.symbol] = SymbolPlan(bars, dh, folds, hashes, bars_per_year(bars))
    return plans


def build_manifest(config: RunConfig, plans: dict[str, SymbolPlan], command: str | None, **extra) -> dict:
    symbols = []
    for symbol, p in plans.items():
        b = p.bars
        symbols.append({
            "symbol": symbol, "dir": safe_name(symbol), "bars_per_year": p.bars_per_year,
            "asset_class": b.asset_class, "timeframe": b.timeframe_label,
            "data": {"source": getattr(b, "source", None) or ("bundled sample" if not config.data else None),
                     "sha256": p.data_hash, "bars": len(b), "start": b.index[0].isoformat(),
                     "end": b.index[-1].isoformat()},
            "folds": [f.to_dict() for f in p.folds],
            # the test period by time span (first and last test bar): the ledger's "same data"
            "test_span": [b.index[min(f.test.start for f in p.folds)].isoformat(),
                          b.index[max(f.test.stop for f in p.folds) - 1].isoformat()] if p.folds else None,
        })
    return make_manifest(config, {s: p.data_hash for s, p in plans.items()}, symbols=symbols,
                         initial_equity=float(config.account.initial_equity),
                         action_meanings=list(config.account.action_space.meanings), configurations_tried=1,
                         schema_version=config.schema().version, command=command, **extra)


def run_resolution(config: RunConfig):
    """What ``auto`` becomes for this run (`walkforward.resolution`): the one recorded in the
    run directory when this is a rerun of the same config (refused when this machine cannot
    honour it), else this machine's."""
    from walkforward.resolution import MANIFEST_KEY, Resolution, check_honoured, resolve
    from walkforward.store import RunStore

    try:
        existing = RunStore(config.out).read_manifest()
    except (OSError, ValueError):
        existing = None
    if isinstance(existing, dict) and existing.get("base_fingerprint") == config.fingerprint() \
            and existing.get(MANIFEST_KEY) is not None:
        return check_honoured(Resolution.from_dict(existing[MANIFEST_KEY]), config)
    return resolve(config)


def run_fingerprint(config: RunConfig, resolution) -> str:
    """The run's identity: the config's settings that change results and the resolution."""
    from walkforward.store import canonical_hash

    return canonical_hash({"config": config.fingerprint(), "resolution": resolution.identity()})


def trial_fingerprint(config: RunConfig, resolution) -> str:
    """The run's identity as a trial in the research ledger: `run_fingerprint` without the
    settings that cannot change the returns (`RunConfig.trial_fingerprint`)."""
    from walkforward.store import canonical_hash

    return canonical_hash({"config": config.trial_fingerprint(), "resolution": resolution.identity()})


# ---- the run --------------------------------------------------------------------------
def run_walkforward(config: RunConfig, *, force: bool = False, command: str | None = None,
                    progress: bool | None = None, stream=None, ledger=None, trials: int = 0) -> RunOutcome:
    """Run (or resume) a walk-forward job; see the module doc. Raises `UserError` on bad input.

    ``ledger`` (a path; False = off; None = ``$WALKFORWARD_LEDGER`` or the default) and
    ``trials`` (declared elsewhere) set the deflated Sharpe's trial count (`walkforward.ledger`);
    they change no fold result, so they are not part of the config."""
    from walkforward import ledger as research_ledger

    trials = research_ledger.check_trials(trials)
    if config.fold_start == "carry":
        raise ConfigError("fold_start='carry' is for `walkforward evaluate`; `walkforward run` trains a policy per "
                          "fold and starts each test fold flat; remove fold_start or set it to 'flat'")
    stream = stream if stream is not None else sys.stderr
    progress = (not config.quiet) if progress is None else progress
    t0 = time.perf_counter()
    with discard_on_error(config.out):
        resolution = run_resolution(config)
        device = resolution.device
        series = load_series(config)
        fingerprint = run_fingerprint(config, resolution)
        plans = plan_symbols(config, series, fingerprint=fingerprint)
        from walkforward.engines import make_engine

        engine = make_engine(config.engine, config.n_workers, config.ray_address,
                             num_gpus_per_task=1.0 if device.startswith("cuda") and config.engine == "ray" else 0.0)
        manifest = build_manifest(config, plans, command, fingerprint=fingerprint,
                                  base_fingerprint=config.fingerprint(), resolution=resolution.to_dict(),
                                  trial_fingerprint=trial_fingerprint(config, resolution))
        store = open_run(config.out, manifest, force=force)
        warn_few_folds(config)  # the input is valid: said before any training
        warn_commission_minimum(config, (p.bars.asset_class for p in plans.values()))
        skipped, batches = _pending_work(config, store, plans, resolution, progress and config.engine == "local")
        _say(stream, config, f"{'resuming' if store.resumed else 'starting'} run in {store.root}: "
                             f"{len(plans)} symbol(s), {sum(len(p.folds) for p in plans.values())} fold(s), "
                             f"{len(skipped)} already complete, device {device}, engine {config.engine}")
        if config.mode == "smoke" and batches:
            _say(stream, config, "mode smoke: a quick demo of the pipeline, too small to judge a market (a DROP "
                                 "says more about the budget than the market); --mode cpu trains one that can learn")
        outcomes = skipped + _execute(engine, batches, progress, stream)
    failures = _collect_failures(store, plans)
    _write_failures(store, failures)
    summary = None
    if any(o.ok for o in outcomes) or store.completed_folds():
        from reports.html import build_reports

        faults.kill_here("report_write")
        counted = research_ledger.count_trials(store, ledger=ledger, trials=trials)  # never raises
        build_reports(store.root)
        summary = json.loads((store.root / "summary.json").read_text(encoding="utf-8"))
        research_ledger.record_run(store, summary, counted)  # never raises
    return RunOutcome(store.root, summary, outcomes, failures, time.perf_counter() - t0, store.resumed)


def _pending_work(config: RunConfig, store: RunStore, plans: dict[str, SymbolPlan], resolution,
                  show_progress: bool) -> tuple[list[FoldOutcome], list[list[FoldSpec]]]:
    """Skip complete folds; group the rest into engine tasks (one per fold, or per symbol
    under warm start, whose folds must run in order), each fold with its typed configs."""
    from backtest.config_codec import to_plain

    schema = config.schema()
    evidence = {"seed": config.seed, "n_random_seeds": config.n_random_seeds, "null_draws": config.null_draws}
    skipped: list[FoldOutcome] = []
    batches: list[list[FoldSpec]] = []
    for symbol, p in plans.items():
        sim_config = config.sim_config(p.bars.asset_class)
        pending = []
        for k, (fold, h) in enumerate(zip(p.folds, p.input_hashes)):
            if store.is_fold_complete(symbol, fold.id, h):
                skipped.append(FoldOutcome(symbol, fold.id, True, 0.0, skipped=True))
                continue
            prev = None
            if config.warm_start and k > 0:
                prev = str(store.fold_dir(symbol, p.folds[k - 1].id) / "checkpoint.pt")
            world = {"symbol": symbol, "asset_class": p.bars.asset_class, "account": to_plain(sim_config.account),
                     "friction": to_plain(sim_config.friction), "pdt": sim_config.pdt, "seed": sim_config.seed,
                     "reward": to_plain(config.reward), "window": config.window,
                     "resolution": resolution.to_dict(), "segments": fold.to_dict(), "input_hash": h}
            pending.append(FoldSpec(
                str(store.root), symbol, p.bars, p.data_hash, fold.to_dict(), h, sim_config=sim_config,
                train_config=resolution.train_config(seed=config.seed * 1000 + fold.id,
                                                     intraday=p.bars.timeframe < DAY), reward=config.reward,
                schema=schema, device=resolution.device, bars_per_year=p.bars_per_year, evidence=evidence,
                world=world, threads=config.threads, verbose=config.verbose, warm_start_from=prev,
                show_progress=show_progress))
        if config.warm_start and pending:
            batches.append(pending)
        else:
            batches.extend([s] for s in pending)
    return skipped, batches


def _execute(engine, batches: list[list[FoldSpec]], progress: bool, stream) -> list[FoldOutcome]:
    """Run the batches on the engine, one progress bar over all folds."""
    from walkforward.engines import Task

    if not batches:
        return []
    tasks = [Task(run_folds, (b,), name=f"{b[0].symbol}/fold_{b[0].fold['id']}"
                  + (f"..{b[-1].fold['id']}" if len(b) > 1 else "")) for b in batches]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(b) for b in batches), desc="folds", unit="fold", file=stream, dynamic_ncols=True)

    def on_done(result, n_done: int, n_total: int) -> None:
        if bar is not None:
            bar.update(len(batches[result.index]))
            if result.ok:
                last = result.value[-1]
                bar.set_postfix_str(f"{last.symbol} fold {last.fold}: "
                                    + (f"net {last.net_return:+.2%}, {last.trades} trades" if last.ok else "FAILED"))

    try:
        results = engine.run(tasks, on_done)
    finally:
        if bar is not None:
            bar.close()
    outcomes: list[FoldOutcome] = []
    for batch, res in zip(batches, results):
        if res.ok:
            outcomes.extend(res.value)
            continue
        from walkforward.fold_job import record_failure

        for spec in batch:  # the worker itself died (not a fold error): record every fold of the task
            record_failure(spec, res.error or "worker failed", res.traceback)
            outcomes.append(FoldOutcome(spec.symbol, int(spec.fold["id"]), False, res.seconds, error=res.error))
    return outcomes


def _collect_failures(store: RunStore, plans: dict[str, SymbolPlan]) -> list[dict]:
    """``failed.json`` of folds that are still not complete under the current inputs."""
    out = []
    for symbol, p in plans.items():
        for fold, h in zip(p.folds, p.input_hashes):
            path = store.fold_dir(symbol, fold.id) / FAILED
            if path.exists() and not store.is_fold_complete(symbol, fold.id, h):
                try:
                    rec = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    rec = {"symbol": symbol, "fold": fold.id, "error": "failed (unreadable failed.json)"}
                out.append({k: rec.get(k) for k in ("symbol", "fold", "error")})
    return out


def _write_failures(store: RunStore, failures: list[dict]) -> None:
    path = store.root / FAILURES
    if failures:
        store.write_json(FAILURES, failures)
    else:
        path.unlink(missing_ok=True)


def _say(stream, config: RunConfig, text: str) -> None:
    if not config.quiet:
        print(text, file=stream, flush=True)


# ---- terminal summary -------------------------------------------------------------------
def summary_table(summary: dict | None, criteria: bool = False) -> str:
    """Per symbol: PF, skew, consistency, net return, drawdown, trades, the excess over buy and
    hold at the position cap, the timing-null and matched-buy-and-hold p-values, the deflated
    Sharpe and the verdict; with ``criteria``, every verdict criterion (value, threshold,
    pass/fail) under the table."""
    from reports.metrics import format_value

    if not summary or not summary.get("symbols"):
        return "no completed folds: nothing to summarise"
    caps = {s.get("metrics", {}).get("buy_and_hold_cap") for s in summary["symbols"]}
    cap = caps.pop() if len(caps) == 1 else None
    bh_head = f"vs B&H@{cap:.0%}" if isinstance(cap, float) else "vs B&H@cap"
    head = f"{'symbol':<12} {'folds':>5} {'PF':>7} {'skew':>7} {'consist.':>8} {'net ret':>9} {'max DD':>8} " \
           f"{'trades':>6} {bh_head:>10} {'null p':>7} {'B&H~ p':>7} {'DSR':>6} {'BE cost':>7}  verdict"
    lines = [head, "-" * len(head)]
    for s in summary["symbols"]:
        m = s.get("metrics", {})
        bh = m.get("buy_and_hold_net_return")
        net = m.get("net_return")
        vs = None if bh is None or net is None else net - bh
        lines.append(
            f"{s['symbol'][:12]:<12} {m.get('folds', len(s.get('fold_metrics', []))):>5} "
            f"{format_value(s.get('pf')):>7} {format_value(s.get('skew')):>7} "
            f"{format_value(s.get('consistency'), 'pct'):>8} {format_value(net, 'pct'):>9} "
            f"{format_value(m.get('max_drawdown'), 'pct'):>8} {format_value(m.get('trades'), 'int'):>6} "
            f"{format_value(vs, 'pct'):>10} {format_value(m.get('timing_null_p')):>7} "
            f"{format_value(m.get('excess_p')):>7} {format_value(m.get('dsr')):>6} "
            f"{breakeven_text(m.get('cost_sensitivity')):>7}  {s.get('verdict')}")
    lines.append("null p: timing-null p-value (own exposure moved in time); B&H~ p: p-value of the excess over "
                 "buy and hold matched to the average exposure; DSR: deflated Sharpe; BE cost: the multiple of "
                 "all costs at which net P&L reaches zero")
    if criteria:
        for s in summary["symbols"]:
            lines.append(f"\n{s['symbol']}: {s.get('verdict')}")
            for row in s.get("criteria", []):
                lines.append(f"  {row['level']:<8} {'ok  ' if row['passed'] else 'FAIL'} {row['text']}")
            lines.extend(training_lines(s.get("training")))
    else:  # the signs that training did not learn are printed even then, beside the verdict
        for s in summary["symbols"]:
            lines.extend(f"{s['symbol']}: {s.get('verdict')}; NOT LEARNED? {n}"
                         for n in (s.get("training") or {}).get("notes") or [])
    return "\n".join(lines)


def training_lines(training: dict | None) -> list[str]:
    """Under the verdict: the reward, each fold's train / validation / test PF, and in words
    the signs that training did not learn (`reports.summary.training_summary`)."""
    from reports.metrics import format_value

    if not training:
        return []
    out = [f"  training: mode {training.get('mode')}, reward {training.get('reward')}"]
    for f in training.get("folds") or []:
        out.append(f"    fold {f.get('fold')}: PF train {format_value((f.get('train') or {}).get('pf'))}, "
                   f"val {format_value((f.get('val') or {}).get('pf'))}, test "
                   f"{format_value((f.get('test') or {}).get('pf'))}")
    out.extend(f"  NOT LEARNED? {n}" for n in training.get("notes") or [])
    return out


def breakeven_text(costs) -> str:
    """The breakeven cost multiple as every report shows it (`reports.metrics.format_breakeven`):
    ``2.31x``, ``>8x``, ``0.00x`` or ``undefined``."""
    from reports.metrics import format_breakeven

    if not costs:
        return format_breakeven(None)
    return format_breakeven(costs.get("breakeven_multiple"), costs.get("breakeven_above"))


def run(data=(), **settings) -> RunOutcome:
    """Python entry point (DESIGN 3.9): ``walkforward.run("bars.csv", out="runs/x", folds=3)``.

    ``settings`` are `walkforward.config.RunConfig` fields, plus ``config`` (a TOML path)
    and ``force``; progress bars are off unless ``progress=True``; ``ledger`` (a path, or
    False) and ``trials`` as `run_walkforward` takes them.
    """
    force = bool(settings.pop("force", False))
    progress = bool(settings.pop("progress", False))
    toml = settings.pop("config", None)
    ledger, trials = settings.pop("ledger", None), settings.pop("trials", 0)
    data = (data,) if isinstance(data, (str, Path)) else tuple(data)
    overrides = {**settings, "data": [str(d) for d in data] or None}
    config = RunConfig.from_sources(toml, overrides)
    return run_walkforward(config, force=force, progress=progress, ledger=ledger, trials=trials)


__all__ = ["RunOutcome", "run", "run_walkforward", "summary_table", "load_series", "plan_symbols", "bars_per_year"]
