"""Engines that run independent tasks (one per symbol x fold): local, process pool, Ray.

All engines take the same `Task` list and return one `TaskResult` per task **in task
order**, whatever order they finished in, so results never depend on the engine. A
task that raises is recorded as a failure (type, message, traceback) and the others
go on; KeyboardInterrupt stops the run and propagates (completed folds are already in
the run store, so a rerun resumes).

Tasks for `ProcessEngine` and `RayEngine` must be picklable: a module-level function
and picklable arguments (the orchestrator sends ``Task(run_folds, ([fold_spec, ...],))``,
each `walkforward.fold_job.FoldSpec` a frozen dataclass of typed configs and the bars).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest.errors import ConfigError

#: ``progress(result, n_done, n_total)``, called in the parent as each task completes.
ProgressFn = Callable[["TaskResult", int, int], None]


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args, **kwargs)``; ``name`` labels it in progress and failures."""

    fn: Callable[..., Any]  # module-level function (picklable for processes and Ray)
    args: tuple = ()  # positional arguments
    kwargs: dict = field(default_factory=dict)  # keyword arguments
    name: str = ""  # label, e.g. "AAPL/fold_2"


@dataclass(frozen=True)
class TaskResult:
    """Outcome of one task; ``ok`` False means ``error`` and ``traceback`` say why."""

    index: int  # position of the task in the submitted list
    name: str  # the task's label
    ok: bool  # True when fn returned
    value: Any = None  # fn's return value (None on failure)
    error: str | None = None  # "ExceptionType: message" on failure
    traceback: str | None = None  # formatted traceback on failure
    seconds: float = 0.0  # wall time of the call in the worker


def execute(index: int, task: Task) -> TaskResult:
    """Run one task, turning an exception into a failure record (KeyboardInterrupt passes)."""
    start = time.perf_counter()
    try:
        value = task.fn(*task.args, **task.kwargs)
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        return TaskResult(
            index=index, name=task.name, ok=False, error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(), seconds=time.perf_counter() - start,
        )
    return TaskResult(index=index, name=task.name, ok=True, value=value, seconds=time.perf_counter() - start)


def _failure(index: int, task: Task, exc: BaseException) -> TaskResult:
    """Failure record for a task whose worker died or could not return its result."""
    text = "".join(traceback.format_exception(exc))
    return TaskResult(index=index, name=task.name, ok=False, error=f"{type(exc).__name__}: {exc}", traceback=text)


class LocalEngine:
    """Runs the tasks one after another in this process (the default)."""

    name = "local"

    def run(self, tasks: Sequence[Task], progress: ProgressFn | None = None) -> list[TaskResult]:
        results = []
        for i, task in enumerate(tasks):
            result = execute(i, task)
            results.append(result)
            if progress is not None:
                progress(result, i + 1, len(tasks))
        return results


class ProcessEngine:
    """Runs the tasks in a pool of ``n_workers`` processes started with 'spawn'.

    'spawn' gives every worker a fresh interpreter (safe with torch, CUDA and numba
    threads, unlike 'fork'). It re-imports the main module in each worker, so a script
    using this engine needs the ``if __name__ == "__main__":`` guard (the CLI has it);
    without it the pool breaks and every task is recorded as failed.
    """

    name = "processes"

    def __init__(self, n_workers: int = 2) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ConfigError(f"n_workers={n_workers!r} must be an integer >= 1, e.g. the number of CPU cores")
        self.n_workers = n_workers

    def run(self, tasks: Sequence[Task], progress: ProgressFn | None = None) -> list[TaskResult]:
        if not tasks:
            return []
        results: list[TaskResult | None] = [None] * len(tasks)
        ctx = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=min(self.n_workers, len(tasks)), mp_context=ctx)
        try:
            futures = {pool.submit(execute, i, task): i for i, task in enumerate(tasks)}
            for done, future in enumerate(cf.as_completed(futures), start=1):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:  # worker crashed or the result would not pickle
                    results[i] = _failure(i, tasks[i], exc)
                if progress is not None:
                    progress(results[i], done, len(tasks))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return results  # type: ignore[return-value]


class RayEngine:
    """Runs the tasks on a Ray cluster (``address=None``: start or join a local one).

    ``num_gpus_per_task`` (fractions allowed) and ``num_cpus_per_task`` reserve
    resources per task, which is how several folds share or spread over GPUs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_gpus_per_task: float = 0.0, num_cpus_per_task: float = 1.0) -> None:
        for label, value in (("num_gpus_per_task", num_gpus_per_task), ("num_cpus_per_task", num_cpus_per_task)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{label}={value!r} must be a number >= 0")
        self.address = address
        self.num_gpus_per_task = num_gpus_per_task
        self.num_cpus_per_task = num_cpus_per_task

    @staticmethod
    def _ray():
        try:
            import ray
        except ImportError:
            raise ConfigError("engine='ray' needs Ray, which is not installed; run `pip install .[ray]`") from None
        return ray

    def _runtime_env(self) -> dict | None:
        """A cluster this process starts gets the driver's import path, as spawned processes
        do, so a task function from a script or test module imports in the workers; a remote
        cluster (``address``) is expected to have the project installed."""
        if self.address is not None:
            return None
        paths = [p for p in sys.path if p and Path(p).is_dir()]
        return {"env_vars": {"PYTHONPATH": os.pathsep.join([str(Path.cwd()), *paths])}}

    def run(self, tasks: Sequence[Task], progress: ProgressFn | None = None) -> list[TaskResult]:
        ray = self._ray()
        if not tasks:
            return []
        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False,
                     runtime_env=self._runtime_env())
        remote = ray.remote(num_gpus=self.num_gpus_per_task, num_cpus=self.num_cpus_per_task)(execute)
        refs = [remote.remote(i, task) for i, task in enumerate(tasks)]
        position = {ref: i for i, ref in enumerate(refs)}
        results: list[TaskResult | None] = [None] * len(tasks)
        pending = list(refs)
        try:
            done = 0
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                i = position[ready[0]]
                try:
                    results[i] = ray.get(ready[0])
                except Exception as exc:  # worker died, task cancelled, object lost
                    results[i] = _failure(i, tasks[i], exc)
                done += 1
                if progress is not None:
                    progress(results[i], done, len(tasks))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results  # type: ignore[return-value]


def make_engine(
    name: str = "local", n_workers: int = 1, ray_address: str | None = None, num_gpus_per_task: float = 0.0
) -> LocalEngine | ProcessEngine | RayEngine:
    """The engine for a `RunConfig`'s ``engine``/``n_workers``/``ray_address`` settings."""
    if name == "local":
        return LocalEngine()
    if name == "processes":
        return ProcessEngine(n_workers)
    if name == "ray":
        engine = RayEngine(ray_address, num_gpus_per_task=num_gpus_per_task)
        engine._ray()  # fail early with the install hint
        return engine
    raise ConfigError(f"engine={name!r} is unknown; use one of ['local', 'processes', 'ray']")


def failures(results: Sequence[TaskResult]) -> list[TaskResult]:
    """The failed results, in task order."""
    return [r for r in results if not r.ok]


__all__ = ["LocalEngine", "ProcessEngine", "RayEngine", "Task", "TaskResult", "execute", "failures", "make_engine"]
