"""One walk-forward fold, start to finish: train, select, test, baselines, write.

`run_fold(spec)` is what an engine runs for one symbol and fold (a module-level
function with plain, picklable arguments, so the process pool and Ray can ship it):

1. features of the whole series, normaliser fitted on the fold's training rows only;
2. a `models.env.TradingEnv` over the training segment and a `models.ppo.PPOTrainer`
   whose validation callback backtests the validation segment through the simulator;
3. the best validation checkpoint is copied to ``fold_<k>/checkpoint.pt`` and loaded
   back from that file (``weights_only``) for the test: the model tested is the file
   on disk, not an object that happened to be in memory;
4. the test segment is backtested with `models.fast_runner.run_policy`, again with every cost
   scaled (`walkforward.fold_evidence.cost_sensitivity`: the model re-decides on its own
   account), then the baselines of `walkforward.fold_evidence` (buy and hold at the cap and
   exposure-matched, flat, the random policy with the model's action frequencies, the
   timing null);
5. the selected checkpoint is also backtested on its own training and validation segments:
   PF, net return and Sharpe of each beside the test's (``figures``), and the signs that
   training did not learn in words (``learning_notes``, `walkforward.learning_check`);
6. ``trades.csv``, ``equity.csv``, ``train_log.jsonl`` and, last, ``result.json``
   (the completion marker, `walkforward.store.RunStore.mark_fold_complete`).

A fold interrupted before its marker was written resumes its training on the rerun from
the state saved at its last validation point (``training/last.pt``: network, both
optimisers, schedule position, the trainer's and the env's generators, the env's accounts
and episodes, the logs; `models.ppo.PPOTrainer`), so on a CPU the results equal an
uninterrupted run's byte for byte; a state of other inputs (a changed config) is cleared.
Only ``last.pt`` (latest state) and ``best.pt`` (best validation) are kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from walkforward import faults, fold_evidence

TRAINING_DIR = "training"  # per-fold scratch directory (last.pt, best.pt), removed on completion
CHECKPOINT = "checkpoint.pt"
TRAIN_LOG = "train_log.jsonl"
FAILED = "failed.json"
#: result.json training-log key (what the reports' training chart reads) -> trainer history key.
_LOG_KEYS = {"update": "update", "global_step": "global_step", "policy_loss": "pg_loss", "value_loss": "v_loss",
             "entropy": "entropy", "explained_variance": "explained_variance", "approx_kl": "approx_kl",
             "clip_fraction": "clip_frac", "steps_per_s": "steps_per_s", "reward_mean": "reward_mean"}
_VAL_KEYS = ("update", "global_step", "pf", "net_return", "trades", "hold_share", "score")


@dataclass(frozen=True)
class FoldSpec:
    """Everything one fold needs, typed and picklable (the process pool and Ray ship it)."""

    run_dir: str  # the run directory (walkforward.store layout)
    symbol: str  # real symbol name (directory names come from walkforward.store.safe_name)
    bars: Any  # backtest.bars.Bars of the whole series
    data_hash: str  # walkforward.store.data_hash(bars)
    fold: dict  # walkforward.folds.Fold.to_dict()
    input_hash: str  # walkforward.store.fold_input_hash(...) of this fold
    sim_config: Any  # backtest.simulator.SimConfig: account, friction of the symbol's class, PDT, seed
    train_config: Any  # models.config.TrainConfig: the run's resolution, this fold's seed, intraday settings
    reward: Any  # models.reward.RewardConfig
    schema: Any  # backtest.features.FeatureSchema of the run
    device: str  # resolved torch device ("cpu", "cuda", "cuda:1")
    bars_per_year: float  # annualisation of the symbol's calendar
    evidence: dict  # baseline settings: seed, n_random_seeds, null_draws
    world: dict  # what the checkpoint records of the world it was trained in (DESIGN 3.6)
    threads: int = 1  # torch CPU threads for the fold
    verbose: bool = False  # print every training update
    warm_start_from: str | None = None  # checkpoint of the previous fold (warm start), if any
    show_progress: bool = False  # a training progress bar on the terminal (local engine only)


@dataclass
class FoldOutcome:
    """What the orchestrator prints and tallies for a finished (or failed) fold."""

    symbol: str
    fold: int
    ok: bool
    seconds: float
    net_return: float | None = None
    trades: int | None = None
    pf: float | None = None
    error: str | None = None
    skipped: bool = False  # already complete in the run store
    extra: dict = field(default_factory=dict)


def episode_length(train_bars: int) -> int:
    """Training episode length: 256 decisions, or half the training segment when shorter."""
    return int(max(8, min(256, train_bars // 2)))


# ---- policy evaluation ----------------------------------------------------------------
def evaluate(policy, builder, bars, sim_config, start: int, stop: int):
    """Backtest ``policy`` over decisions ``[start, stop)``; positions closed at the end."""
    from models.fast_runner import run_policy

    return run_policy(policy, builder, bars, sim_config, start, stop, close_at_end=True)


def validation_metrics(run) -> dict:
    """The dict `models.ppo.validation_score` ranks checkpoints by: its trade count and PF are
    over exit fills, as when the selection rule was fixed (a ranking rule, not a figure the
    reports show; changing it would change which checkpoint every trained run selects)."""
    from backtest.trades import profit_factor

    sim = run.sim
    return {"net_return": sim.net_return, "trades": int(len(sim.trades)), "pf": profit_factor(sim.trades["net_pnl"]),
            "hold_share": float(np.mean(run.actions == 0)) if len(run.actions) else 1.0}


# ---- the fold ------------------------------------------------------------------------
def run_fold(spec: FoldSpec) -> FoldOutcome:
    """Train, select, test and record one fold (see the module doc)."""
    import torch

    # CPU float reductions are split by thread count, so the trained weights depend on it:
    # the run's fixed count in every engine (a Ray worker defaults to 1 thread, this
    # process to the cores) is what makes local, process and Ray runs identical.
    previous = torch.get_num_threads()
    torch.set_num_threads(int(spec.threads))
    try:
        return _run_fold(spec)
    finally:
        torch.set_num_threads(previous)


def _run_fold(spec: FoldSpec) -> FoldOutcome:
    from backtest.features import compute_features
    from backtest.normaliser import Normaliser
    from backtest.observation import BacktestObservationBuilder
    from walkforward.store import RunStore

    t0 = time.perf_counter()
    store = RunStore(spec.run_dir)
    fold_id = int(spec.fold["id"])
    fold_dir = store.fold_dir(spec.symbol, fold_id)
    scratch = fold_dir / TRAINING_DIR
    resume = _resumable(scratch, spec.input_hash)
    if not resume:  # nothing saved for these inputs: the fold starts from scratch
        shutil.rmtree(scratch, ignore_errors=True)
        (fold_dir / TRAIN_LOG).unlink(missing_ok=True)
    for torn in [*fold_dir.glob(".*.tmp"), *scratch.glob(".*.tmp")]:  # writes cut short by a crash
        torn.unlink(missing_ok=True)
    (fold_dir / FAILED).unlink(missing_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)

    bars, schema, sim_config = spec.bars, spec.schema, spec.sim_config
    train, val, test = (range(*spec.fold[k]) for k in ("train", "val", "test"))
    raw = compute_features(bars, schema)
    normaliser = Normaliser.fit(raw, train.start, train.stop)
    builder = BacktestObservationBuilder(raw, schema, normaliser, sim_config.account)
    meanings = list(sim_config.account.action_space.meanings)

    trainer, result = _train(spec, schema, normaliser, builder, sim_config, meanings, train, val, scratch, fold_dir,
                             resume)
    best = result.best_path if result.best_path is not None and Path(result.best_path).exists() else result.last_path
    _copy_atomic(best, fold_dir / CHECKPOINT, where=f"{spec.symbol}/{fold_id}")

    from models.policy import load_policy

    policy = load_policy(fold_dir / CHECKPOINT, device=spec.device, expected_schema=schema, expected_actions=meanings)
    run = evaluate(policy, builder, bars, sim_config, test.start, test.stop)
    costs = fold_evidence.cost_sensitivity(lambda m: evaluate(
        policy, builder, bars, fold_evidence.scaled_config(sim_config, bars.asset_class, m), test.start, test.stop).sim)
    base = fold_evidence.baselines(bars, sim_config, test, run.sim, run.actions, fold_id=fold_id, **spec.evidence)

    fold_evidence.write_fold_files(store, spec.symbol, fold_id, bars, run.sim, run.actions)
    record = _result_record(spec, bars, run, trainer, result, base, meanings, costs)
    record.update(_learning_record(spec, policy, builder, run, record))
    store.mark_fold_complete(spec.symbol, fold_id, spec.input_hash, record)
    shutil.rmtree(scratch, ignore_errors=True)
    return FoldOutcome(spec.symbol, fold_id, True, time.perf_counter() - t0, net_return=run.sim.net_return,
                       trades=int(len(run.sim.round_trip_pnl())), pf=run.sim.profit_factor())


def _train(spec, schema, normaliser, builder, sim_config, meanings, train, val, scratch, fold_dir, resume):
    """PPO on the training segment; validation backtests pick the best checkpoint. With
    ``resume`` it continues from the training state saved at the last validation point."""
    import torch

    from models.augment import training_env
    from models.ppo import PPOTrainer

    device = torch.device(spec.device)
    fold_id = int(spec.fold["id"])
    where = f"{spec.symbol}/{fold_id}"
    train_cfg = spec.train_config
    env = training_env(builder.features, spec.bars, schema, normaliser, (train.start, train.stop),
                       train_cfg.augment_paths, train_cfg.augment_block, n_envs=train_cfg.n_envs,
                       seed=train_cfg.seed, sim_config=sim_config, episode_len=episode_length(len(train)),
                       device=device, reward=spec.reward)
    if faults.armed("nan_rewards", where):
        env = _NaNRewards(env)

    def validate(policy) -> dict:
        return validation_metrics(evaluate(policy, builder, spec.bars, sim_config, val.start, val.stop))

    bar = _ProgressBar(f"{spec.symbol} fold {fold_id}", train_cfg.n_updates) if spec.show_progress else None

    def on_update(rec: dict) -> None:
        if bar is not None:
            bar.update(rec)
        faults.kill_here("train_update", where)

    trainer = PPOTrainer(env, schema, train_cfg, device=device, validate=validate, run_dir=scratch,
                         action_meanings=meanings, normaliser=normaliser, data_hash=spec.data_hash,
                         fold_id=f"{spec.symbol}/fold_{fold_id}", progress=on_update, world=spec.world,
                         verbose=2 if spec.verbose else 0, log_path=fold_dir / TRAIN_LOG)
    if spec.warm_start_from and not resume:
        _warm_start(trainer, spec.warm_start_from)
    try:
        result = trainer.train(resume=resume)  # raises models.ppo.TrainingDiverged on a NaN/inf loss
    finally:
        if bar is not None:
            bar.close()
    return trainer, result


class _NaNRewards:
    """Fault injection (`walkforward.faults`, point ``nan_rewards``): the env's rewards become
    NaN, so the first update's losses do, as a diverging fold's would."""

    def __init__(self, env) -> None:
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, actions):
        obs, reward, done, info = self._env.step(actions)
        return obs, reward * float("nan"), done, info


def _resumable(scratch: Path, input_hash: str) -> bool:
    """Whether ``scratch`` holds a loadable training state of a fold with these inputs (saved
    at a validation point, or on Ctrl+C): then the fold resumes there instead of restarting."""
    from backtest.errors import UserError
    from models.checkpoint import load_checkpoint

    path = scratch / "last.pt"
    if not path.is_file():
        return False
    try:
        data = load_checkpoint(path)
    except UserError:  # unreadable: start again rather than trust it
        return False
    return (data.get("world") or {}).get("input_hash") == input_hash and bool(data.get("training_state"))


def _warm_start(trainer, path: str) -> None:
    """Initialise the network from the previous fold's checkpoint (same architecture)."""
    from models.checkpoint import check_architecture, load_checkpoint

    data = load_checkpoint(path, map_location="cpu")
    check_architecture(data, trainer.net, trainer.schema)
    trainer.net.load_state_dict(data["network"]["state_dict"])


