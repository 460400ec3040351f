"""The run configuration: one frozen `RunConfig`, loaded from defaults, TOML and CLI flags.

Precedence is "CLI flags override TOML values override defaults" (`RunConfig.from_sources`).
TOML is read with `tomllib`, which parses data and never evaluates code. The whole
configuration is built and validated before anything is written: every table becomes its
typed config (`backtest.config_codec`), so an unknown key at any level (``friction.spread.
sprd``) or a bad value is refused with its dotted name and the known keys, and a run never
starts only to fail in every fold. `fingerprint()` identifies the settings that change
results, which is how a run directory knows whether a rerun may resume it.

Typed parts: ``account`` (`backtest.account.AccountConfig`), ``reward``
(`models.reward.RewardConfig`, weights summing to 1), ``verdict``
(`reports.verdict.VerdictThresholds`), ``pdt`` and ``window`` (the feature window, giving
`schema()`). Two tables stay overrides because their base depends on what they are applied
to: ``friction`` on top of each asset class's defaults (`friction_for`, validated for all
three classes up front) and ``trainer`` on top of the mode sized for the device
(`models.config.auto_config`, validated against the mode up front).

TOML layout: the fields below as top-level keys, plus tables ``[verdict]``, ``[account]``,
``[reward]``, ``[friction.<model>]`` and ``[trainer]``. Relative ``data`` and ``out`` paths
in a TOML file are relative to that file::

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
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest.account import AccountConfig
from backtest.config_codec import build, check_keys, coerce, to_plain
from backtest.errors import ConfigError
from models.reward import RewardConfig
from reports.verdict import RETIRED as RETIRED_VERDICT_KEYS
from reports.verdict import VerdictThresholds  # one definition of the thresholds, shared with reports

MODES = ("smoke", "cpu", "quick_test", "standard", "production", "extended")
SCHEMES = ("rolling", "anchored")
ASSET_CLASSES = ("auto", "equity", "crypto", "fx")
DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("local", "processes", "ray")
PDT_MODES = ("auto", "on", "off")
#: Most folds per symbol a run accepts (each fold trains a policy; more is almost surely a typo).
MAX_FOLDS = 1000
#: Fields that change how a run is executed or shown, never its fold results. The verdict
#: thresholds are applied when the summary is built (new ones need no retraining); the device
#: is part of the training resolution (`walkforward.training`), which is fingerprinted itself.
NON_RESULT_FIELDS = ("data", "out", "quiet", "verbose", "engine", "n_workers", "ray_address", "verdict", "device",
                     "date_format")
#: Settings that change a run's evidence but never its returns: not part of a trial's identity in
#: the research ledger (`RunConfig.trial_fingerprint`; re-evaluating with more null draws is no
#: new configuration).
NON_TRIAL_FIELDS = ("null_draws", "n_random_seeds")
#: Typed tables: field name -> config class (built from a TOML table, stored as one).
_TYPED = {"verdict": VerdictThresholds, "account": AccountConfig, "reward": RewardConfig}
#: Window and feature set of a mode when the config gives none (others: 100 and ``all``).
#: ``cpu``: 1 bar of the 14 ``compact`` features (14 market inputs): on a planted lag-1
#: world the default 100 x 58 memorised its 858 training bars, and on one fold of it (6 seeds,
#: 1,100 test bars) a 1-bar window beat a 5-bar one (mean test Sharpe 1.22 vs 0.51; BENCHMARKS.md,
#: issue 24).
MODE_WINDOW = {"cpu": 1}
MODE_FEATURES = {"cpu": "compact"}
#: Trainer settings that come from the run itself, not from [trainer].
_TRAINER_FIXED = ("mode", "seed")


@dataclass(frozen=True)
class RunConfig:
    """Everything `walkforward run` (and `evaluate`) needs; frozen, validated whole, JSON-able
    (not hashable: the override tables are dicts; use `fingerprint()` as its identity)."""

    data: tuple[str, ...] = ()  # bar files or directories; empty: the bundled sample data
    out: str = "runs/latest"  # run directory (created; resumed when the settings match)
    mode: str = "smoke"  # training budget: smoke|cpu|quick_test|standard|production|extended
    folds: int = 5  # walk-forward folds (test segments) per symbol
    scheme: str = "rolling"  # rolling (fixed train size) or anchored (train grows from the start)
    train_size: int | str | None = None  # bars or duration ("365D"); None: derived from data and folds
    val_size: int | str | None = None  # bars or duration; None: same as test_size / derived
    test_size: int | str | None = None  # bars or duration; None: derived from data and folds
    embargo: int | str | None = None  # gap between segments, >= window + reward horizon; None: minimum
    symbols: tuple[str, ...] | None = None  # symbols to run; None: every symbol in the data
    asset_class: str = "auto"  # auto (from the data/symbol) or force equity|crypto|fx
    keep_extended: bool = False  # keep equity bars outside regular sessions (pre/after market)
    date_format: str = "auto"  # auto (D/M/Y vs M/D/Y from the whole column), dayfirst, monthfirst or a strptime format
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
    fold_start: str | None = None  # evaluate: carry (default; the position carries into the next test fold) or flat
    pdt: str = "auto"  # pattern-day-trader rule: auto (equities before 2026-06-04), on, off
    window: int | None = None  # feature window W (bars of market features per observation); None: the mode's
    features: str | None = None  # feature set (backtest.features.FEATURE_SETS); None: the mode's
    verdict: VerdictThresholds = field(default_factory=VerdictThresholds)  # verdict thresholds ([verdict])
    account: AccountConfig = field(default_factory=AccountConfig)  # sizing rules and actions ([account])
    reward: RewardConfig = field(default_factory=RewardConfig)  # training reward weights ([reward])
    friction: dict[str, Any] = field(default_factory=dict)  # [friction.<model>] overrides of the class defaults
    trainer: dict[str, Any] = field(default_factory=dict)  # [trainer] overrides of the mode (total_steps...)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _TYPED:
                value = _typed_table(f.name, value)
            else:
                value = coerce(f.name, value, hints[f.name])
            object.__setattr__(self, f.name, value)
        if self.window is None:  # the mode's: a short window of compact features for the CPU budget
            object.__setattr__(self, "window", MODE_WINDOW.get(self.mode, 100))
        if self.features is None:
            object.__setattr__(self, "features", MODE_FEATURES.get(self.mode, "all"))
        from backtest.features import FEATURE_SETS

        if self.features not in FEATURE_SETS:
            raise ConfigError(f"features={self.features!r} is not a feature set; use one of {list(FEATURE_SETS)}")
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
            ("window", 1, "e.g. 100 (the default), or 1 (mode cpu)"),
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
        from backtest.errors import DataError
        from backtest.io_formats import check_date_format

        try:
            check_date_format(self.date_format)
        except DataError as exc:
            raise ConfigError(str(exc)) from None
        if self.fold_start is not None:
            from walkforward.fold_carry import check_fold_start

            check_fold_start(self.fold_start)
        if self.quiet and self.verbose:
            raise ConfigError("quiet=True and verbose=True contradict each other; pick one of -q / -v")
        if not self.out:
            raise ConfigError("out='' is empty; give a run directory, e.g. --out runs/my_run")
        if self.symbols is not None and not self.symbols:
            raise ConfigError("symbols is empty; list at least one symbol or leave it unset for all")
        for asset_class in ASSET_CLASSES[1:]:  # every class a symbol may turn out to be
            self.friction_for(asset_class)
        object.__setattr__(self, "trainer", _trainer_table(self.trainer, self.mode))

    # ---- the typed configs of a run ---------------------------------------------
    def friction_for(self, asset_class: str):
        """`backtest.costs.FrictionConfig`: the class's defaults with the [friction] overrides."""
        from backtest.costs import FrictionConfig

        return build(FrictionConfig, self.friction, "friction", base=FrictionConfig.for_asset_class(asset_class))

    def sim_config(self, asset_class: str):
        """The `backtest.simulator.SimConfig` a symbol of ``asset_class`` trades under."""
        from backtest.simulator import SimConfig

        return SimConfig(account=self.account, friction=self.friction_for(asset_class), pdt=self.pdt, seed=self.seed)

    def schema(self):
        """The feature schema of the run (`backtest.features.named_schema` of `features` with `window`)."""
        from backtest.features import named_schema

        return named_schema(self.features, window=self.window)

    # ---- construction ---------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "RunConfig":
        """Build from a plain dict (TOML or manifest); unknown keys are refused by name."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of settings, got {type(data).__name__}")
        try:
            check_keys(cls, data, "")
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_sources(cls, toml_path: str | Path | None = None, cli_overrides: dict[str, Any] | None = None) -> "RunConfig":
        """Defaults, then the TOML file, then CLI flags (``None`` values mean "flag not given").

        ``cli_overrides`` maps field names to values (``{"folds": 3, "mode": None}``);
        other keys are refused like unknown TOML keys.

        Tables (``verdict``, ``account``, ``reward``, ``friction``, ``trainer``) merge key by
        key; other values replace.
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
        """Plain JSON-able dict (tuples as lists, typed tables as tables); `from_dict`
        round-trips it."""
        return json.loads(json.dumps(to_plain(self)))

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the settings that affect results.

        Left out: where the data and output live (the data's content is hashed
        separately) and how the run is executed or printed (`NON_RESULT_FIELDS`).
        """
        payload = _without_unset(self.to_dict(), NON_RESULT_FIELDS)
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def trial_fingerprint(self) -> str:
        """sha256 of the settings that can change the returns: `fingerprint` without
        `NON_TRIAL_FIELDS` (null draws, random-policy seeds; verdict thresholds are already
        out). Two configurations with the same trial fingerprint are one trial in the ledger."""
        payload = _without_unset(self.to_dict(), NON_RESULT_FIELDS + NON_TRIAL_FIELDS)
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()


#: Settings left out of a fingerprint while unset (None), so that adding them kept the
#: fingerprints of runs made before them: `walkforward run` has no fold start (each fold is its
#: own trained policy, started flat); `walkforward evaluate` resolves it before fingerprinting.
_OMIT_UNSET = ("fold_start",)


def _without_unset(settings: dict[str, Any], leave_out) -> dict[str, Any]:
    return {k: v for k, v in settings.items()
            if k not in leave_out and not (k in _OMIT_UNSET and v is None)}


def warn_few_folds(config: RunConfig) -> None:
    """Fewer folds than the verdict's ``min_folds`` can only give INCONCLUSIVE: said once the
    input is valid, before any training (`walkforward.orchestrator.run_walkforward`, evaluate)."""
    if config.folds < config.verdict.min_folds:
        import warnings

        warnings.warn(f"--folds {config.folds} is below the verdict's min_folds {config.verdict.min_folds}: every "
                      f"symbol will be INCONCLUSIVE; use --folds {config.verdict.min_folds} or more (or lower "
                      f"[verdict] min_folds)", UserWarning, stacklevel=2)


def warn_commission_minimum(config: RunConfig, asset_classes) -> None:
    """A commission minimum ([friction.commission] min_per_order) that binds on the account's
    largest order (BUY_75 of initial_equity) is said before any training, with what it costs
    there in bp a side: a broker's minimum meant for larger accounts can swamp a small one."""
    account = config.account
    largest = float(account.initial_equity * account.buy_fraction * 0.75)
    for ac in sorted(set(asset_classes)):
        com = config.friction_for(ac).commission
        if com.min_per_order > 0 and largest < com.minimum_binds_below():
            import warnings

            warnings.warn(f"[friction.commission] min_per_order {com.min_per_order:g} binds on {ac} orders of this "
                          f"account: {com.min_per_order / largest * 1e4:,.1f} bp a side of its largest "
                          f"({largest:,.2f}, BUY_75 of initial_equity {account.initial_equity:,.0f}); see the round "
                          f"trip with walkforward costs --config FILE.toml, or raise [account] initial_equity",
                          UserWarning, stacklevel=2)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML run config into a dict of known top-level keys (values checked by `RunConfig`)."""
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
    try:
        check_keys(RunConfig, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
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
def _typed_table(name: str, value: Any):
    """A typed table (``[verdict]``, ``[account]``, ``[reward]``) from its TOML/JSON form."""
    cls = _TYPED[name]
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping) and name == "reward" and "preset" in value:
        from models.reward import REWARD_PRESETS

        value = dict(value)
        preset = value.pop("preset")
        if preset not in REWARD_PRESETS:
            raise ConfigError(f"reward.preset={preset!r} is unknown; use one of {list(REWARD_PRESETS)} "
                              "(or give the six weights)")
        value = {**REWARD_PRESETS[preset], **value}
    if isinstance(value, Mapping) and name == "verdict":
        for key in value:
            if key in RETIRED_VERDICT_KEYS:
                raise ConfigError(f"verdict.{key} no longer exists: {RETIRED_VERDICT_KEYS[key]}; remove it")
    return build(cls, value, name)


def _trainer_table(trainer: dict, mode: str) -> dict:
    """[trainer] overrides, checked against `models.config.TrainConfig` on top of ``mode`` (a
    bad --steps must not fail every fold after the run started); a preset name for ``hidden``
    becomes its sizes."""
    from models.config import TrainConfig, mode_config, resolve_hidden

    if not trainer:
        return {}
    table = dict(trainer)
    if isinstance(table.get("hidden"), str):
        table["hidden"] = list(resolve_hidden(table["hidden"]))
    build(TrainConfig, table, "trainer", base=mode_config(mode), exclude=_TRAINER_FIXED)
    return table


__all__ = ["MAX_FOLDS", "MODES", "NON_RESULT_FIELDS", "NON_TRIAL_FIELDS", "RunConfig", "VerdictThresholds", "load_toml"]
