"""The feature schema: the model's input contract.

A `FeatureSchema` names every market feature (in column order) with its formula
(`kind`), parameters and look-back, the window length ``W`` and the account
features. Its `version` is a hash of all of that, saved in every checkpoint, so a
backtest can prove it feeds the model the layout it was trained on. Nothing in the
code base infers a layout from ``obs_dim``: two different schemas can share one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from backtest.errors import ConfigError, SchemaMismatchError

#: Account features of DESIGN 3.2, in observation order (`backtest.account_features`).
DEFAULT_ACCOUNT_FEATURES = (
    "position_fraction",
    "cash_share",
    "unrealised_return",
    "bars_in_position",
    "day_trades_left",
)

#: Default window length W (market rows per observation).
DEFAULT_WINDOW = 100

_SCHEMA_FORMAT = 1
#: Revision of the registered formulas' code. Bump it whenever a formula's values change
#: for the same spec: it is hashed into every version, so old checkpoints are refused
#: instead of silently fed different numbers.
FORMULAS_REVISION = 1


def _canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal content gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _freeze(value: Any) -> Any:
    """Lists become tuples (recursively) so a spec's params cannot change after hashing."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class FrozenParams(dict):
    """A read-only dict of formula parameters (picklable, unlike a mappingproxy)."""

    def _read_only(self, *args, **kwargs):
        raise TypeError("FeatureSpec.params is read-only; build a new FeatureSpec instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only  # type: ignore

    def __reduce__(self):
        return (FrozenParams, (dict(self),))


@dataclass(frozen=True)
class FeatureSpec:
    """One market feature (one column of the feature matrix)."""

    name: str
    """Column name, unique within a schema (e.g. ``rsi_14``)."""
    group: str
    """Family it belongs to (``base``, ``calendar``, ``regime``, ...), for summaries."""
    kind: str
    """Formula identifier in the feature registry (e.g. ``rsi``)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Formula parameters (JSON scalars), e.g. ``{"n": 14}``."""
    lookback: int = 0
    """Bars before this one that the value needs; earlier rows hold the neutral value."""
    doc: str = ""
    """One line: formula and window. Documentation only, not part of the version hash."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"FeatureSpec.name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.lookback, int) or self.lookback < 0:
            raise ConfigError(
                f"FeatureSpec {self.name!r}: lookback must be an integer >= 0, got {self.lookback!r}"
            )
        params = dict(self.params)
        try:
            _canonical_json(params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"FeatureSpec {self.name!r}: params must be JSON scalars/lists, got {params!r} ({exc})"
            ) from exc
        object.__setattr__(self, "params", FrozenParams({k: _freeze(v) for k, v in params.items()}))

    def identity(self) -> dict[str, Any]:
        """The fields that define the feature's values (hashed into the version)."""
        return {
            "name": self.name,
            "group": self.group,
            "kind": self.kind,
            "params": dict(self.params),
            "lookback": self.lookback,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.identity(), "doc": self.doc}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSpec":
        return cls(
            name=data["name"],
            group=data["group"],
            kind=data["kind"],
            params=dict(data.get("params", {})),
            lookback=int(data.get("lookback", 0)),
            doc=str(data.get("doc", "")),
        )


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered market features, window ``W`` and account features; see module doc."""

    features: tuple[FeatureSpec, ...]
    """Market features in column order."""
    window: int = DEFAULT_WINDOW
    """W: market rows (bars t-W .. t-1) in one observation."""
    account_features: tuple[str, ...] = DEFAULT_ACCOUNT_FEATURES
    """Account feature names appended once per observation (`backtest.account_features`)."""
    version: str = field(init=False, compare=False)
    """sha256 of the canonical JSON of everything above (docs excluded)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "account_features", tuple(self.account_features))
        if not isinstance(self.window, int) or isinstance(self.window, bool) or self.window < 1:
            raise ConfigError(f"FeatureSchema.window must be an integer >= 1, got {self.window!r}")
        if not self.features:
            raise ConfigError("FeatureSchema.features is empty: a schema needs at least one market feature")
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"FeatureSchema: duplicate feature names {dupes}; names must be unique")
        from backtest.account_features import ACCOUNT_FEATURE_NAMES

        unknown = [a for a in self.account_features if a not in ACCOUNT_FEATURE_NAMES]
        if unknown:
            raise ConfigError(
                f"FeatureSchema.account_features: unknown {unknown}; choose from {list(ACCOUNT_FEATURE_NAMES)}"
            )
        digest = hashlib.sha256(_canonical_json(self._identity()).encode("ascii")).hexdigest()
        object.__setattr__(self, "version", digest)

    def _identity(self) -> dict[str, Any]:
        return {
            "format": _SCHEMA_FORMAT,
            "formulas": FORMULAS_REVISION,
            "window": self.window,
            "features": [f.identity() for f in self.features],
            "account_features": list(self.account_features),
        }

    # --- derived sizes -------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def groups(self) -> dict[str, int]:
        """Feature count per group, in first-appearance order."""
        out: dict[str, int] = {}
        for f in self.features:
            out[f.group] = out.get(f.group, 0) + 1
        return out

    @property
    def n_market(self) -> int:
        return len(self.features)

    @property
    def n_account(self) -> int:
        return len(self.account_features)

    @property
    def obs_dim(self) -> int:
        return self.window * self.n_market + self.n_account

    @property
    def max_lookback(self) -> int:
        return max(f.lookback for f in self.features)

    @property
    def warmup_bars(self) -> int:
        """First bar index a decision may be taken at: W rows, each past its look-back."""
        return self.window + self.max_lookback

    def index_of(self, name: str) -> int:
        """Column of feature ``name``."""
        for i, f in enumerate(self.features):
            if f.name == name:
                return i
        raise KeyError(f"no feature named {name!r} in the schema; known: {list(self.names)}")

    # --- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (safe inside a ``weights_only`` torch checkpoint)."""
        return {
            "format": _SCHEMA_FORMAT,
            "formulas_revision": FORMULAS_REVISION,
            "version": self.version,
            "window": self.window,
            "account_features": list(self.account_features),
            "features": [f.to_dict() for f in self.features],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSchema":
        """Rebuild a schema; refuses a dict whose stored version does not match its content."""
        fmt = data.get("format", _SCHEMA_FORMAT)
        if fmt != _SCHEMA_FORMAT:
            raise SchemaMismatchError(
                f"feature schema format {fmt!r} is not supported (this code reads format {_SCHEMA_FORMAT})"
            )
        revision = data.get("formulas_revision", FORMULAS_REVISION)
        if revision != FORMULAS_REVISION:
            raise SchemaMismatchError(
                f"feature schema was written with feature formulas revision {revision!r}; this code "
                f"computes revision {FORMULAS_REVISION}: retrain, or use the code version that trained it"
            )
        schema = cls(
            features=tuple(FeatureSpec.from_dict(f) for f in data["features"]),
            window=int(data["window"]),
            account_features=tuple(data.get("account_features", DEFAULT_ACCOUNT_FEATURES)),
        )
        stored = data.get("version")
        if stored is not None and stored != schema.version:
            raise SchemaMismatchError(
                f"feature schema version {stored[:12]} does not match its content (hash "
                f"{schema.version[:12]}): the schema was edited or written by another code version"
            )
        return schema

    @classmethod
    def from_json(cls, text: str) -> "FeatureSchema":
        return cls.from_dict(json.loads(text))

    # --- comparison ------------------------------------------------------------------
    def differences(self, other: "FeatureSchema") -> list[str]:
        """Human-readable differences from ``other`` (empty when the versions match)."""
        if self.version == other.version:
            return []
        diffs: list[str] = []
        if self.window != other.window:
            diffs.append(f"window: {self.window} vs {other.window}")
        mine = {f.name: f for f in self.features}
        theirs = {f.name: f for f in other.features}
        missing = [n for n in mine if n not in theirs]
        extra = [n for n in theirs if n not in mine]
        if missing:
            diffs.append(f"features only in this schema: {missing}")
        if extra:
            diffs.append(f"features only in the other schema: {extra}")
        for name in mine:
            if name in theirs and mine[name].identity() != theirs[name].identity():
                a, b = mine[name].identity(), theirs[name].identity()
                changed = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
                diffs.append(f"feature {name!r}: " + ", ".join(f"{k} {x!r} vs {y!r}" for k, (x, y) in changed.items()))
        common_mine = [n for n in self.names if n in theirs]
        common_theirs = [n for n in other.names if n in mine]
        if not missing and not extra and common_mine != common_theirs:
            first = next(i for i, (x, y) in enumerate(zip(common_mine, common_theirs)) if x != y)
            diffs.append(f"feature order differs from column {first} ({common_mine[first]!r} vs {common_theirs[first]!r})")
        if self.account_features != other.account_features:
            diffs.append(f"account features: {list(self.account_features)} vs {list(other.account_features)}")
        if not diffs:
            diffs.append(f"version {self.version[:12]} vs {other.version[:12]}")
        return diffs

    def check_compatible(self, other: "FeatureSchema") -> None:
        """Raise `SchemaMismatchError` listing every difference when ``other`` is not this schema."""
        diffs = self.differences(other)
        if diffs:
            raise SchemaMismatchError(
                f"feature schema {self.version[:12]} does not match {other.version[:12]}: "
                + "; ".join(diffs)
                + ". Rebuild features with the checkpoint's schema (FeatureSchema.from_dict(ckpt['schema']))"
            )

    def describe(self) -> str:
        """Short text: version, window, sizes and groups."""
        groups = ", ".join(f"{g} {n}" for g, n in self.groups.items())
        return (
            f"schema {self.version[:12]}: W={self.window}, {self.n_market} market features ({groups}), "
            f"{self.n_account} account features, obs_dim={self.obs_dim}, warmup_bars={self.warmup_bars}"
        )
