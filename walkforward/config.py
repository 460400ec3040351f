"""The run configuration: one frozen `RunConfig`, loaded from defaults, TOML and CLI flags.

Precedence is "CLI flags override TOML values override defaults" (`RunConfig.from_sources`).
TOML is read with `tomllib`, which parses data and never evaluates code; unknown keys and
wrong types are refused with the key named, so a typo never silently falls back to a
default. `fingerprint()` identifies the settings that change results, which is how a run
directory knows whether a rerun may resume it.

TOML layout: the fields below as top-level keys, plus tables ``[verdict]`` (thresholds),
``[friction]``, ``[account]`` and ``[trainer]`` (overrides passed on to those configs).
Relative ``data`` and ``out`` paths in a TOML file are relative to that file::

    mode = "quick_test"
    folds = 6
    symbols = ["AAPL", "MSFT"]
    [verdict]
    deploy_pf = 1.5
    [trainer]
    total_steps = 2_000_000
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest.errors import ConfigError
from reports.verdict import RETIRED as RETIRED_VERDICT_KEYS
from reports.verdict import VerdictThresholds  # one definition of the thresholds, shared with reports

MODES = ("smoke", "quick_test", "standard", "production", "extended")
SCHEMES = ("rolling", "anchored")
ASSET_CLASSES = ("auto", "equity", "crypto", "fx")
DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("local", "processes", "ray")
PDT_MODES = ("auto", "on", "off")
#: Most folds per symbol a run accepts (each fold trains a policy; more is almost surely a typo).
MAX_FOLDS = 1000
#: Fields that change how a run is executed or shown, never its fold results (the verdict
#: thresholds are applied when the summary is built, so new ones need no retraining).
NON_RESULT_FIELDS = ("data", "out", "quiet", "verbose", "engine", "n_workers", "ray_address", "verdict")
_OVERRIDE_TABLES = ("friction", "account", "trainer")


@dataclass(frozen=True)
class RunConfig:
    """Everything `walkforward run` needs; frozen, validated, JSON-able (not hashable: the
    override tables are dicts; use `fingerprint()` as its identity)."""

    data: tuple[str, ...] = ()  # bar files or directories; empty: the bundled sample data
    out: str = "runs/latest"  # run directory (created; resumed when the settings match)
    mode: str = "smoke"  # training budget: smoke|quick_test|standard|production|extended
    folds: int = 5  # walk-forward folds (test segments) per symbol
    scheme: str = "rolling"  # rolling (fixed train size) or anchored (train grows from the start)
    train_size: int | str | None = None  # bars or duration ("365D"); None: derived from data and folds
    val_size: int | str | None = None  # bars or duration; None: same as test_size / derived
    test_size: int | str | None = None  # bars or duration; None: derived from data and folds
    embargo: int | str | None = None  # gap between segments, >= window + reward horizon; None: minimum
    symbols: tuple[str, ...] | None = None  # symbols to run; None: every symbol in the data
    asset_class: str = "auto"  # auto (from the data/symbol) or force equity|crypto|fx
    keep_extended: bool = False  # keep equity bars outside regular sessions (pre/after market)
    device: str = "auto"  # auto (CUDA when available), cpu or cuda
    engine: str = "local"  # local (sequential), processes (local pool) or ray (cluster)
    n_workers: int = 1  # worker processes for engine=processes
    ray_address: str | None = None  # Ray cluster address for engine=ray; None: start/attach locally
    seed: int = 0  # master seed: training, slippage draws, random-policy baseline
    threads: int = 1  # torch CPU threads per fold; fixed, because float sums differ with the thread count
    quiet: bool = False  # print only errors and the final summary
    verbose: bool = False  # print per-fold training progress
    warm_start: bool = False  # initialise each fold's policy from the previous fold's checkpoint
    n_random_seeds: int = 100  # seeds of the random-policy baseline (model percentile among them)
    null_draws: int = 1000  # draws of the timing null per fold (p-value resolution 1/(draws+1))
    pdt: str = "auto"  # pattern-day-trader rule: auto (equities before 2026-06-04), on, off
    verdict: VerdictThresholds = field(default_factory=VerdictThresholds)  # DEPLOY/PAPER thresholds
    friction: dict[str, Any] = field(default_factory=dict)  # overrides of the friction config fields
    account: dict[str, Any] = field(default_factory=dict)  # overrides of the account config fields
    trainer: dict[str, Any] = field(default_factory=dict)  # overrides of the trainer config (total_steps...)

    def __post_init__(self) -> None:
        _coerce_fields(self, "")
        for name, allowed in (
            ("mode", MODES), ("scheme", SCHEMES), ("asset_class", ASSET_CLASSES),
            ("device", DEVICES), ("engine", ENGINES), ("pdt", PDT_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r} is unknown; use one of {list(allowed)}")
        for name, minimum, hint in (
            ("folds", 1, "e.g. --folds 5"), ("n_workers", 1, "e.g. the number of CPU cores or GPUs"),
            ("seed", 0, "any non-negative integer"), ("n_random_seeds", 1, "e.g. 100"),
            ("threads", 1, "e.g. 1, or the cores per worker"),
            ("null_draws", 20, "fewer than 20 draws cannot give a p-value of 0.05; e.g. 1000"),
        ):
            if getattr(self, name) < minimum:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= {minimum}; {hint}")
        if self.folds > MAX_FOLDS:  # every fold retrains a policy: thousands are a typo, not a plan
            raise ConfigError(f"folds={self.folds!r} is more than {MAX_FOLDS} walk-forward folds per symbol "
                              "(each retrains a PPO policy); use e.g. --folds 5 to 20")
        for name in ("train_size", "val_size", "test_size", "embargo"):
            value = getattr(self, name)
            if isinstance(value, str) and value.strip().isdigit():  # "500" from a CLI flag means bars
                value = int(value)
                object.__setattr__(self, name, value)
            if isinstance(value, int) and value < 1:
                raise ConfigError(f'{name}={value!r} must be a positive number of bars or a duration like "90D"')
        if self.quiet and self.verbose:
            raise ConfigError("quiet=True and verbose=True contradict each other; pick one of -q / -v")
        if not self.out:
            raise ConfigError("out='' is empty; give a run directory, e.g. --out runs/my_run")
        if self.symbols is not None and not self.symbols:
            raise ConfigError("symbols is empty; list at least one symbol or leave it unset for all")
        for table in _OVERRIDE_TABLES:
            _check_overrides(table, getattr(self, table))
        _check_trainer_keys(self.trainer)

    # ---- construction ---------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "RunConfig":
        """Build from a plain dict (TOML or manifest); unknown keys are refused by name."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of settings, got {type(data).__name__}")
        _reject_unknown(data, cls, source, "")
        verdict = data.get("verdict")
        if isinstance(verdict, dict):
            _reject_unknown_verdict(verdict, source)
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_sources(cls, toml_path: str | Path | None = None, cli_overrides: dict[str, Any] | None = None) -> "RunConfig":
        """Defaults, then the TOML file, then CLI flags (``None`` values mean "flag not given").

        ``cli_overrides`` maps field names to values (``{"folds": 3, "mode": None}``);
        other keys are refused like unknown TOML keys.

        Tables (``verdict``, ``friction``, ``account``, ``trainer``) merge key by key;
        other values replace.
        """
        merged: dict[str, Any] = load_toml(toml_path) if toml_path is not None else {}
        source = "command line" if toml_path is None else f"{toml_path} (with command-line flags)"
        for key, value in (cli_overrides or {}).items():
            if value is None:
                continue
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return cls.from_dict(merged, source=source)

    # ---- serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists); `from_dict` round-trips it."""
        out = dataclasses.asdict(self)
        out["data"] = list(self.data)
        out["symbols"] = None if self.symbols is None else list(self.symbols)
        return json.loads(json.dumps(out))

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the settings that affect results.

        Left out: where the data and output live (the data's content is hashed
        separately) and how the run is executed or printed (`NON_RESULT_FIELDS`).
        """
        payload = {k: v for k, v in self.to_dict().items() if k not in NON_RESULT_FIELDS}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML run config into a dict of known keys (types checked by `RunConfig`)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist; check the --config path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    _reject_unknown(data, RunConfig, str(path), "")
    if isinstance(data.get("verdict"), dict):
        _reject_unknown_verdict(data["verdict"], str(path))
    return _relative_to(data, path.parent)


def _relative_to(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative ``data`` and ``out`` paths in a TOML file mean relative to that file."""
    out = dict(data)
    if isinstance(out.get("out"), str) and out["out"] and not Path(out["out"]).is_absolute():
        out["out"] = str(base / out["out"])
    data_value = out.get("data")
    if isinstance(data_value, str):
        data_value = [data_value]
    if isinstance(data_value, list) and all(isinstance(v, str) for v in data_value):
        out["data"] = [v if Path(v).is_absolute() else str(base / v) for v in data_value]
    return out


