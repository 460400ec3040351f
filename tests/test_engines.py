"""Engines: same ordered results locally and in processes; failures recorded, not raised."""

from __future__ import annotations

import math
import operator
import time

import pytest

from backtest.errors import ConfigError
from walkforward.engines import LocalEngine, ProcessEngine, RayEngine, Task, TaskResult, failures, make_engine


def slow_square(x: int, delay: float = 0.0) -> int:
    """Module-level so 'spawn' workers can import it; later tasks finish first."""
    time.sleep(delay)
    return x * x


def interrupt() -> None:
    raise KeyboardInterrupt


def _tasks():
    tasks = [Task(slow_square, (i,), {"delay": 0.02 * (4 - i)}, name=f"SYM/fold_{i}") for i in range(5)]
    tasks.insert(2, Task(operator.truediv, (1, 0), name="bad/fold_0"))
    tasks.append(Task(math.sqrt, (-1.0,), name="bad/fold_1"))
    return tasks


def _summary(results):
    return [(r.index, r.name, r.ok, r.value, r.error) for r in results]


def test_local_engine_results_in_order_with_failures_recorded():
    seen = []
    results = LocalEngine().run(_tasks(), progress=lambda r, done, total: seen.append((r.name, done, total)))
    assert [r.value for r in results if r.ok] == [0, 1, 4, 9, 16]
    bad = failures(results)
    assert [r.name for r in bad] == ["bad/fold_0", "bad/fold_1"]
    assert bad[0].error.startswith("ZeroDivisionError") and "Traceback" in bad[0].traceback
    assert bad[1].error == "ValueError: math domain error"
    assert [r.index for r in results] == list(range(7))
    assert [d for _, d, _ in seen] == list(range(1, 8)) and all(t == 7 for _, _, t in seen)
    assert all(isinstance(r, TaskResult) and r.seconds >= 0 for r in results)


def test_process_engine_matches_local_engine():
    tasks = _tasks()
    seen = []
    local = LocalEngine().run(tasks)
    procs = ProcessEngine(n_workers=2).run(tasks, progress=lambda r, done, total: seen.append(done))
    assert _summary(procs) == _summary(local)
    assert sorted(seen) == list(range(1, 8))


def test_keyboard_interrupt_propagates():
    ran = []
    tasks = [Task(ran.append, (1,)), Task(interrupt), Task(ran.append, (2,))]
    with pytest.raises(KeyboardInterrupt):
        LocalEngine().run(tasks)
    assert ran == [1]  # the run stopped at the interrupt


def test_empty_task_list():
    assert LocalEngine().run([]) == []
    assert ProcessEngine(2).run([]) == []


def test_engine_config_errors():
    with pytest.raises(ConfigError, match="n_workers=0 must be an integer >= 1"):
        ProcessEngine(0)
    with pytest.raises(ConfigError, match="engine='dask' is unknown"):
        make_engine("dask")
    with pytest.raises(ConfigError, match="num_gpus_per_task=-1"):
        RayEngine(num_gpus_per_task=-1)
    assert isinstance(make_engine("local"), LocalEngine)
    assert make_engine("processes", n_workers=3).n_workers == 3


def test_ray_missing_gives_install_hint(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install \.\[ray\]"):
        make_engine("ray")
    with pytest.raises(ConfigError, match=r"pip install \.\[ray\]"):
        RayEngine().run([Task(abs, (1,))])


def test_ray_engine_matches_local_engine():
    ray = pytest.importorskip("ray")
    try:
        results = RayEngine(num_cpus_per_task=1).run(_tasks())
    finally:
        ray.shutdown()
    assert _summary(results) == _summary(LocalEngine().run(_tasks()))


def test_process_worker_crash_is_recorded_not_raised():
    import os

    results = ProcessEngine(n_workers=1).run([Task(os._exit, (3,), name="crash")])
    assert len(results) == 1 and not results[0].ok and "BrokenProcessPool" in results[0].error


class _Ref:
    """A fake object reference: the call to make when `get` asks for it."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class _FakeRay:
    """Just enough of Ray's API to drive `RayEngine` in-process (finishing in reverse order)."""

    def __init__(self):
        self.initialized = False
        self.options = None
        self.cancelled = []

    def is_initialized(self):
        return self.initialized

    def init(self, address=None, **kwargs):
        self.initialized, self.address = True, address

    def remote(self, **options):
        self.options = options

        def wrap(fn):
            return type("Remote", (), {"remote": staticmethod(lambda *args: _Ref(fn, args))})()

        return wrap

    def wait(self, pending, num_returns=1):
        return [pending[-1]], pending[:-1]

    def get(self, ref):
        return ref.fn(*ref.args)

    def cancel(self, ref, force=False):
        self.cancelled.append(ref)


def test_ray_engine_logic_with_fake_ray(monkeypatch):
    import sys

    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    order = []
    results = RayEngine(address="ray://head:10001", num_gpus_per_task=0.5).run(
        _tasks(), progress=lambda r, done, total: order.append(r.index)
    )
    assert fake.address == "ray://head:10001" and fake.options == {"num_gpus": 0.5, "num_cpus": 1.0}
    assert order == list(range(6, -1, -1))  # completion order differs from task order ...
    assert _summary(results) == _summary(LocalEngine().run(_tasks()))  # ... results do not

    def boom(result, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RayEngine().run(_tasks(), progress=boom)
    assert len(fake.cancelled) == 6  # everything still pending was cancelled
