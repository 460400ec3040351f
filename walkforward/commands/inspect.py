"""`walkforward inspect CHECKPOINT [OTHER]`: what a checkpoint holds; with two, what differs.

Reads only through `models.checkpoint.load_checkpoint` (weights_only loading), so
inspecting an untrusted file is safe.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="show a checkpoint's config, schema, size and validation; diff two",
                              description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt to describe")
    p.add_argument("other", type=Path, nargs="?", help="second checkpoint: print the differences")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def checkpoint_of(path) -> str:
    """``path`` when it is not a directory; a directory is refused with the checkpoint it holds
    (a fold directory's ``checkpoint.pt``, or the first of a run or symbol directory's folds)."""
    from backtest.errors import UserError

    folder = Path(path)
    if not folder.is_dir():
        return str(path)
    if (folder / "checkpoint.pt").is_file():
        raise UserError(f"{folder} is a fold directory, not a checkpoint; pass its checkpoint: "
                        f"{folder / 'checkpoint.pt'}")
    found = sorted(folder.glob("fold_*/checkpoint.pt")) or sorted(folder.glob("*/fold_*/checkpoint.pt"))
    hint = f", e.g. {found[0]}" if found else " (this directory holds none)"
    raise UserError(f"{folder} is a directory, not a checkpoint; pass a fold's checkpoint.pt{hint}")


def summarize(path: Path) -> dict:
    """Flat summary of a checkpoint (plain values only)."""
    from models.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint_of(path))
    net = data["network"]
    schema = data["schema"]
    best = data.get("best_validation") or None
    n_params = sum(int(t.numel()) for t in net["state_dict"].values())
    out = {
        "file": str(path),
        "file_bytes": Path(path).stat().st_size,
        "format_version": data["format_version"],
        "mode": data["config"].get("mode"),
        "schema_version": schema.get("version"),
        "window": schema.get("window"),
        "market_inputs": net.get("market_dim"),
        "account_inputs": net.get("n_account"),
        "hidden": list(net["hidden"]),
        "n_actions": net["n_actions"],
        "action_meanings": list(data["action_meanings"]),
        "parameters": n_params,
        "global_step": data["global_step"],
        "updates": data["update"],
        "validations": len(data["validation_history"]),
        "best_validation": {k: v for k, v in best.items() if isinstance(v, (int, float, str, bool))} if best else None,
        "fold_id": data.get("fold_id"),
        "data_hash": data.get("data_hash"),
        "versions": data.get("versions"),
        "created_utc": data.get("created_utc"),
        "has_optimizer_state": bool(data.get("optimizers")),
    }
    out["config"] = dict(data["config"])
    out["world"] = data.get("world")  # account, costs, PDT, seed, reward, resolution (None before format 2)
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def diff(a: dict, b: dict) -> dict:
    """{key: (a value, b value)} for every flattened key that differs (file paths excluded)."""
    fa, fb = _flatten(a), _flatten(b)
    skip = {"file", "created_utc"}
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb))
            if k not in skip and fa.get(k) != fb.get(k)}


def _number(value) -> str:
    """Whole floats (trade counts, steps) without ``.0``, others to 4 significant digits.

    >>> _number(88.0), _number(0.014843329161740915), _number(True), _number("x")
    ('88', '0.01484', 'True', 'x')
    """
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def _text(s: dict) -> str:
    best = s["best_validation"]
    lines = [
        f"checkpoint   {s['file']}  ({s['file_bytes'] / 2**20:.2f} MiB, format v{s['format_version']})",
        f"mode         {s['mode']}   fold {s['fold_id']}   data hash {s['data_hash']}",
        f"schema       {s['schema_version']}  (window {s['window']}, {s['market_inputs']} market + "
        f"{s['account_inputs']} account inputs)",
        f"network      hidden {s['hidden']}  {s['parameters']:,} parameters  actions {s['action_meanings']}",
        f"training     {s['global_step']:,} steps, {s['updates']} updates, {s['validations']} validations",
        "best         " + (", ".join(f"{k}={_number(v)}" for k, v in best.items()) if best else "none"),
        f"versions     {s['versions']}",
        "config       " + ", ".join(f"{k}={v}" for k, v in s["config"].items()),
    ]
    world = s.get("world")
    if world is None:
        lines.append("world        not recorded (format 1): a backtest assumes the default account, costs and PDT")
        return "\n".join(lines)
    res = world.get("resolution") or {}
    lines += [
        f"world        {world.get('symbol')} ({world.get('asset_class')}), PDT {world.get('pdt')}, slippage seed "
        f"{world.get('seed')}, window {world.get('window')}",
        "account      " + ", ".join(f"{k}={_number(v)}" for k, v in (world.get("account") or {}).items()),
        "friction     " + "; ".join(f"{m}: " + ", ".join(f"{k}={_number(v)}" for k, v in p.items())
                                    for m, p in (world.get("friction") or {}).items()),
        "reward       " + _reward_label(world.get("reward")) + ": "
        + ", ".join(f"{k}={_number(v)}" for k, v in (world.get("reward") or {}).items()),
        f"resolved     device {res.get('device')}, n_envs {(res.get('trainer') or {}).get('n_envs')}, hidden "
        f"{(res.get('trainer') or {}).get('hidden')}, amp {(res.get('trainer') or {}).get('amp')}, machine "
        f"{res.get('machine')}",
    ]
    return "\n".join(lines)


def _reward_label(reward: dict | None) -> str:
    """The reward preset a checkpoint was trained with (``custom`` for other weights)."""
    from backtest.errors import ConfigError
    from models.reward import RewardConfig

    try:
        return RewardConfig(**(reward or {})).preset_name
    except (ConfigError, TypeError):
        return "unreadable"


def run(args) -> int:
    first = summarize(args.checkpoint)
    if args.other is None:
        print(json.dumps(first, indent=1, default=str) if args.json else _text(first))
        return 0
    second = summarize(args.other)
    changes = diff(first, second)
    if args.json:
        print(json.dumps({k: {"a": a, "b": b} for k, (a, b) in changes.items()}, indent=1, default=str))
    elif not changes:
        print("no differences (besides file names and creation time)")
    else:
        print(f"differences  A={args.checkpoint}  B={args.other}")
        width = max(len(k) for k in changes)
        for k, (a, b) in changes.items():
            print(f"  {k:<{width}}  {a!r}  ->  {b!r}")
    return 0
