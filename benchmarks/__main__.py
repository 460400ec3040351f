"""Run every benchmark of the suite with its peer, in one go, and print one table of ratios.

    python -m benchmarks                     # quick sizes: a few minutes on 2 cores
    python -m benchmarks --full              # each benchmark's own default (published) size
    python -m benchmarks --only load,simulator --markdown

Each ``benchmarks/bench_*.py`` runs in its own process (``python -m benchmarks.<name>``,
so its own command line keeps working and one benchmark's memory or threads never leak
into the next); its output is echoed, and the figures it prints for ours and for its peer
(measured in the same run) are read back into the table. The ratio column is always
"ours vs peer" in speed: above 1 ours is faster, below 1 slower (for timings that is
peer seconds / our seconds; for rates, our rate / peer rate). A benchmark added later
without an entry in `SPECS` still runs; its own "ratio" line is shown as a note.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

_NUMBER = r"([\d,]+(?:\.\d+)?)"


@dataclass(frozen=True)
class Measure:
    """One comparison read from a benchmark's output."""

    label: str  # what is compared, as the table shows it
    ours: str  # regex whose group 1 is our figure (the last match counts)
    peer: str  # regex whose group 1 is the peer's figure, from the same run
    unit: str  # unit of both figures
    higher_is_better: bool  # rates (True) or timings (False)


@dataclass(frozen=True)
class Spec:
    """How to run one benchmark quickly and how to read its figures."""

    peer: str  # the peer's name, as the table shows it
    quick: tuple[str, ...]  # arguments for the quick run (small sizes)
    measures: tuple[Measure, ...]  # comparisons to read back
    full: tuple[str, ...] = ()  # arguments for --full (empty: the benchmark's defaults)


SPECS: dict[str, Spec] = {
    "bench_load": Spec(
        "pandas.read_parquet", ("--bars", "200000"),
        (Measure("load 15-min bars (read+validate+sessions)", r"load_bars \(read\+validate\+sessions\):\s+" + _NUMBER,
                 r"pandas\.read_parquet \(peer, no validation\):\s+" + _NUMBER, "s", False),)),
    "bench_simulator": Spec(
        "vectorbt from_orders", ("--end", "2017-01-01", "--skip-cold"),
        (Measure("simulator kernel", r"ours: kernel \(Simulator\.run\)\s+" + _NUMBER,
                 r"vectorbt: from_orders\s+" + _NUMBER, "s", False),
         Measure("simulate() incl. setup vs from_orders+value()", r"ours: simulate\(\) incl\. setup\s+" + _NUMBER,
                 r"vectorbt: from_orders \+ value\(\)\s+" + _NUMBER, "s", False))),
    "bench_features": Spec(
        "np.copyto (same bytes)", ("--bars", "100000", "--obs", "5000"),
        (Measure("observation batch build", r"build_batch " + _NUMBER + r" s",
                 r"np\.copyto of the same size: " + _NUMBER + r" s", "s", False),)),
    "bench_env": Spec(
        "torch tensor copy", ("--n-envs", "64", "256", "--steps", "20"),
        (Measure("env observation GB/s (largest n_envs, kernel account step)",
                 r"(?m)^\s*\d+\s+kernel\s+[\d,.]+\s+[\d,]+\s+[\d.]+\s+" + _NUMBER,
                 r"measured copy bandwidth: " + _NUMBER + r" GB/s", "GB/s", True),)),
    "bench_ppo": Spec(
        "Stable-Baselines3 PPO", ("--env", "trading", "--updates", "1"),
        (Measure("PPO training steps/s on TradingEnv", r"ours\s*:\s*" + _NUMBER + r" steps/s",
                 r"sb3\s*:\s*" + _NUMBER + r" steps/s", "steps/s", True),),
        full=("--env", "trading")),
    "bench_runner": Spec(
        "naive per-bar loop", ("--bars", "5000", "--naive-bars", "300", "--hold-bias", "0"),
        (Measure("policy backtest (auto mode)", r"auto\s+[\d.]+ s\s+\(\s*" + _NUMBER + r" bars/s\)",
                 r"naive loop [\d,.]+ us/bar \(" + _NUMBER + r" bars/s\)", "bars/s", True),)),
    "bench_report": Spec(
        "plotly.io.write_html page", ("--symbols", "3", "--folds", "2", "--bars", "400"),
        (Measure("report page load to charts drawn (median)", r"median " + _NUMBER + r" s, max",
                 r"equity-only page: median " + _NUMBER + r" s", "s", False),)),
}


