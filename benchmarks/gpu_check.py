"""One GPU validation run, for whenever a CUDA device is lent: everything the CUDA path claims,
measured, in one table (at most about 8 minutes on an H100/H200 at the default sizes).

    python -m benchmarks.gpu_check                       # on the GPU machine
    python -m benchmarks.gpu_check --device cpu --smoke   # the CPU fallback (what CI runs)

Rows:

1. the CUDA tests (``pytest -m cuda``: the env's torch account step against the simulator,
   the batched torch mirror against whole simulations, AMP on/off, torch.compile on/off,
   no host sync in the env step); on a CPU they are all skipped, which the row says;
2. env steps/s at 4,096, 16,384 and 65,536 envs (the torch account step);
3. PPO env-steps/s for the medium and large presets with AMP bf16, against the goal of
   1,000,000 env-steps/s for medium, and the share of the device's bf16 matmul rate
   (measured in the same run) the trainer's FLOPs reach;
4. peak GPU memory of each PPO run against what ``auto`` picked for this device's free memory;
5. a quick_test walk-forward of 2 symbols x 2 folds (steps capped by ``--wf-steps``);
6. the same walk-forward again, and the largest difference in any summary metric: close, not
   bit-identical, is expected on a GPU (atomic adds, cuBLAS algorithm choice); 0 on a CPU;
7. learning (issue 24): fold 0 of the planted lag-1 world at 0.5 sigma
   (`benchmarks.bench_learning.learn_one_fold`, the ``cpu`` mode's 5-bar window of compact
   features) trained with the device's ``quick_test`` sizing for ``--learn-steps`` steps: the
   checkpoint's test PF and Sharpe against the oracle's, and how its decisions follow the
   planted rule; ok on a GPU when it follows the rule (> 0.2) with a test PF above 1; on the
   CPU path a few updates only, so the row shows it runs.

Each row prints as it completes, then the table; exit 1 when a row failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MEDIUM_GOAL = 1_000_000  # env-steps/s of PPO on the medium preset


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _trading_env(device, n_envs: int, episode_len: int = 128):
    from backtest.features import compute_features, default_schema
    from backtest.normaliser import Normaliser
    from backtest.sample_data import sample_bars
    from models.env import TradingEnv

    bars = sample_bars(seed=0, symbols=("SMPA",))[0]
    schema = default_schema()
    feats = compute_features(bars, schema)
    split = int(len(feats) * 0.8)
    norm = Normaliser.fit(feats, 0, split)
    return TradingEnv(norm.transform(feats), bars, schema, n_envs=n_envs, episode_len=episode_len,
                      train_range=(0, split), device=device, dtype=torch.float32, seed=0, reuse_obs=True,
                      account_step="torch")


def cuda_tests(device: torch.device) -> dict:
    """``pytest -m cuda`` in a subprocess: passed / failed / skipped counts."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "-rfE", "--tb=line",
           "tests"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    tail = lines[-1:] or [""]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|error)", tail[0])}
    ok = proc.returncode in (0, 5) and not counts.get("failed") and not counts.get("error")
    where = "" if device.type == "cuda" else " (no CUDA device: skipped, as expected on a CPU)"
    # A failure names its tests and first lines, so a FAIL on a lent machine says why without a rerun.
    failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))][:5]
    why = ("; " + " | ".join(ln[:200] for ln in failed)) if failed and not ok else ""
    return {"ok": ok, "value": ", ".join(f"{n} {k}" for k, n in counts.items()) + where + why,
            "seconds": time.perf_counter() - t}


