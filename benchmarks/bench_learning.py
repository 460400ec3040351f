"""The trainer's power, measured like the verdict's calibration (issue 24).

Per world (`benchmarks.learning_worlds`: a planted, tradable edge with a known oracle rule,
or a null) and seed:

- ``walkforward run`` end to end on the world's bars written as a CSV (training, selection,
  test, baselines, verdict), in a subprocess exactly as a user runs it;
- the oracle rule through the same folds, simulator, baselines and verdict
  (`walkforward.evaluation.evaluate_arrays`, the code path of ``walkforward evaluate``);
- optionally (``--sb3``) Stable-Baselines3 PPO on our `TradingEnv` (`models.gym_adapter`)
  with the same steps, network sizes and PPO settings, fold by fold on the same segments,
  tested through the simulator: a sample-efficiency anchor.

Both use the account with the CLOSE action (the oracle's flat), the run's mode (default
``cpu``) and its window and features. Printed per world: oracle capture (the stitched test
Sharpe of the trained model over the oracle's; median and IQR over seeds), the DEPLOY rate
(false DEPLOY on nulls) with a Wilson 95% interval, steps and minutes per fold; per run its
verdict, PF, Sharpe and the fold notes that say training did not learn.

Sizes are flags; the full grid (every world, two strengths, ten seeds, five folds) takes
hours on two cores. Run: ``python -m benchmarks.bench_learning --worlds lag1_daily_030
--seeds 0 1 2 --folds 3`` (about 5 minutes a world and seed on 2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.learning_worlds import parse as parse_world

GOAL_WORLDS = ("lag1_daily_030", "tod_15m_050", "null_daily_000", "nulldrift_daily_000")
FULL_GRID = tuple(f"{e}_{span}_{s}" for e in ("lag1", "meanrev", "volreg") for span in ("daily", "15m")
                  for s in ("030", "050")) + ("tod_15m_030", "tod_15m_050", "null_daily_000",
                                              "nulldrift_daily_000", "null_15m_000", "nulldrift_15m_000")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of k successes in n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def write_config(path: Path, extra: str = "", world: str | None = None) -> Path:
    """The run config of a world: the CLOSE action (the oracle's flat) and, for intraday
    worlds, ``pdt = "off"``. With the default 1,000 account the pattern-day-trader rule
    (which applies to equity bars dated before its 2026-06-04 repeal; the 15-minute worlds
    are dated 2022) rejects the 4th day trade in 5 sessions, so no policy, the oracle
    included, can take an intraday effect: on tod_15m_050 the oracle's PF was 1.05-2.07
    with the rule and 2.49-2.85 without it (seeds 0-2). A trader of intraday effects holds
    25,000 or trades after the repeal; the daily worlds keep ``auto`` (no day trades)."""
    pdt = 'pdt = "off"\n' if world is not None and parse_world(world)[1] != "daily" else ""
    path.write_text(pdt + "[account]\ninclude_close_action = true\n" + extra, encoding="utf-8")
    return path


def trainer_table(overrides: str | None) -> str:
    """A ``[trainer]`` TOML table from a JSON object of `models.config.TrainConfig` fields."""
    if not overrides:
        return ""
    table = json.loads(overrides)
    return "[trainer]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())


def write_csv(bars, path: Path) -> Path:
    frame = bars.frame[["open", "high", "low", "close", "volume"]]
    frame.to_csv(path, index_label="timestamp")
    return path


def run_cli(csv: Path, out: Path, cfg: Path, *, mode: str, folds: int, seed: int, steps: int | None,
            null_draws: int, random_seeds: int) -> dict:
    """``walkforward run`` in a subprocess; its summary.json and the seconds it took."""
    cmd = [sys.executable, "-m", "walkforward", "run", str(csv), "--config", str(cfg), "--mode", mode,
           "--folds", str(folds), "--seed", str(seed), "--out", str(out), "--null-draws", str(null_draws),
           "--random-seeds", str(random_seeds), "--no-ledger", "-q", "--force"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"walkforward run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"summary": json.loads((out / "summary.json").read_text(encoding="utf-8")), "seconds": secs,
            "manifest": json.loads((out / "manifest.json").read_text(encoding="utf-8"))}


def run_config(cfg: Path, mode: str, folds: int, seed: int, null_draws: int, random_seeds: int):
    from walkforward.config import RunConfig

    return RunConfig.from_sources(cfg, {"mode": mode, "folds": folds, "seed": seed, "null_draws": null_draws,
                                        "n_random_seeds": random_seeds})


def oracle(name: str, bars, config) -> dict:
    """The oracle rule's symbol summary on the run's folds."""
    from benchmarks.learning_worlds import oracle_actions
    from walkforward.evaluation import evaluate_arrays

    return evaluate_arrays(bars, oracle_actions(name, bars), config)


def sb3_anchor(bars, config, steps: int, seed: int) -> dict:
    """SB3 PPO trained per fold on our env with the run's steps and PPO settings; the
    stitched test Sharpe of its greedy policy through the simulator."""
    import torch
    from stable_baselines3 import PPO

    from backtest.features import compute_features
    from backtest.normaliser import Normaliser
    from backtest.observation import BacktestObservationBuilder
    from backtest.runner import run_policy_naive
    from backtest.timeframes import DAY
    from models.config import auto_config, intraday_settings
    from models.env import TradingEnv
    from models.gym_adapter import sb3_vec_env
    from reports.metrics import sharpe
    from walkforward.fold_job import episode_length
    from walkforward.orchestrator import plan_symbols

    plan = plan_symbols(config, [bars])[bars.symbol]
    schema, sim_config = config.schema(), config.sim_config(bars.asset_class)
    intraday = intraday_settings(config.mode) if bars.timeframe < DAY else {}
    tc = auto_config("cpu", config.mode, total_steps=steps, seed=seed, **intraday)
    raw = compute_features(bars, schema)
    rets, t0 = [], time.perf_counter()
    for fold in plan.folds:
        norm = Normaliser.fit(raw, fold.train.start, fold.train.stop)
        builder = BacktestObservationBuilder(raw, schema, norm, sim_config.account)
        env = TradingEnv(builder.features, bars, schema, sim_config=sim_config, n_envs=tc.n_envs,
                         episode_len=episode_length(len(fold.train)), train_range=(fold.train.start, fold.train.stop),
                         seed=tc.seed, reward=config.reward)
        model = PPO("MlpPolicy", sb3_vec_env(env), n_steps=tc.n_steps, batch_size=tc.minibatch_size,
                    n_epochs=tc.n_epochs, learning_rate=tc.actor_lr, gamma=tc.gamma, gae_lambda=tc.gae_lambda,
                    clip_range=tc.clip_coef, ent_coef=tc.ent_coef, vf_coef=tc.vf_coef, max_grad_norm=tc.max_grad_norm,
                    device="cpu", seed=tc.seed, verbose=0,
                    policy_kwargs=dict(net_arch=dict(pi=list(tc.hidden), vf=list(tc.hidden)),
                                       activation_fn=torch.nn.ReLU))
        model.learn(tc.steps_effective)

        class Greedy:
            def act(self, obs):
                return int(model.predict(np.asarray(obs, dtype=np.float32), deterministic=True)[0])

        run = run_policy_naive(Greedy(), builder, bars, sim_config, fold.test.start, fold.test.stop)
        eq = np.r_[sim_config.account.initial_equity, run.sim.equity]
        rets.append(eq[1:] / eq[:-1] - 1.0)
    return {"sharpe": sharpe(np.concatenate(rets), plan.bars_per_year), "seconds": time.perf_counter() - t0}


def learn_one_fold(name: str, seed: int, steps: int, mode: str = "cpu", n_folds: int = 5, device: str = "cpu",
                   trainer_mode: str | None = None) -> dict:
    """Fold 0 of a world trained in process with the mode's trainer, window and features (no
    baselines): the selected checkpoint's figures on train / validation / test, the oracle's
    on test, and how the greedy policy's decisions follow the planted rule on the test bars
    (share of BUYs where the oracle is long minus where it is flat). The bounded CI check;
    ``device``/``trainer_mode`` size the trainer for a GPU (`models.config.auto_config`) while
    the window and features stay those of ``mode`` (`benchmarks.gpu_check`'s learning row)."""
    import torch

    from backtest.features import compute_features
    from backtest.normaliser import Normaliser
    from backtest.observation import BacktestObservationBuilder
    from backtest.simulator import simulate
    from benchmarks.learning_worlds import make_world, oracle_actions
    from backtest.timeframes import DAY
    from models.config import auto_config, intraday_settings
    from models.augment import training_env
    from models.ppo import PPOTrainer
    from walkforward.fold_job import episode_length, evaluate, validation_metrics
    from walkforward.learning_check import segment_figures
    from walkforward.orchestrator import plan_symbols

    bars = make_world(name, seed)
    config = run_config(write_config(Path(tempfile.mkdtemp()) / "run.toml", world=name), mode, n_folds, seed, 20, 1)
    plan = plan_symbols(config, [bars])[bars.symbol]
    fold = plan.folds[0]
    schema, sim_config = config.schema(), config.sim_config(bars.asset_class)
    raw = compute_features(bars, schema)
    builder = BacktestObservationBuilder(raw, schema, Normaliser.fit(raw, fold.train.start, fold.train.stop),
                                         sim_config.account)
    intraday = intraday_settings(trainer_mode or mode) if bars.timeframe < DAY else {}
    tc = auto_config(device, trainer_mode or mode, total_steps=steps, seed=seed, **intraday)
    env = training_env(builder.features, bars, schema, builder.normaliser, (fold.train.start, fold.train.stop),
                       tc.augment_paths, tc.augment_block, n_envs=tc.n_envs, seed=seed, sim_config=sim_config,
                       episode_len=episode_length(len(fold.train)), reward=config.reward, device=device)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        trainer = PPOTrainer(env, schema, tc, verbose=0, device=device, action_meanings=list(sim_config.account.action_space.meanings),
                             validate=lambda pol: validation_metrics(evaluate(pol, builder, bars, sim_config,
                                                                              fold.val.start, fold.val.stop)))
        result = trainer.train(resume=False)
        seconds = time.perf_counter() - t0
        if result.best_state is not None:
            trainer.net.load_state_dict(result.best_state)
        policy = trainer.policy()
        runs = {k: evaluate(policy, builder, bars, sim_config, seg.start, seg.stop)
                for k, seg in (("train", fold.train), ("val", fold.val), ("test", fold.test))}
    finally:
        torch.set_num_threads(previous)
    out = {k: segment_figures(r.sim, plan.bars_per_year) for k, r in runs.items()}
    orc = oracle_actions(name, bars)[fold.test.start:fold.test.stop]
    out["oracle_test"] = segment_figures(simulate(bars, orc, sim_config, start=fold.test.start, close_at_end=True),
                                         plan.bars_per_year)
    buys = np.isin(runs["test"].actions, [1, 2, 3])
    long = orc[: len(buys)] == 3
    out["follows_rule"] = float(buys[long].mean() - buys[~long].mean()) if long.any() and (~long).any() else 0.0
    out["seconds"] = seconds
    out["entropy"] = [h["entropy"] for h in result.history]
    return out


def case(name: str, seed: int, args, work: Path) -> dict:
    """One world and seed: the run, the oracle and (optionally) the SB3 anchor."""
    from benchmarks.learning_worlds import make_world

    bars = make_world(name, seed)
    case_dir = work / f"{name}_s{seed}"
    case_dir.mkdir(parents=True, exist_ok=True)
    csv = write_csv(bars, case_dir / f"{bars.symbol}.csv")
    cfg = write_config(case_dir / "run.toml", trainer_table(args.trainer), world=name)
    res = run_cli(csv, case_dir / "run", cfg, mode=args.mode, folds=args.folds, seed=seed, steps=args.steps,
                  null_draws=args.null_draws, random_seeds=args.random_seeds)
    s = res["summary"]["symbols"][0]
    config = run_config(cfg, args.mode, args.folds, seed, args.null_draws, args.random_seeds)
    orc = oracle(name, bars, config)
    trainer = res["manifest"].get("resolution", {}).get("trainer", {})
    steps = int(args.steps or trainer.get("total_steps") or 0)
    out = {"world": name, "seed": seed, "verdict": s["verdict"], "pf": s["metrics"].get("pf"),
           "sharpe": s["metrics"].get("sharpe"), "oracle_sharpe": orc["metrics"].get("sharpe"),
           "oracle_verdict": orc["verdict"], "minutes_per_fold": res["seconds"] / 60.0 / args.folds,
           "steps": steps, "notes": (s.get("training") or {}).get("notes") or [],
           "in_sample": [(f.get("train") or {}).get("pf") for f in (s.get("training") or {}).get("folds") or []]}
    if args.sb3:
        out["sb3"] = sb3_anchor(bars, config, steps, seed)
    return out


def capture(r: dict, key: str = "sharpe") -> float | None:
    mine, best = r.get(key) if key == "sharpe" else (r.get("sb3") or {}).get("sharpe"), r.get("oracle_sharpe")
    if mine is None or best is None or best <= 0:
        return None
    return float(mine / best)


def _fmt(x, spec="+.2f") -> str:
    if isinstance(x, str):  # JSON's "inf" (a PF without a losing trade)
        x = float(x)
    return "n/a" if x is None else format(x, spec)


def report(results: list[dict]) -> str:
    """The table: per world capture (median, IQR), DEPLOY rate with Wilson 95%, steps and minutes per fold."""
    from benchmarks.learning_worlds import parse

    lines = [f"{'world':<22} {'seeds':>5} {'capture med':>11} {'IQR':>15} {'SB3 capture':>11} {'DEPLOY':>7} "
             f"{'Wilson 95%':>14} {'oracle DEPLOY':>13} {'steps/fold':>10} {'min/fold':>8}"]
    for w in dict.fromkeys(r["world"] for r in results):
        rs = [r for r in results if r["world"] == w]
        caps = [c for c in (capture(r) for r in rs) if c is not None]
        sb3 = [c for c in (capture(r, "sb3") for r in rs) if c is not None]
        k = sum(r["verdict"] == "DEPLOY" for r in rs)
        lo, hi = wilson(k, len(rs))
        null = parse(w)[0].startswith("null")
        deploy = f"{k}/{len(rs)}"
        oracle_deploy = f"{sum(r['oracle_verdict'] == 'DEPLOY' for r in rs)}/{len(rs)}"
        iqr = (f"[{np.percentile(caps, 25):+.2f}, {np.percentile(caps, 75):+.2f}]" if caps else "n/a")
        lines.append(f"{w:<22} {len(rs):>5} {_fmt(float(np.median(caps)) if caps and not null else None):>11} "
                     f"{iqr if not null else 'n/a':>15} {_fmt(float(np.median(sb3)) if sb3 and not null else None):>11} "
                     f"{deploy:>7} [{lo:.2f}, {hi:.2f}] {oracle_deploy:>13} "
                     f"{rs[0]['steps']:>10,} {np.mean([r['minutes_per_fold'] for r in rs]):>8.2f}")
    lines.append("\nper run: world seed verdict PF Sharpe oracle-Sharpe in-sample PF per fold | notes")
    for r in results:
        ins = ", ".join(_fmt(p, ".2f") for p in r["in_sample"])
        lines.append(f"  {r['world']} s{r['seed']} {r['verdict']} PF {_fmt(r['pf'], '.2f')} Sharpe "
                     f"{_fmt(r['sharpe'])} oracle {_fmt(r['oracle_sharpe'])} in-sample PF [{ins}]"
                     + (f" SB3 Sharpe {_fmt(r['sb3']['sharpe'])}" if r.get("sb3") else "")
                     + (f" | {len(r['notes'])} note(s): " + "; ".join(r["notes"][:2]) if r["notes"] else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", nargs="+", default=list(GOAL_WORLDS),
                   help="world names (benchmarks.learning_worlds), or 'full' for the whole grid")
    p.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--mode", default="cpu")
    p.add_argument("--steps", type=int, default=None, help="override the mode's steps per fold")
    p.add_argument("--null-draws", type=int, default=1000)
    p.add_argument("--random-seeds", type=int, default=100)
    p.add_argument("--sb3", action="store_true", help="also train SB3 PPO on the same folds (slow)")
    p.add_argument("--trainer", default=None,
                   help='[trainer] overrides of the run config as JSON, e.g. \'{"augment_paths": 3}\'')
    p.add_argument("--work", default=None, help="where runs go (default: a temporary directory)")
    p.add_argument("--json", default=None, help="also write the per-run results here")
    args = p.parse_args(argv)
    worlds = list(FULL_GRID) if args.worlds == ["full"] else args.worlds
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        for w in worlds:
            for seed in args.seeds:
                r = case(w, seed, args, work)
                results.append(r)
                print(f"{w} seed {seed}: {r['verdict']}, Sharpe {_fmt(r['sharpe'])} (oracle "
                      f"{_fmt(r['oracle_sharpe'])}), {r['minutes_per_fold']:.2f} min/fold", flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
