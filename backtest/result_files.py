"""The results format, in one place: how every file of a run directory (and of a backtest's
output) is written and read.

- Atomic writes (`atomic_file`, `write_bytes`, `write_text`, `write_csv`): a temporary file
  in the same directory, fsynced, moved into place with `os.replace`, the directory entry
  fsynced; a crash leaves the old file or the new one, never a torn one. Files are 0644
  (run directories are meant to be shared).
- Strict JSON (`to_jsonable`, `from_jsonable`, `dumps`, `write_json`, `read_json`): no NaN or
  Infinity in a file (``inf`` is the string ``"inf"``, NaN is ``null``), numpy values and
  timestamps as plain JSON.
- Directory names for symbols (`safe_name`).
- Versions of the packages results depend on, this one's own included (`package_versions`).
- The CSV columns of ``trades.csv`` and ``equity.csv``, and the one ``equity.csv`` builder
  (`equity_frame`, action ids or names).
- `FoldRecord`: the typed ``result.json``, written by `walkforward` and read by `reports`.

It sits in `backtest`, the lowest package, because every package writes results:
`walkforward` (run directories), `reports` (pages, summary.json), `models` (checkpoints).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import DataError

TRADES_CSV_COLUMNS = ("entry_time", "exit_time", "side", "quantity", "entry_price", "exit_price",
                      "gross_pnl", "slippage", "spread", "impact", "commission", "net_pnl", "return")
EQUITY_CSV_COLUMNS = ("timestamp", "equity", "cash", "position", "close", "action")
#: This package's distribution name, recorded with the versions.
PACKAGE = "rl-walkforward"
_VERSIONED = ("numpy", "pandas", "torch", "numba", "scipy", "exchange-calendars")
_MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


# ---- atomic writes --------------------------------------------------------------------
@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and moved onto
    ``path``. For writers that want a file name (``torch.save(obj, tmp)``); on error the
    temporary file is removed and ``path`` keeps its old content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    """A table as CSV (no index), atomically."""
    return write_text(path, frame.to_csv(index=False))


# ---- strict JSON --------------------------------------------------------------------------
def to_jsonable(obj: Any) -> Any:
    """Recursively make obj strict-JSON safe: inf -> "inf", -inf -> "-inf", NaN -> None;
    numpy values, tuples, timestamps and paths as plain JSON values."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, range):
        return [obj.start, obj.stop]
    return obj


def from_jsonable(obj: Any) -> Any:
    """Inverse of `to_jsonable` for numbers: "inf"/"-inf" strings become floats."""
    if isinstance(obj, dict):
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if obj == "inf":
        return math.inf
    if obj == "-inf":
        return -math.inf
    return obj