def _result_record(spec, bars, run, trainer, result, baselines, meanings, costs) -> dict:
    """result.json: the segment record every fold has, plus what training did."""
    return {
        **fold_evidence.segment_record(spec.fold, bars, run.sim, baselines, meanings, spec.bars_per_year,
                                       spec.data_hash, costs),
        "training_log": [{k: h.get(source) for k, source in _LOG_KEYS.items()} for h in result.history],
        "validation_history": [{k: v.get(k) for k in _VAL_KEYS} for v in result.validation_history],
        "best_validation": {k: (result.best_validation or {}).get(k) for k in _VAL_KEYS},
        "global_step": int(result.global_step), "train_config": trainer.cfg.to_dict(),
        "checkpoint": CHECKPOINT, "warm_start_from": spec.warm_start_from,
    }


def _learning_record(spec, policy, builder, run, record: dict) -> dict:
    """The selected checkpoint backtested on its own training and validation segments beside
    the test (``figures``), and the plain-words signs that training did not learn
    (``learning_notes``, `walkforward.learning_check`)."""
    from walkforward.learning_check import diagnose, segment_figures

    bpy = float(spec.bars_per_year)
    figures = {name: segment_figures(evaluate(policy, builder, spec.bars, spec.sim_config, *spec.fold[name]).sim, bpy)
               for name in ("train", "val")}
    figures["test"] = segment_figures(run.sim, bpy)
    out = {"figures": figures, "reward": spec.reward.describe()}
    out["learning_notes"] = diagnose({**record, **out})
    return out