# ---- validation helpers ------------------------------------------------------------
def _reject_unknown(data: dict, cls: type, source: str, prefix: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key {prefix + unknown[0]!r}; known keys: {', '.join(names)}")


def _reject_unknown_verdict(values: dict, source: str) -> None:
    """Unknown ``[verdict]`` keys, and v1 names with what replaced them."""
    for key in values:
        if key in RETIRED_VERDICT_KEYS:
            raise ConfigError(f"{source}: verdict.{key} no longer exists: {RETIRED_VERDICT_KEYS[key]}; remove it")
    _reject_unknown(values, VerdictThresholds, source, "verdict.")


def _coerce_fields(obj: Any, prefix: str) -> None:
    """Check every field against its annotation; lists become tuples, ints floats."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = _coerce(prefix + f.name, getattr(obj, f.name), hints[f.name])
        object.__setattr__(obj, f.name, value)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        ok, converted = _try_type(value, option)
        if ok:
            return converted
    wanted = " or ".join(_type_name(o) for o in options)
    raise ConfigError(f"{key}={value!r} has the wrong type ({type(value).__name__}); expected {wanted}")


def _try_type(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        if isinstance(value, str):  # "AAPL,MSFT" from the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return ok, tuple(value) if ok else value
    if origin is dict:
        return isinstance(value, dict), dict(value) if isinstance(value, dict) else value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return True, value
        if isinstance(value, dict):
            return True, _build_table(value, hint)
    return False, value


def _build_table(values: dict, cls: type) -> Any:
    """A nested config table (``[verdict]``) as its dataclass, each value type-checked."""
    _reject_unknown_verdict(values, "config")
    hints = typing.get_type_hints(cls)
    return cls(**{k: _coerce(f"verdict.{k}", v, hints[k]) for k, v in values.items()})


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "nothing (unset)"
    if typing.get_origin(hint) is tuple:
        return "a list of strings"
    if typing.get_origin(hint) is dict:
        return "a table"
    return getattr(hint, "__name__", str(hint))


def _check_overrides(table: str, values: dict) -> None:
    """Override tables hold scalars, lists of scalars or nested tables, under identifier keys."""
    for key, value in values.items():
        name = f"{table}.{key}"
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(f"{name!r} is not a valid setting name; use the config field's name")
        if isinstance(value, dict):
            _check_overrides(name, value)
            continue
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (bool, int, float, str)) for v in items):
            raise ConfigError(
                f"{name}={value!r} has the wrong type ({type(value).__name__}); "
                f"expected a number, string, boolean, a list of them or a table"
            )


def _check_trainer_keys(trainer: dict) -> None:
    """Trainer overrides must name `models.config.TrainConfig` fields (mode and seed come from the run)."""
    if not trainer:
        return
    from models.config import TrainConfig

    allowed = sorted({f.name for f in dataclasses.fields(TrainConfig)} - {"mode", "seed"})
    unknown = sorted(set(trainer) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key {'trainer.' + unknown[0]!r}; known keys: {', '.join(allowed)}")
    try:  # values too, up front: a bad --steps must not fail every fold after the run started
        TrainConfig(**trainer)
    except ConfigError as exc:
        raise ConfigError(f"trainer override {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"trainer overrides {trainer!r} hold a value of the wrong type ({exc})") from None


__all__ = ["MAX_FOLDS", "MODES", "NON_RESULT_FIELDS", "RunConfig", "VerdictThresholds", "load_toml"]
