"""The run directory (DESIGN 3.10): atomic writes, the manifest, resumable fold results.

Layout::

    <out>/manifest.json                 config, fingerprint, data hashes, package versions
    <out>/<SYMBOL>/fold_<k>/...         checkpoint.pt, trades.csv, equity.csv, training log
    <out>/<SYMBOL>/fold_<k>/result.json completion marker, written LAST

Every file is written atomically (`backtest.result_files`: a temporary file in the same
directory, fsynced, moved into place), so a crash leaves either the old file or the new
one, never a torn one. A fold is complete only when its ``result.json`` exists and carries the same
input hash as the fold about to run; everything else in the fold directory may be a
leftover of an interrupted run and is overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import ConfigError
from backtest.result_files import (FoldRecord, atomic_file, from_jsonable, package_versions, safe_name, to_jsonable,
                                   write_bytes, write_csv, write_json)

MANIFEST = "manifest.json"
RESULT = "result.json"
MANIFEST_FORMAT = 1


# ---- names and hashes ---------------------------------------------------------------
def data_hash(bars: Any) -> str:
    """sha256 over the index (int64 ns) and the float64 ``open high low close volume`` arrays.

    Accepts a `Bars` or a DataFrame with a DatetimeIndex; metadata and column order of
    other columns do not matter, the numbers do.
    """
    frame = bars.frame if hasattr(bars, "frame") else bars
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(pd.DatetimeIndex(frame.index).asi8, dtype=np.int64).tobytes())
    for col in ("open", "high", "low", "close", "volume"):
        h.update(col.encode())
        h.update(np.ascontiguousarray(frame[col].to_numpy(), dtype=np.float64).tobytes())
    return h.hexdigest()


def canonical_hash(obj: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of a JSON-able object."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def fold_input_hash(config_fingerprint: str, data_hash: str, fold: Any, **extra: Any) -> str:
    """Identity of a fold's inputs: config, data, fold segments (a `Fold` or dict) and extras.

    Pass anything else the fold's result depends on (e.g. the previous fold's
    result hash under warm start) as keyword arguments.
    """
    fold_dict = fold.to_dict() if hasattr(fold, "to_dict") else fold
    return canonical_hash({"config": config_fingerprint, "data": data_hash, "fold": fold_dict, "extra": extra})


def make_manifest(config: Any, data_hashes: dict[str, str], *, fingerprint: str | None = None,
                  **extra: Any) -> dict[str, Any]:
    """The manifest of a run (keys as docs/INTERNALS.md lists them for reports).

    ``config`` is a `RunConfig` (or a dict, fingerprinted by its canonical JSON);
    ``data_hashes`` maps each symbol to `data_hash` of its bars. ``extra`` adds the keys
    the orchestrator knows (``symbols`` entries with their ``dir``, ``initial_equity``,
    ``action_meanings``, ``command``...). Resuming compares only ``config_fingerprint``
    and ``data_hashes``; ``fingerprint`` replaces the config's own when more than the config
    decides the results (`walkforward evaluate`: the actions file too).
    """
    config_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    if fingerprint is None:
        fingerprint = config.fingerprint() if hasattr(config, "fingerprint") else canonical_hash(config_dict)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "config": config_dict,
        "config_fingerprint": fingerprint,
        "data_hashes": dict(sorted(data_hashes.items())),
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if "seed" in config_dict:
        manifest["seed"] = config_dict["seed"]
    if isinstance(config_dict.get("verdict"), dict):
        manifest["verdict_thresholds"] = config_dict["verdict"]
    manifest.update(extra)
    return manifest


class RunStore:
    """Reads and writes one run directory; every path is checked to stay inside it."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir).resolve()
        self.resumed = False  # set by `open_run`: True when an existing run was resumed

    # ---- paths ------------------------------------------------------------------
    def path(self, relpath: str | Path) -> Path:
        """Absolute path of ``relpath`` inside the run; refuses anything escaping it."""
        target = (self.root / relpath).resolve()
        if target != self.root and self.root not in target.parents:
            raise ConfigError(f"path {str(relpath)!r} escapes the run directory {str(self.root)!r}")
        return target

    def symbol_dir(self, symbol: str) -> Path:
        return self.path(safe_name(symbol))

    def fold_dir(self, symbol: str, fold: int) -> Path:
        return self.path(Path(safe_name(symbol)) / f"fold_{int(fold)}")

    # ---- writes -------------------------------------------------------------------
    def write_bytes(self, relpath: str | Path, data: bytes) -> Path:
        return write_bytes(self.path(relpath), data)

    def write_text(self, relpath: str | Path, text: str) -> Path:
        return self.write_bytes(relpath, text.encode("utf-8"))

    def write_json(self, relpath: str | Path, obj: Any) -> Path:
        """Strict JSON (`backtest.result_files`), as reports read it."""
        return write_json(self.path(relpath), obj)

    def atomic_file(self, relpath: str | Path):
        """Context manager: a temp path moved onto ``relpath`` on success (see `atomic_file`)."""
        return atomic_file(self.path(relpath))

    def write_csv(self, relpath: str | Path, frame: pd.DataFrame) -> Path:
        return write_csv(self.path(relpath), frame)

    def read_json(self, relpath: str | Path) -> Any:
        """JSON written by `write_json` ("inf" strings back to floats)."""
        with self.path(relpath).open("r", encoding="utf-8") as fh:
            return from_jsonable(json.load(fh))

    # ---- manifest and folds ----------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def read_manifest(self) -> dict | None:
        """The stored manifest, or None when there is none."""
        return self.read_json(MANIFEST) if self.manifest_path.exists() else None

    def mark_fold_complete(self, symbol: str, fold: int, input_hash: str, result: dict[str, Any]) -> Path:
        """Write the fold's ``result.json`` (call it LAST, after every other file of the fold),
        through the typed record (`backtest.result_files.FoldRecord`: an unknown key fails here,
        at the writer, not in a report)."""
        record = FoldRecord(**{**result, "symbol": symbol, "fold": int(fold), "input_hash": input_hash})
        return self.write_json(Path(safe_name(symbol)) / f"fold_{int(fold)}" / RESULT, record.to_json())

    def fold_result(self, symbol: str, fold: int, input_hash: str | None = None) -> dict | None:
        """The fold's result when it is complete (and, if given, has this input hash); else None."""
        path = self.fold_dir(symbol, fold) / RESULT
        try:
            record = self.read_json(path.relative_to(self.root))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if not isinstance(record, dict):
            return None
        if record.get("symbol") != symbol or record.get("fold") != int(fold):
            return None
        if input_hash is not None and record.get("input_hash") != input_hash:
            return None
        return record

    def is_fold_complete(self, symbol: str, fold: int, input_hash: str) -> bool:
        """True when the fold finished before with exactly these inputs (safe to skip)."""
        return self.fold_result(symbol, fold, input_hash) is not None

    def completed_folds(self) -> dict[str, dict[int, dict]]:
        """``{symbol: {fold: result}}`` of every readable completion marker, real names."""
        out: dict[str, dict[int, dict]] = {}
        if not self.root.is_dir():
            return out
        for marker in sorted(self.root.glob(f"*/fold_*/{RESULT}")):
            try:
                record = from_jsonable(json.loads(marker.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue
            if not isinstance(record, dict):
                continue
            symbol, fold = record.get("symbol"), record.get("fold")
            if (
                isinstance(symbol, str) and isinstance(fold, int)
                and marker.parent.name == f"fold_{fold}" and marker.parent.parent.name == safe_name(symbol)
            ):
                out.setdefault(symbol, {})[fold] = record
        return out


# ---- opening a run -----------------------------------------------------------------
def open_run(out_dir: str | Path, manifest: dict[str, Any], force: bool = False) -> RunStore:
    """Create or resume the run directory for ``manifest`` (see `make_manifest`).

    - missing or empty directory: created, manifest written;
    - a run with the same config fingerprint and data hashes: resumed (``store.resumed``);
    - a different run: `ConfigError`, unless ``force``, which deletes its contents first;
    - a non-empty directory that is not a run: refused even with ``force``.
    """
    store = RunStore(out_dir)
    root = store.root
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {str(out_dir)!r} is a file, not a directory; choose a new --out")
    if root.is_dir() and any(root.iterdir()):
        existing = _read_manifest_or_none(store)
        if existing is None:
            raise ConfigError(
                f"--out {str(out_dir)!r} is not empty and holds no {MANIFEST}; it is not a run directory, "
                f"choose a new --out"
            )
        same = existing.get("config_fingerprint") == manifest.get("config_fingerprint") and existing.get(
            "data_hashes"
        ) == manifest.get("data_hashes")
        if same:
            store.resumed = True
            _update_thresholds(store, existing, manifest)
            return store
        if not force:
            what = "config" if existing.get("config_fingerprint") != manifest.get("config_fingerprint") else "data"
            raise ConfigError(
                f"--out {str(out_dir)!r} holds a run with a different {what} ({manifest_difference(existing, manifest)})"
                f"; use --force to overwrite it or a new --out"
            )
        _clear_dir(root)
    root.mkdir(parents=True, exist_ok=True)
    store.write_json(MANIFEST, manifest)
    return store


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"account.max_position": 0.2, ...}`` of nested dicts (an empty dict is a value)."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    out: dict[str, Any] = {}
    for k, v in value.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


#: Config keys that are not the run's identity (where things live, how it prints).
_NOT_IDENTITY = {"out", "data", "quiet", "verbose", "engine", "n_workers", "ray_address", "device", "date_format"}


def manifest_difference(old: dict, new: dict, limit: int = 4) -> str:
    """What differs between two runs' manifests, for the refusal: ``folds 5 -> 3``, the symbols
    whose data changed, or another actions file."""
    a, b = _flat(old.get("config") or {}), _flat(new.get("config") or {})
    keys = sorted(k for k in set(a) | set(b) if k.split(".")[0] not in _NOT_IDENTITY and a.get(k) != b.get(k))
    parts = [f"{k} {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"{len(keys) - limit} more")
    if (old.get("actions") or {}).get("sha256") != (new.get("actions") or {}).get("sha256"):
        parts.append("another actions file")
    ha, hb = old.get("data_hashes") or {}, new.get("data_hashes") or {}
    changed = sorted(s for s in set(ha) | set(hb) if ha.get(s) != hb.get(s))
    if changed:
        parts.append(f"the data of {', '.join(changed[:limit])}")
    return "; ".join(parts) or "settings that change results"


def _update_thresholds(store: RunStore, existing: dict, manifest: dict) -> None:
    """A resumed run keeps its manifest, except for the verdict thresholds: they change no fold
    result (they are not in the fingerprint), so the new ones are recorded for the summary."""
    new = manifest.get("verdict_thresholds")
    if new is None or new == existing.get("verdict_thresholds"):
        return
    updated = {**existing, "verdict_thresholds": new}
    if isinstance(existing.get("config"), dict):
        updated["config"] = {**existing["config"], "verdict": new}
    store.write_json(MANIFEST, updated)


def _read_manifest_or_none(store: RunStore) -> dict | None:
    try:
        data = store.read_manifest()
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _clear_dir(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@contextlib.contextmanager
def discard_on_error(out_dir: str | Path) -> Iterator[None]:
    """Remove ``out_dir`` if it did not exist before and the block fails before any fold completed.

    Wrap input loading and validation with it so bad input leaves no partial run
    behind. KeyboardInterrupt is not caught: an interrupted run stays resumable.
    """
    root = Path(out_dir).resolve()
    existed = root.exists()
    try:
        yield
    except Exception:
        if not existed and root.is_dir() and not RunStore(root).completed_folds():
            shutil.rmtree(root, ignore_errors=True)
        raise


__all__ = [
    "MANIFEST",
    "RESULT",
    "RunStore",
    "atomic_file",
    "canonical_hash",
    "data_hash",
    "discard_on_error",
    "fold_input_hash",
    "make_manifest",
    "open_run",
    "package_versions",
    "safe_name",
]