def env_rates(device: torch.device, sizes, steps: int) -> list[dict]:
    """Env steps/s (and samples/s) per number of envs, torch account step."""
    from benchmarks.bench_env import bench

    rows = []
    for n in sizes:
        t = time.perf_counter()
        env = _trading_env(device, n)
        rate = bench(env, steps)
        rows.append({"ok": True, "label": f"env steps/s at {n:,} envs",
                     "value": f"{rate:,.1f} steps/s = {rate * n:,.0f} samples/s", "seconds": time.perf_counter() - t})
        del env
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def bf16_peak(device: torch.device, n: int) -> float:
    """Measured bf16 matmul FLOP/s on the device (best of 5)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(5):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def ppo_rate(device: torch.device, preset: str, mode: str, updates: int, peak: float) -> dict:
    """PPO env-steps/s of the preset at the mode's batch (AMP bf16 where the device has it),
    the share of the measured bf16 matmul rate, and peak memory against ``auto``'s choice."""
    from benchmarks.bench_ppo import Ours
    from models.config import auto_config, mode_config

    t0 = time.perf_counter()
    auto = auto_config(device, mode)
    cfg = mode_config(mode, hidden=preset, amp=device.type == "cuda" or auto.amp)
    if device.type != "cuda":  # the CPU smoke path: the preset at a CPU-sized batch
        cfg = dataclasses.replace(cfg, n_envs=64, n_steps=32, minibatch_size=1024, n_epochs=1)
    cfg = dataclasses.replace(cfg, minibatch_size=min(cfg.minibatch_size, cfg.batch_size))
    env = _trading_env(device, cfg.n_envs)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ours = Ours(env, cfg)
    ours.update()  # warm-up (allocations, autotuning)
    seconds = sorted(ours.update() for _ in range(updates))[updates // 2]
    rate = cfg.batch_size / seconds
    share = ours.work()["flops_per_update"] / seconds / peak
    unit = "bf16" if device.type == "cuda" else "float32"
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    goal = f" (goal {MEDIUM_GOAL:,}: {'met' if rate >= MEDIUM_GOAL else 'not met'})" if preset == "medium" else ""
    rows = [{"ok": True, "label": f"PPO {preset} ({cfg.n_envs:,} envs x {cfg.n_steps}, amp {cfg.amp})",
             "value": f"{rate:,.0f} env-steps/s{goal}; {100 * share:.1f}% of the measured {unit} matmul rate",
             "seconds": time.perf_counter() - t0}]
    rows.append({"ok": True, "label": f"GPU memory, PPO {preset}",
                 "value": (f"{mem:.1f} GiB peak; auto picked n_envs {auto.n_envs}, hidden {list(auto.hidden)}, amp "
                           f"{auto.amp} for this device" if device.type == "cuda"
                           else f"n/a on a CPU (auto: n_envs {auto.n_envs}, hidden {list(auto.hidden)})"),
                 "seconds": 0.0})
    del ours, env
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def walk_forward(device: torch.device, out: Path, mode: str, steps: int, symbols: str) -> tuple[dict, dict | None]:
    """A walk-forward through the CLI; (row, summary)."""
    cmd = [sys.executable, "-m", "walkforward", "run", "--symbols", symbols, "--folds", "2", "--mode", mode,
           "--steps", str(steps), "--device", device.type, "--out", str(out), "--no-ledger", "-q",
           "--random-seeds", "20", "--null-draws", "100"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        return {"ok": False, "value": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}",
                "seconds": seconds}, None
    summary = json.loads((out / "summary.json").read_text())
    verdicts = ", ".join(f"{s['symbol']} {s['verdict']}" for s in summary["symbols"])
    return {"ok": True, "value": f"{len(summary['symbols'])} symbols x 2 folds in {seconds:.0f} s: {verdicts}",
            "seconds": seconds}, summary


def largest_difference(a: dict, b: dict) -> tuple[float, str]:
    """Largest absolute difference between numeric metrics of two summaries, and where."""
    worst, where = 0.0, "none"
    for sa, sb in zip(a["symbols"], b["symbols"]):
        for key, va in sa["metrics"].items():
            vb = sb["metrics"].get(key)
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and not isinstance(va, bool):
                if math.isfinite(va) and math.isfinite(vb) and abs(va - vb) > worst:
                    worst, where = abs(va - vb), f"{sa['symbol']}.{key}"
    return worst, where


def learning_row(device: torch.device, smoke: bool, steps: int) -> dict:
    """Row 7: does the trainer find a planted edge with this device's budget (see the module doc)."""
    from benchmarks.bench_learning import learn_one_fold

    t0 = time.perf_counter()
    world = "lag1_daily_050"
    steps = 8192 if smoke else steps
    r = learn_one_fold(world, 7, steps, mode="cpu", device=str(device),
                       trainer_mode="smoke" if smoke else "quick_test")
    test, orc = r["test"], r["oracle_test"]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    ok = smoke or (r["follows_rule"] > 0.2 and (test["pf"] or 0.0) > 1.0)
    return {"ok": ok, "label": f"learning: {world}, fold 0, {steps:,} steps",
            "value": f"test PF {fmt(test['pf'])}, Sharpe {fmt(test['sharpe'])} (oracle {fmt(orc['sharpe'])}), "
                     f"in-sample PF {fmt(r['train']['pf'])}, follows the rule {r['follows_rule']:+.2f}, "
                     f"{r['seconds']:.0f} s training", "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--smoke", action="store_true", help="CPU-sized everything (the CI path)")
    ap.add_argument("--env-steps", type=int, default=20, help="timed env steps per size")
    ap.add_argument("--updates", type=int, default=3, help="timed PPO updates per preset (median)")
    ap.add_argument("--wf-steps", type=int, default=1_000_000, help="training steps per fold of the walk-forward")
    ap.add_argument("--learn-steps", type=int, default=5_000_000, help="training steps of the learning row (GPU)")
    ap.add_argument("--skip", default="", help="comma-separated rows to skip: tests,env,ppo,wf,learn")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here; use --device cpu --smoke for the CPU path")
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    smoke = a.smoke or device.type != "cuda"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu_check on {name} ({device}), torch {torch.__version__}, {'smoke' if smoke else 'full'} sizes",
          flush=True)
    rows: list[dict] = []

    def add(row: dict, label: str | None = None) -> None:
        row = {"label": label or row.get("label", "?"), **{k: v for k, v in row.items() if k != "label"}}
        rows.append(row)
        print(f"  {'ok  ' if row['ok'] else 'FAIL'} {row['label']}: {row['value']} ({row['seconds']:.0f} s)", flush=True)

    t0 = time.perf_counter()
    if "tests" not in skip:
        add(cuda_tests(device), "CUDA tests (pytest -m cuda)")
    if "env" not in skip:
        for row in env_rates(device, (64, 256) if smoke else (4096, 16384, 65536), a.env_steps):
            add(row)
    if "ppo" not in skip:
        peak = bf16_peak(device, 1024 if smoke else 8192)
        add({"ok": True, "value": f"{peak / 1e12:,.2f} TFLOP/s", "seconds": 0.0},
            f"measured {'bf16' if device.type == 'cuda' else 'float32'} matmul rate")
        presets = (("tiny", "smoke"),) if smoke else (("medium", "production"), ("large", "extended"))
        for preset, mode in presets:
            for row in ppo_rate(device, preset, mode, 1 if smoke else a.updates, peak):
                add(row)
    if "wf" not in skip:
        mode, steps = ("smoke", 4096) if smoke else ("quick_test", a.wf_steps)
        symbols = "SMPA" if smoke else "SMPA,SMPB"
        with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
            first, s1 = walk_forward(device, Path(tmp) / "a", mode, steps, symbols)
            add(first, f"walk-forward {mode} ({symbols}, 2 folds, {steps:,} steps per fold)")
            second, s2 = walk_forward(device, Path(tmp) / "b", mode, steps, symbols)
            if s1 is not None and s2 is not None:
                diff, where = largest_difference(s1, s2)
                expect = "close, not bit-identical, expected on a GPU" if device.type == "cuda" else "0 on a CPU"
                ok = device.type == "cuda" or diff == 0.0
                add({"ok": ok and second["ok"], "value": f"largest summary-metric difference {diff:.3g} ({where}); "
                     f"{expect}", "seconds": second["seconds"]}, "same walk-forward twice")
            else:
                add(second, "same walk-forward twice")
    if "learn" not in skip:
        add(learning_row(device, smoke, a.learn_steps))
    print(f"\n{'row':<58} {'':<4} result")
    for r in rows:
        print(f"{r['label'][:58]:<58} {'ok' if r['ok'] else 'FAIL':<4} {r['value']}")
    print(f"\n{len(rows)} rows in {time.perf_counter() - t0:.0f} s on {name}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