def record_failure(spec: FoldSpec, error: str, traceback_text: str | None) -> None:
    """Write ``fold_<k>/failed.json`` (reason and traceback); the fold is retried on rerun."""
    from walkforward.store import RunStore

    store = RunStore(spec.run_dir)
    fold_id = int(spec.fold["id"])
    rel = Path(store.fold_dir(spec.symbol, fold_id)).relative_to(store.root)
    store.write_json(rel / FAILED, {"symbol": spec.symbol, "fold": fold_id, "error": error,
                                    "traceback": traceback_text, "input_hash": spec.input_hash})
    shutil.rmtree(store.root / rel / TRAINING_DIR, ignore_errors=True)


def run_folds(specs: list[FoldSpec]) -> list[FoldOutcome]:
    """Run folds in order (one symbol's folds under warm start); a failing fold is recorded
    with its reason and the next one still runs (warm start then falls back to fresh)."""
    import traceback

    outcomes = []
    previous_ok: str | None = None
    for i, spec in enumerate(specs):
        if i > 0 and spec.warm_start_from is not None:
            spec = dataclasses.replace(spec, warm_start_from=previous_ok)
        t0 = time.perf_counter()
        try:
            outcome = run_fold(spec)
        except Exception as exc:  # noqa: BLE001 - a failed fold is recorded, the run goes on
            error = f"{type(exc).__name__}: {exc}"
            record_failure(spec, error, traceback.format_exc())
            outcome = FoldOutcome(spec.symbol, int(spec.fold["id"]), False, time.perf_counter() - t0, error=error)
            previous_ok = None
        else:
            previous_ok = str(Path(spec.run_dir) / _rel_fold(spec) / CHECKPOINT)
        outcomes.append(outcome)
    return outcomes


