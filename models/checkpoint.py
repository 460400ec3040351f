"""Self-describing checkpoints (DESIGN 3.6 contract): data only, never code.

A checkpoint is a dict of tensors and plain Python values (str, numbers, bool, None,
lists, dicts), written atomically (temp file + `os.replace`) and read only with
`torch.load(weights_only=True)`, whose restricted unpickler refuses any other object,
so a crafted file cannot run code. Contents:

    format, format_version, config (TrainConfig as dict), schema (dict) + schema_class,
    normaliser (arrays as tensors), action_meanings, network {hidden, n_actions,
    state_dict}, optimizers {actor, critic}, global_step, update, validation_history,
    best_validation, rng (torch RNG states), versions, data_hash, fold_id, created_utc,
    world (format 2).

``world`` is the world the policy was trained and selected in, so that a backtest of the
checkpoint outside its run trades as its fold did (DESIGN 3.6): ``account``
(`backtest.account.AccountConfig` fields), ``friction`` (`backtest.costs.FrictionConfig`
of its symbol's class), ``pdt``, ``seed`` (the slippage draws' key), ``asset_class``,
``reward`` (`models.reward.RewardConfig`), ``resolution`` (what ``auto`` became:
device, trainer, machine), ``window``, ``symbol`` and ``segments``. Format 1 files (no
world) still load; `world_of` then warns that defaults are assumed.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

import numpy as np
import torch

from backtest.errors import CheckpointError, SchemaMismatchError
from backtest.result_files import atomic_file, package_versions

FORMAT = "rl-walkforward-checkpoint"
FORMAT_VERSION = 2
#: Versions this release reads (1: before checkpoints carried their world).
READABLE_VERSIONS = (1, 2)
REQUIRED_KEYS = ("format", "format_version", "config", "schema", "schema_class", "action_meanings",
                 "network", "global_step", "update", "validation_history")
#: Schema classes a checkpoint may name; nothing else is ever imported from a file's contents.
_SCHEMA_CLASSES = {
    "backtest.features.FeatureSchema": ("backtest.features", "FeatureSchema"),
    "backtest.features.schema.FeatureSchema": ("backtest.features", "FeatureSchema"),
    "models.network.SimpleSchema": ("models.network", "SimpleSchema"),
}


def to_plain(obj):
    """numpy arrays -> tensors, numpy scalars -> Python numbers, tuples -> lists, recursively."""
    if isinstance(obj, dict):  # int keys stay ints: optimiser state is keyed by parameter index
        return {(k if isinstance(k, (str, int)) and not isinstance(k, bool) else str(k)): to_plain(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor) or obj is None:
        return obj
    for kind in (bool, int, float, str):  # exact builtins: subclasses (TorchVersion...) are globals
        if isinstance(obj, kind):
            return kind(obj)
    raise CheckpointError(f"cannot store {type(obj).__name__} value {obj!r} in a checkpoint; "
                          "use tensors, arrays, numbers, strings, lists or dicts")


def _to_numpy(obj):
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_numpy(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.cpu().numpy()
    return obj


def schema_class_name(schema) -> str:
    return f"{type(schema).__module__}.{type(schema).__qualname__}"


def schema_from_dict(class_name: str, data: dict):
    """Rebuild a schema from its dict, for the whitelisted schema classes only."""
    if class_name not in _SCHEMA_CLASSES:
        raise CheckpointError(f"checkpoint names schema class {class_name!r}; known: {sorted(_SCHEMA_CLASSES)}")
    import importlib

    module, name = _SCHEMA_CLASSES[class_name]
    return getattr(importlib.import_module(module), name).from_dict(_to_numpy(data))


def normaliser_from_dict(data):
    """Rebuild the Normaliser (or return the plain dict if that module is unavailable)."""
    if data is None:
        return None
    data = _to_numpy(data)
    try:
        from backtest.normaliser import Normaliser
    except ImportError:
        return data
    return Normaliser.from_dict(data)


def build_payload(*, network, config, schema, action_meanings, normaliser=None, optimizers=None,
                  global_step: int = 0, update: int = 0, validation_history=(), best_validation=None,
                  rng=None, data_hash: str | None = None, fold_id=None, world: dict | None = None) -> dict:
    """The checkpoint dict (everything converted to tensors and plain values)."""
    if len(action_meanings) != network.n_actions:
        raise CheckpointError(f"action_meanings has {len(action_meanings)} names but the network has "
                              f"{network.n_actions} actions; pass one name per action")
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict() if hasattr(config, "to_dict") else dict(config),
        "schema": schema.to_dict(),
        "schema_class": schema_class_name(schema),
        "normaliser": normaliser.to_dict() if hasattr(normaliser, "to_dict") else normaliser,
        "action_meanings": [str(a) for a in action_meanings],
        "network": {"hidden": list(network.hidden), "n_actions": network.n_actions,
                    "market_dim": network.market_dim, "n_account": network.n_account, "state_dict": state},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "global_step": int(global_step),
        "update": int(update),
        "validation_history": list(validation_history),
        "best_validation": best_validation,
        "rng": rng,
        "versions": package_versions(),
        "data_hash": data_hash,
        "fold_id": fold_id,
        "world": world,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return to_plain(payload)


def save_checkpoint(path, **kwargs) -> Path:
    """Write a checkpoint atomically (`backtest.result_files.atomic_file`: temp file, fsync,
    rename); keyword arguments as `build_payload`. Returns the path."""
    payload = kwargs.pop("payload", None) or build_payload(**kwargs)
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _refusal_reason(exc: BaseException) -> str:
    """The unpickler's own reason on one line, without torch's advice to allowlist or to
    load with weights_only=False (both wrong for an untrusted file)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
        text = text.split(" Please use", 1)[0]
    text = " ".join(text.split())
    return text[:200] or type(exc).__name__


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read and validate a checkpoint; anything but our data format raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; pass the path of a checkpoint.pt")
    try:
        with warnings.catch_warnings():  # foreign pickles warn about their protocol; we refuse them anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to parse a user's file is a bad checkpoint
        reason = _refusal_reason(exc)
        raise CheckpointError(f"checkpoint {str(path)!r} is not a readable data-only checkpoint "
                              f"(refused by torch.load(weights_only=True): {reason}); "
                              "only files written by this suite are accepted") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} is not an {FORMAT} file; was it written by another tool?")
    if data.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(f"checkpoint {str(path)!r} has format_version={data.get('format_version')!r}; "
                              f"this version reads {', '.join(map(str, READABLE_VERSIONS))}; retrain or use a "
                              "matching release")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} is incomplete: missing {missing}")
    _check_types(data, path)
    return data