@dataclass
class Row:
    benchmark: str
    measure: str
    peer_name: str
    ours: float | None
    peer: float | None
    unit: str
    ratio: float | None  # ours vs peer in speed (> 1: ours faster)
    note: str


def discover(root: Path) -> list[str]:
    """Benchmark modules: every ``bench_*.py`` beside this file, in name order."""
    return sorted(p.stem for p in root.glob("bench_*.py"))


def _last_number(pattern: str, text: str) -> float | None:
    found = re.findall(pattern, text)
    if not found:
        return None
    value = found[-1][0] if isinstance(found[-1], tuple) else found[-1]
    return float(value.replace(",", ""))


def read_rows(name: str, spec: Spec | None, output: str, rc: int, seconds: float) -> list[Row]:
    """Table rows for one benchmark's output (failures and unread figures become notes)."""
    status = f"exit {rc}" if rc else ""
    if spec is None:
        ratio_lines = [ln.strip() for ln in output.splitlines() if "ratio" in ln.lower()]
        note = ratio_lines[-1] if ratio_lines else "no ratio line printed"
        return [Row(name, "(no spec: own ratio line)", "?", None, None, "", None,
                    "; ".join(x for x in (status, note) if x))]
    rows = []
    for m in spec.measures:
        ours, peer = _last_number(m.ours, output), _last_number(m.peer, output)
        ratio = None
        if ours and peer:
            ratio = ours / peer if m.higher_is_better else peer / ours
        note = status or ("" if ratio is not None else "figures not found in the output")
        rows.append(Row(name, m.label, spec.peer, ours, peer, m.unit, ratio, note))
    rows[0].note = "; ".join(x for x in (rows[0].note, f"{seconds:.0f} s wall") if x)
    return rows


def run_one(name: str, args: list[str], timeout: float, echo: bool) -> tuple[str, int, float]:
    """Run ``python -m benchmarks.<name> args``; returns (stdout+stderr, exit code, seconds)."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", f"benchmarks.{name}", *args]
    print(f"\n=== {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout)
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        output, rc = output + f"\n(timed out after {timeout:.0f} s)", 124
    seconds = time.perf_counter() - start
    if echo:
        for line in output.rstrip().splitlines():
            if "\r" not in line:  # progress bars redraw with carriage returns; keep the figures
                print(f"  | {line}")
    return output, rc, seconds


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def table(rows: list[Row], markdown: bool) -> str:
    head = ("benchmark", "measure", "peer", "ours", "peer figure", "unit", "ours vs peer", "note")
    body = [(r.benchmark, r.measure, r.peer_name, _fmt(r.ours), _fmt(r.peer), r.unit,
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.note) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(c) for c in body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="each benchmark's default size instead of the quick one")
    ap.add_argument("--only", default=None, help="comma-separated names (load,simulator,... or bench_load,...)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per benchmark before it is stopped")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (for BENCHMARKS.md)")
    ap.add_argument("--quiet", action="store_true", help="do not echo each benchmark's own output")
    a = ap.parse_args(argv)
    names = discover(Path(__file__).resolve().parent)
    if a.only:
        wanted = {w.strip() if w.strip().startswith("bench_") else f"bench_{w.strip()}" for w in a.only.split(",")}
        unknown = sorted(wanted - set(names))
        if unknown:
            ap.error(f"--only: no benchmark named {', '.join(unknown)}; have {', '.join(names)}")
        names = [n for n in names if n in wanted]
    rows: list[Row] = []
    for name in names:
        spec = SPECS.get(name)
        args = list(spec.full if a.full else spec.quick) if spec else []
        output, rc, seconds = run_one(name, args, a.timeout, echo=not a.quiet)
        rows.extend(read_rows(name, spec, output, rc, seconds))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{'full' if a.full else 'quick'} sizes; {stamp}; {platform.platform()}; python "
          f"{platform.python_version()}; {os.cpu_count()} CPUs (load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print("ours vs peer: speed ratio measured in the same run (> 1: ours faster)\n")
    print(table(rows, a.markdown))
    return 0 if all(not r.note.startswith("exit") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