def _rel_fold(spec: FoldSpec) -> Path:
    from walkforward.store import safe_name

    return Path(safe_name(spec.symbol)) / f"fold_{int(spec.fold['id'])}"


def _copy_atomic(src, dst: Path, where: str | None = None) -> None:
    from backtest.result_files import write_bytes

    if src is None or not Path(src).exists():
        raise RuntimeError(f"training wrote no checkpoint ({src}); cannot test this fold")
    data = Path(src).read_bytes()
    if faults.armed("checkpoint_write", where):  # a crash half-way through the write
        (dst.parent / f".{dst.name}.partial.tmp").write_bytes(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    write_bytes(dst, data)


class _ProgressBar:
    """Training progress (updates, ETA, reward, steps/s) as a tqdm bar on stderr."""

    def __init__(self, label: str, total: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=f"  train {label}", unit="upd", leave=False, dynamic_ncols=True)

    def update(self, rec: dict) -> None:
        self._bar.update(1)
        self._bar.set_postfix(reward=f"{rec.get('reward_mean', float('nan')):+.4f}",
                              sps=f"{rec.get('steps_per_s', 0):,.0f}", refresh=False)

    def close(self) -> None:
        self._bar.close()


__all__ = ["FoldSpec", "FoldOutcome", "run_fold", "run_folds", "evaluate", "validation_metrics", "record_failure"]