def dumps(obj: Any, indent: int | None = 1) -> str:
    """Strict JSON text with sorted keys (the same object gives the same bytes)."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, dumps(obj))


def read_json(path: str | Path) -> Any:
    """A JSON file written by `write_json` ("inf" back to floats); an unreadable one is a
    `DataError` naming it (a missing one stays `FileNotFoundError`)."""
    try:
        return from_jsonable(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc}); rerun the command that wrote it") from exc


# ---- names and versions ---------------------------------------------------------------------
def safe_name(name: str) -> str:
    """A directory name for a symbol: ``[A-Za-z0-9._-]`` only, no leading dot, <= 64 chars.

    When anything had to change, a short hash of the real name is appended, so two
    symbols never share a directory (``BTC/USD`` -> ``BTC_USD-<hash>``, not ``BTC_USD``).
    The real name is kept in the JSON files.

    >>> safe_name("AAPL"), safe_name("BRK/B") != safe_name("BRK_B")
    ('AAPL', True)
    """
    text = str(name)
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode())
    cleaned = cleaned.lstrip(".")[: _MAX_NAME - 9]
    if cleaned == text and cleaned and cleaned.upper().split(".")[0] not in _WINDOWS_RESERVED:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned or 'symbol'}-{digest}"


def package_versions() -> dict[str, str | None]:
    """Python, this package and the numeric packages results depend on (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in (PACKAGE, *_VERSIONED):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# ---- trades.csv and equity.csv ----------------------------------------------------------------
def equity_frame(bars, sim, actions=None, names: bool = False) -> pd.DataFrame:
    """The ``equity.csv`` table of a `backtest.simulator.SimResult`: one row per bar of its
    segment, marked at the close. ``action`` is ``actions`` (the decisions; default: what the
    simulator executed, the last one its internal CLOSE when positions were closed at the
    end), as ids, or as names with ``names``."""
    acts = np.asarray(sim.actions if actions is None else actions, dtype=np.int64)
    if names:
        meanings = np.asarray(tuple(sim.config.account.action_space.meanings) + ("CLOSE",), dtype=object)
        acts = meanings[acts]
    return pd.DataFrame({"timestamp": bars.index[sim.start:sim.stop], "equity": sim.equity, "cash": sim.cash,
                         "position": sim.position, "close": bars.close[sim.start:sim.stop], "action": acts},
                        columns=list(EQUITY_CSV_COLUMNS))


# ---- result.json ----------------------------------------------------------------------------
RESULT_FORMAT = 2


@dataclass(frozen=True)
class FoldRecord:
    """One completed fold (``<SYMBOL_DIR>/fold_<k>/result.json``, written last: its presence
    marks the fold complete). docs/INTERNALS.md lists what each field holds."""

    symbol: str
    fold: int
    test_start: str
    test_end: str
    initial_equity: float | None = None  # the fold account's equity before its first bar (None: the manifest's)
    fold_start: str | None = None  # flat (a fresh account) or carry (the previous fold's account); None: older runs
    start_position: float | None = None  # units held before the first bar (0 flat; carried in with carry)
    bars_per_year: float | None = None
    pdt_rejections: int = 0
    action_meanings: list | None = None
    segments: dict | None = None  # train/val/test/warmup bar ranges [start, stop)
    train_start: str | None = None
    train_end: str | None = None
    val_start: str | None = None
    val_end: str | None = None
    test_stop: str | None = None  # first bar after the test segment (None: it ends the data)
    baselines: dict = field(default_factory=dict)
    cost_sensitivity: dict | None = None
    test: dict | None = None  # net_return, trades, pf, costs, max_drawdown of the test
    data_hash: str | None = None
    input_hash: str | None = None
    training_log: list = field(default_factory=list)
    validation_history: list = field(default_factory=list)
    best_validation: dict | None = None
    global_step: int | None = None
    train_config: dict | None = None
    checkpoint: str | None = None
    warm_start_from: str | None = None
    figures: dict | None = None  # the selected checkpoint's pf/net_return/sharpe/trades on train, val and test
    reward: str | None = None  # the reward it was trained with (models.reward.RewardConfig.describe)
    learning_notes: list | None = None  # signs that training did not learn (walkforward.learning_check)
    source: dict | None = None  # evaluate: the actions file
    format_version: int = RESULT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> "FoldRecord":
        """Read back a result.json (keys of other versions are ignored); a file that is not a
        fold result is a `DataError` naming it."""
        rerun = "rerun `walkforward run` to rewrite this fold"
        if not isinstance(data, dict) or type(data.get("fold")) is not int or not isinstance(data.get("symbol"), str):
            raise DataError(f"{where}: not a fold result (a JSON object with a string 'symbol' and an integer "
                            f"'fold'); {rerun}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("test_start", "test_end"):
            if not isinstance(values.get(key), str):
                raise DataError(f"{where}: {key!r} is missing or not a time; {rerun}")
        for key, kind in (("baselines", dict), ("training_log", list), ("validation_history", list)):
            if key in values and not isinstance(values[key], kind):
                raise DataError(f"{where}: {key!r} is not a {kind.__name__}; {rerun}")
        return cls(**values)


__all__ = ["EQUITY_CSV_COLUMNS", "FoldRecord", "PACKAGE", "RESULT_FORMAT", "TRADES_CSV_COLUMNS", "atomic_file",
           "dumps", "equity_frame", "from_jsonable", "package_versions", "read_json", "safe_name", "to_jsonable",
           "write_bytes", "write_csv", "write_json", "write_text"]
