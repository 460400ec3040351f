"""Mutation suite for the integrity core: do the tests fail when the code is wrong?

    python -m benchmarks.mutation                 # every mutation, 2 at a time; table + score + time
    python -m benchmarks.mutation --check         # only check that every snippet is still found (seconds)
    python -m benchmarks.mutation --only pdt_,tie_tol --jobs 1 --markdown
    python -m benchmarks.mutation --list
    python -m benchmarks.mutation --fast --sample 3 --seed 26 --jobs 1   # the bounded CI sample

Each mutation in `benchmarks.mutations.MUTATIONS` is one small, realistic bug, defined by
an EXACT source snippet and its replacement (no line numbers: the code moves under us).
The suite copies the project (the packages, ``tests/``, ``pyproject.toml`` and the warm
numba caches, which stay valid in a copy because `backtest.jit_cache` keys them by file
contents) to a temporary directory per job, checks that the listed tests pass on the
unmutated copy, then applies one mutation at a time and runs its tests there
(``pytest -x``, ``CI=true``: the deterministic hypothesis profile CI runs), with
``PYTHONPATH`` on the copy so subprocesses (``walkforward run``) import the mutant too.

Statuses: ``killed`` (a test failed; the first failing test is named), ``survived`` (all
passed: a gap in the tests, or an equivalent mutant, explained in the mutation's ``note``),
``timeout`` (counted as killed, flagged), ``not found`` / ``ambiguous`` (the snippet is
missing or occurs more than once: the mutation is stale and must be updated; never counted
as a kill), ``error`` (the tests could not run, e.g. a collection error before any test:
counted as killed only when pytest reported a failing test). Score = killed / (mutations
whose snippet was found, minus those marked ``equivalent``).

Why a curated list and not mutmut: mutmut mutates every operator of a module and runs
the whole suite per mutant, hours for these modules on 2 cores, and most of its mutants
are in messages, docstrings and input validation; the list here models the bugs an audit
found or that the contracts (DESIGN 3.2-3.8) exist to prevent, each aimed at the tests
that must catch it, so the whole suite runs in tens of minutes and a survivor is a
concrete gap with a name.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("backtest", "models", "walkforward", "reports", "benchmarks", "tests", "pyproject.toml")
NUMBA_FILES = ("*.nbi", "*.nbc")
#: Test files that run in seconds alone (measured on the 2-core VM, BENCHMARKS.md "Mutation
#: suite, round two"): `--fast` keeps the mutations killed by these alone, the pool the CI
#: sample (tests/test_mutation_sample.py) draws from, so that it stays within a few minutes.
FAST_TESTS = frozenset({
    "tests/test_known_answers.py", "tests/test_metrics.py", "tests/test_compare_stats.py", "tests/test_store.py",
    "tests/test_folds.py", "tests/test_verdict.py", "tests/test_costs.py", "tests/test_normaliser.py",
    "tests/test_pdt.py", "tests/test_reward.py", "tests/test_resume_inputs.py",
})


@dataclass(frozen=True)
class Mutation:
    """One realistic bug: replace ``snippet`` (exact, found once) in ``path`` by ``replacement``."""

    name: str  # short identifier, unique
    path: str  # file, relative to the project root
    snippet: str  # exact source text, must occur exactly once
    replacement: str
    tests: tuple[str, ...]  # pytest arguments (files or node ids) expected to kill it, likeliest first
    bug: str  # what the mutation models, in words
    equivalent: str | None = None  # why it cannot be killed (same behaviour), when that is so


@dataclass
class Outcome:
    mutation: Mutation
    status: str  # killed | survived | timeout | not found | ambiguous | error
    killer: str = ""  # first failing test
    seconds: float = 0.0

    @property
    def counted(self) -> bool:
        return self.status not in ("not found", "ambiguous") and self.mutation.equivalent is None

    @property
    def killed(self) -> bool:
        return self.status in ("killed", "timeout")


def find(text: str, m: Mutation) -> str | None:
    """None when the snippet occurs exactly once, else the status saying why not."""
    n = text.count(m.snippet)
    return None if n == 1 else ("not found" if n == 0 else "ambiguous")


def check_snippets(mutations, root: Path = ROOT) -> list[Outcome]:
    out = []
    for m in mutations:
        path = root / m.path
        problem = "not found" if not path.is_file() else find(path.read_text(encoding="utf-8"), m)
        out.append(Outcome(m, problem or "found"))
    return out


def make_copy(dest: Path) -> Path:
    """The project's packages, tests and warm numba caches under ``dest`` (no .pyc, no .git)."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("*.pyc", ".pytest_cache"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _snapshot_numba(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for pat in NUMBA_FILES for p in root.rglob(f"__pycache__/{pat}")}


