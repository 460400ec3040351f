"""Numba's on-disk cache, keyed by everything a kernel depends on.

Numba stamps a cached kernel with a hash of the one file that defines it. Our kernels
also inline jitable functions from other files (`backtest.costs`, `backtest.pdt`,
`backtest.rng`, `backtest.arith`, the account features, `backtest.kernel` inside
`models.fast_runner`'s) and freeze the module
constants they read (`backtest.state.PDT_MAX_DAY_TRADES`, `backtest.account.BUY`...)
into their machine code, so an edit to any of those files left the cached kernel stale:
with ``PDT_MAX_DAY_TRADES`` changed from 3 to 2 the cached kernel still allowed 3 day
trades, and tests could pass against old code.

`install` (called by ``backtest/__init__.py``, before any kernel is defined) puts cache
locators in front of numba's own that, for functions defined in this project, replace
the stamp with a sha256 over the defining file AND every project file it imports,
transitively: the static import graph (``import`` and ``from ... import`` lines
anywhere in a file, inside functions too; package ``__init__`` files on the way
included). Every constant a kernel compiles in is defined in one of those files, so
any edit to them changes the stamp, and numba's own index check recompiles the kernel
at its next call, writing the new machine code then. Nothing is deleted or written at
import time. The stamp holds file contents only, never paths or times, so a copied
tree (a wheel, a CI cache, a temporary copy) keeps valid caches.

Where the files go is numba's rule: ``NUMBA_CACHE_DIR`` when set, else the module's
``__pycache__``, else (read-only install) the user-wide cache directory.
``NUMBA_CACHE_LOCATOR_CLASSES`` (numba's override of the locator list) bypasses this.
The stamp of one file's kernels is computed once per process, at the first kernel
definition in that file (a few files read and parsed: about 10 ms for all of
`backtest`, measured in BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from numba.core import caching

#: Bump to invalidate every cached kernel of the project (e.g. when the stamp's rule changes).
STAMP_VERSION = 1


def _module_file(root: Path, dotted: str) -> Path | None:
    """The source file of module ``dotted`` under ``root`` (a module or a package), if any."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: ``import a.b as c, d`` and ``from .x import (y, z)`` at the start of a line, any indentation
#: (imports inside functions count). Import-like lines in docstrings only add files: harmless.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]*))",
                     re.M)


def _names(text: str) -> list[str]:
    return [part.split(" as ")[0].strip() for part in text.strip("() \t\n").replace("\n", " ").split(",")
            if part.strip()]


@functools.lru_cache(maxsize=None)
def _imports(path: Path, root: Path) -> frozenset[Path]:
    """Project files ``path`` imports, directly: every import statement, package inits included."""
    source = path.read_text(encoding="utf-8").replace("\\\n", " ")
    package = list(path.relative_to(root).with_suffix("").parts[:-1])  # where relative imports start
    names: list[str] = []
    for dots, module, what, plain in _IMPORT.findall(source):
        if plain:
            names += _names(plain)
            continue
        base = ".".join(package[: len(package) - (len(dots) - 1)] + [module] if dots else [module]).strip(".")
        names.append(base)
        names += [f"{base}.{n}" for n in _names(what)]  # submodules imported by name
    found: set[Path] = set()
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):  # the package inits on the way, then the module
            f = _module_file(root, ".".join(parts[:k]))
            if f is not None:
                found.add(f)
    return frozenset(found)


@functools.lru_cache(maxsize=None)
def dependency_files(path: str, root: str) -> tuple[Path, ...]:
    """``path`` and every project file under ``root`` it imports, transitively, sorted."""
    root_p = Path(root)
    seen: set[Path] = set()
    todo = [Path(path)]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_imports(f, root_p) - seen)
    return tuple(sorted(seen, key=lambda p: p.relative_to(root_p).as_posix()))


@functools.lru_cache(maxsize=None)
def dependency_digest(path: str, root: str) -> str:
    """sha256 over the relative names and contents of `dependency_files` (no paths, no times)."""
    import numpy

    h = hashlib.sha256(f"deps-v{STAMP_VERSION} numpy {numpy.__version__}\n".encode())
    root_p = Path(root)
    for f in dependency_files(path, root):
        data = f.read_bytes()
        h.update(f"{f.relative_to(root_p).as_posix()} {len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()


def _project_root(py_func, py_file: str) -> Path | None:
    """The directory holding the top-level package of ``py_func``'s module, when it is ours."""
    top = (getattr(py_func, "__module__", None) or "").split(".")[0]
    if top not in _PACKAGES:
        return None
    path = Path(py_file).resolve()
    for parent in path.parents:
        if parent.name == top and (parent / "__init__.py").is_file():
            return parent.parent
    return None


class _DependencyStamp:
    """Mixin: the source stamp is `dependency_digest` of the defining file."""

    _dep_root: Path

    def get_source_stamp(self):
        return dependency_digest(str(Path(self._py_file).resolve()), str(self._dep_root))

    @classmethod
    def from_function(cls, py_func, py_file):
        root = _project_root(py_func, py_file)
        if root is None:
            return None  # not ours: numba's own locators take it
        self = super().from_function(py_func, py_file)
        if self is not None:
            self._dep_root = root
        return self


class UserProvidedDependencyLocator(_DependencyStamp, caching.UserProvidedCacheLocator):
    """``NUMBA_CACHE_DIR`` set: files there, dependency stamp."""


class InTreeDependencyLocator(_DependencyStamp, caching.InTreeCacheLocator):
    """The module's ``__pycache__``, dependency stamp."""


class UserWideDependencyLocator(_DependencyStamp, caching.UserWideCacheLocator):
    """Read-only install: the user-wide cache directory, dependency stamp."""


LOCATORS = (UserProvidedDependencyLocator, InTreeDependencyLocator, UserWideDependencyLocator)
_PACKAGES = {"backtest", "models", "walkforward", "reports", "benchmarks"}


def install() -> None:
    """Put `LOCATORS` first in numba's locator list (idempotent). Call before kernels are defined."""
    classes = caching.CacheImpl._locator_classes
    if classes[: len(LOCATORS)] != list(LOCATORS):
        classes[:] = list(LOCATORS) + [c for c in classes if c not in LOCATORS]


def stamp_of(func) -> str | None:
    """The dependency stamp a cached kernel (numba dispatcher) of this project is keyed by."""
    cache = getattr(func, "_cache", None)
    locator = getattr(getattr(cache, "_impl", None), "locator", None)
    return locator.get_source_stamp() if isinstance(locator, _DependencyStamp) else None


__all__ = ["LOCATORS", "STAMP_VERSION", "dependency_digest", "dependency_files", "install", "stamp_of"]
