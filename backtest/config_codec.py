"""Typed configs from plain tables and back: one codec for TOML, manifests and checkpoints.

Every config of the suite is a frozen dataclass validated in ``__post_init__`` (DESIGN 4).
`build` makes one from a table (a TOML section, a manifest's JSON, a checkpoint's stored
dict), field by field: each value is checked against the field's annotation, nested
dataclass fields are built recursively, fields not given keep the ``base`` instance's value
(or the default), and an unknown key or a bad value is refused with its full dotted name
(``friction.spread.sprd``) and the known keys. `to_plain` is the inverse: JSON-able values
that `build` accepts back unchanged.

    >>> from backtest.account import AccountConfig
    >>> build(AccountConfig, {"max_position": 0.1}, "account").max_position
    0.1
    >>> build(AccountConfig, {"max_positon": 0.1}, "account")
    Traceback (most recent call last):
    backtest.errors.ConfigError: unknown key 'account.max_positon'; known keys: initial_equity, safety_buffer, base_allocation, max_position, allow_short, fractional, include_close_action, min_order_notional
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

import numpy as np

from backtest.errors import ConfigError


def _init_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def to_plain(obj: Any) -> Any:
    """A dataclass (nested) as JSON-able values: dicts of its init fields, tuples as lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in _init_fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def check_keys(cls, data: Mapping, where: str, exclude: tuple[str, ...] = ()) -> None:
    """Refuse a key that is not an init field of ``cls`` (or is ``exclude``d), naming it."""
    known = [f.name for f in _init_fields(cls) if f.name not in exclude]
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown key {f'{where}.{key}' if where else str(key)!r}; known keys: {', '.join(known)}")


def build(cls, data: Any, where: str, base: Any = None, exclude: tuple[str, ...] = ()):
    """An instance of dataclass ``cls`` from the (partial) table ``data``; see the module doc.

    ``base``: the instance whose values fill the fields ``data`` does not give (default: the
    class defaults). ``exclude``: field names a user may not set here.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table of settings, got {type(data).__name__} {data!r}")
    check_keys(cls, data, where, exclude)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in _init_fields(cls):
        if f.name not in data:
            continue
        key = f"{where}.{f.name}" if where else f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            values[f.name] = build(hint, data[f.name], key, getattr(base, f.name) if base is not None else None)
        else:
            values[f.name] = coerce(key, data[f.name], hint)
    try:
        return dataclasses.replace(base, **values) if base is not None else cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where and not str(exc).startswith(where) else str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` as the annotation ``hint`` wants it (ints are floats where floats are wanted,
    lists tuples), or `ConfigError` naming ``key``."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    for option in options:
        ok, converted = _try_type(value, option)
        if ok:
            return converted
    wanted = " or ".join(_type_name(o) for o in options)
    raise ConfigError(f"{key}={value!r} has the wrong type ({type(value).__name__}); expected {wanted}")


def _try_type(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, (bool, np.bool_)), bool(value) if isinstance(value, (bool, np.bool_)) else value
    if hint is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        return ok, int(value) if ok else value
    if hint is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        if isinstance(value, str) and inner is str:  # "AAPL,MSFT" from the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            return False, value
        out = []
        for v in value:
            ok, c = _try_type(v, inner)
            if not ok:
                return False, value
            out.append(c)
        return True, tuple(out)
    if origin is dict or hint is dict:
        return isinstance(value, Mapping), dict(value) if isinstance(value, Mapping) else value
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint), value
    return False, value


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "nothing (unset)"
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        return f"a list of {_type_name(args[0]) if args else 'values'}"
    if origin is dict or hint is dict:
        return "a table"
    return getattr(hint, "__name__", str(hint))


__all__ = ["build", "check_keys", "coerce", "to_plain"]