def _check_types(data: dict, path: Path) -> None:
    """Refuse a file whose keys are right but whose values have the wrong shape (a foreign or
    crafted checkpoint), so readers never fail with a TypeError deep inside."""
    net = data["network"]
    checks = (
        ("config", isinstance(data["config"], dict)),
        ("schema", isinstance(data["schema"], dict)),
        ("schema_class", isinstance(data["schema_class"], str)),
        ("action_meanings", isinstance(data["action_meanings"], list)
         and all(isinstance(a, str) for a in data["action_meanings"])),
        ("network", isinstance(net, dict) and isinstance(net.get("state_dict"), dict)
         and all(isinstance(t, torch.Tensor) for t in net["state_dict"].values())
         and isinstance(net.get("hidden"), list) and all(type(h) is int for h in net["hidden"])
         and type(net.get("n_actions")) is int),
        ("global_step", type(data["global_step"]) is int),
        ("update", type(data["update"]) is int),
        ("validation_history", isinstance(data["validation_history"], list)),
        ("best_validation", isinstance(data.get("best_validation"), (dict, type(None)))),
        ("world", isinstance(data.get("world"), (dict, type(None)))),
    )
    bad = [name for name, ok in checks if not ok]
    if bad:
        raise CheckpointError(f"checkpoint {str(path)!r} has malformed {', '.join(bad)}; "
                              "it was not written by this suite (or was edited); retrain or use the original file")


def build_network(data: dict, device="cpu"):
    """The ActorCritic described by a loaded checkpoint, weights restored, in eval mode."""
    from models.network import ActorCritic

    schema = schema_from_dict(data["schema_class"], data["schema"])
    net_info = data["network"]
    net = ActorCritic(schema, net_info["n_actions"], tuple(net_info["hidden"]))
    try:
        net.load_state_dict(net_info["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint network weights do not fit hidden={net_info['hidden']}: "
                              f"{str(exc).splitlines()[0]}") from exc
    return net.to(device).eval(), schema


def check_architecture(data: dict, network, schema) -> None:
    """Refuse resuming into a network or schema of a different shape, naming the difference."""
    info = data["network"]
    diffs = []
    for key, mine in (("hidden", list(network.hidden)), ("n_actions", network.n_actions),
                      ("market_dim", network.market_dim), ("n_account", network.n_account)):
        if info.get(key) != mine:
            diffs.append(f"{key}: checkpoint {info.get(key)!r} vs now {mine!r}")
    version = data["schema"].get("version")
    if version != getattr(schema, "version", None):
        diffs.append(f"schema version: checkpoint {version!r} vs now {getattr(schema, 'version', None)!r}")
    if diffs:
        raise SchemaMismatchError("cannot resume: architecture differs (" + "; ".join(diffs) +
                                  "); use the same config and schema, or start a fresh run directory")


def world_of(data: dict, path=None) -> dict | None:
    """The checkpoint's world (module doc), or None with a warning for a file written before
    checkpoints carried it: its account, costs and PDT mode are then unknown and the caller's
    defaults are assumed."""
    world = data.get("world")
    if world is None:
        warnings.warn(f"checkpoint {str(path) if path else ''} records no account, costs or PDT mode (written before "
                      "format 2); the defaults (or the flags and --config given) are assumed, so a backtest may "
                      "not trade as its fold did", UserWarning, stacklevel=2)
    return world