def _restore_numba(root: Path, snap: dict[Path, bytes]) -> None:
    """Drop kernels a mutant compiled, put the unmutated ones back (so the next mutant starts warm)."""
    for pat in NUMBA_FILES:
        for p in root.rglob(f"__pycache__/{pat}"):
            if p not in snap:
                p.unlink(missing_ok=True)
    for p, data in snap.items():
        if not p.exists() or p.read_bytes() != data:
            p.write_bytes(data)


def pytest_command(tests) -> list[str]:
    return [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", "-o", "addopts=",
            "--doctest-modules", *tests]


def run_tests(root: Path, tests, timeout: float) -> tuple[int | None, str, float]:
    """(pytest exit code or None on timeout, output, seconds) of ``tests`` in the copy ``root``."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYPOTHESIS_PROFILE", "PYTHONHASHSEED")}
    env.update(CI="true", PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(pytest_command(tests), cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return None, out, time.perf_counter() - t0
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - t0


_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def mutate_and_run(root: Path, m: Mutation, snap: dict[Path, bytes], timeout: float) -> Outcome:
    path = root / m.path
    original = path.read_text(encoding="utf-8") if path.is_file() else ""
    problem = "not found" if not path.is_file() else find(original, m)
    if problem:
        return Outcome(m, problem)
    try:
        path.write_text(original.replace(m.snippet, m.replacement), encoding="utf-8")
        rc, out, secs = run_tests(root, m.tests, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
        _restore_numba(root, snap)
    if rc is None:
        return Outcome(m, "timeout", "(timeout)", secs)
    failed = _FAILED.findall(out)
    if rc == 0:
        return Outcome(m, "survived", "", secs)
    if rc == 1 and failed:
        return Outcome(m, "killed", failed[0], secs)
    tail = out.strip().splitlines()[-1] if out.strip() else f"exit {rc}"
    return Outcome(m, "killed" if failed else "error", failed[0] if failed else tail[:80], secs)


def _table(outcomes, markdown: bool) -> str:
    rows = [(o.mutation.name, o.mutation.path, o.status + (" (equivalent)" if o.mutation.equivalent else ""),
             o.killer, f"{o.seconds:.0f}") for o in outcomes]
    head = ("mutation", "file", "status", "killed by (first failing test)", "s")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(f"`{c}`" if i in (0, 1) else c for i, c in enumerate(r)) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def summary(outcomes, seconds: float) -> str:
    counted = [o for o in outcomes if o.counted]
    killed = sum(o.killed for o in counted)
    stale = [o.mutation.name for o in outcomes if o.status in ("not found", "ambiguous")]
    equivalent = [o.mutation.name for o in outcomes if o.mutation.equivalent]
    score = killed / len(counted) if counted else float("nan")
    lines = [f"mutation score: {killed}/{len(counted)} = {score:.1%} killed "
             f"({len(outcomes)} mutations, {len(stale)} stale snippets, {len(equivalent)} equivalent); "
             f"wall time {seconds / 60:.1f} min"]
    if stale:
        lines.append("stale (snippet not found / ambiguous): " + ", ".join(stale))
    survivors = [o.mutation.name for o in counted if not o.killed]
    if survivors:
        lines.append("SURVIVED: " + ", ".join(survivors))
    return "\n".join(lines)


def sample(mutations, n: int, seed: int) -> list[Mutation]:
    """``n`` mutations drawn without replacement by ``random.Random(seed)``, in list order
    (the same list and seed always give the same sample; all of them when ``n`` >= the list)."""
    import random

    if n >= len(mutations):
        return list(mutations)
    keep = set(random.Random(seed).sample(range(len(mutations)), n))
    return [m for i, m in enumerate(mutations) if i in keep]


def is_fast(m: Mutation) -> bool:
    """Every test the mutation lists is in a `FAST_TESTS` file."""
    return all(t.split("::")[0] in FAST_TESTS for t in m.tests)


def run_mutations(chosen, *, jobs: int = 2, timeout: float = 900, baseline: bool = True,
                  log=functools.partial(print, flush=True)) -> list[Outcome] | None:
    """Run ``chosen`` mutants, ``jobs`` at a time, each in its own copy of the project; None
    when the listed tests fail on the unmutated copy (the output tail is logged)."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copies = [make_copy(Path(tmp) / f"job{i}") for i in range(max(1, jobs))]
        if baseline:
            tests = list(dict.fromkeys(t for m in chosen for t in m.tests))
            rc, out, secs = run_tests(copies[0], tests, 3 * timeout)
            log(f"baseline: the listed tests on the unmutated copy: exit {rc} in {secs:.0f} s")
            if rc != 0:
                log(out[-5000:])
                log("the tests fail without any mutation: fix them first")
                return None
            for c in copies[1:]:  # share the warmed numba caches
                for src in copies[0].rglob("__pycache__/*.nb*"):
                    dst = c / src.relative_to(copies[0])
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        snaps = [_snapshot_numba(c) for c in copies]
        free = list(range(len(copies)))
        lock = threading.Lock()

        def work(m: Mutation) -> Outcome:
            with lock:
                i = free.pop()
            try:
                o = mutate_and_run(copies[i], m, snaps[i], timeout)
            finally:
                with lock:
                    free.append(i)
            log(f"  {o.status:<10} {m.name:<32} {o.killer} ({o.seconds:.0f} s)")
            return o

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            return list(pool.map(work, chosen))


def main(argv=None) -> int:
    from benchmarks.mutations import MUTATIONS

    p = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated name prefixes to run")
    p.add_argument("--jobs", type=int, default=2, help="mutants run at once, each in its own copy (default 2)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per mutant before it counts as a timeout")
    p.add_argument("--check", action="store_true", help="only check that every snippet is found once")
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--no-baseline", action="store_true", help="skip running the tests on the unmutated copy")
    p.add_argument("--sample", type=int, default=0,
                   help="run only N mutations drawn at random (after --only) with --seed: the bounded CI run")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--fast", action="store_true",
                   help="only mutations whose listed tests are all fast files (FAST_TESTS): the CI pool")
    p.add_argument("--tests", help="comma-separated pytest arguments run instead of each mutation's own tests "
                                   "(which tests alone kill a mutant)")
    args = p.parse_args(argv)
    names = [m.name for m in MUTATIONS]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate mutation names")
    chosen = [m for m in MUTATIONS if not args.only or any(m.name.startswith(k) for k in args.only.split(","))]
    if args.fast:
        chosen = [m for m in chosen if is_fast(m)]
    if args.sample:
        chosen = sample(chosen, args.sample, args.seed)
    if args.tests:
        chosen = [dataclasses.replace(m, tests=tuple(args.tests.split(","))) for m in chosen]
    if args.list:
        for m in chosen:
            print(f"{m.name:<32} {m.path:<32} {m.bug}")
        return 0
    if args.check:
        res = check_snippets(chosen)
        for o in res:
            print(f"{o.status:<10} {o.mutation.name:<32} {o.mutation.path}")
        bad = [o for o in res if o.status != "found"]
        print(f"{len(res) - len(bad)}/{len(res)} snippets found once")
        return 1 if bad else 0
    print(f"{len(chosen)} mutations, {args.jobs} at a time; {platform.node()} ({os.cpu_count()} CPUs), "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
          + (f"; a seeded sample (--sample {args.sample} --seed {args.seed})" if args.sample else ""), flush=True)
    t0 = time.perf_counter()
    outcomes = run_mutations(chosen, jobs=args.jobs, timeout=args.timeout, baseline=not args.no_baseline)
    if outcomes is None:
        return 2
    seconds = time.perf_counter() - t0
    print()
    print(_table(outcomes, args.markdown))
    print()
    print(summary(outcomes, seconds))
    counted = [o for o in outcomes if o.counted]
    stale = any(o.status in ("not found", "ambiguous") for o in outcomes)
    return 0 if all(o.killed for o in counted) and not stale else 1


if __name__ == "__main__":
    sys.exit(main())
