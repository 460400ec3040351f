"""`walkforward backtest (CHECKPOINT | --baseline NAME) DATA... [--out DIR] [--config FILE.toml]`.

Backtests each symbol of DATA through the friction-aware simulator and writes
``<out>/<SYMBOL>/trades.csv`` and ``equity.csv`` (atomic writes), then prints profit
factor, net return, max drawdown, trades, costs by component and PDT rejections.

``--baseline buy_hold|random|flat`` runs a baseline policy; without it the first
path is a CHECKPOINT: loaded data-only (``weights_only``), its feature schema and
normaliser rebuild the observations, and `models.fast_runner.run_policy` decides at every
bar of ``[--start, --stop)`` (default: everything after the feature warm-up; dates or
bar indices). A checkpoint backtest writes files only with ``--out``.

A checkpoint trades in the world it was trained in (DESIGN 3.6): its account, costs (when
DATA is of the asset class it was trained on), PDT mode and slippage seed. ``--config``
(its ``[account]``, ``[friction]``, ``pdt`` and ``seed``) and the flags ``--pdt``/``--seed``
override them, and every setting that then differs from the checkpoint's is printed. With
the same data, segment and settings, the backtest reproduces the fold's ``trades.csv`` and
``equity.csv`` byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path

from backtest.errors import UserError

_BASELINES = ("buy_hold", "random", "flat")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
_DEFAULT_OUT = "backtest_out"


def _load_policy(checkpoint: str):
    """Load the checkpoint's policy (``torch.load(weights_only=True)``: data, never code) before
    any data is read, refusing checkpoints the backtest cannot rebuild observations for."""
    from backtest.features import FeatureSchema
    from models.policy import load_policy

    from walkforward.commands.inspect import checkpoint_of

    policy = load_policy(checkpoint_of(checkpoint))
    if not isinstance(policy.schema, FeatureSchema):
        raise UserError(f"walkforward backtest: checkpoint {checkpoint} was trained on a "
                        f"{type(policy.schema).__name__} (no feature formulas); only checkpoints trained on "
                        "bar features (a FeatureSchema) can be backtested on DATA")
    if policy.normaliser is None:
        raise UserError(f"walkforward backtest: checkpoint {checkpoint} holds no feature normaliser; "
                        "re-save it from the run that trained it")
    return policy


def _flat(d, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def world_settings(policy, world: dict | None, asset_class: str, args) -> tuple:
    """``(SimConfig, differences)`` for a checkpoint backtest on DATA of ``asset_class``: the
    checkpoint's ``world`` (`models.checkpoint.world_of`; None: defaults), then ``--config``,
    then flags; ``differences`` lists each setting that differs from the checkpoint's, and why."""
    from backtest.account import AccountConfig
    from backtest.config_codec import build, to_plain
    from backtest.costs import FrictionConfig
    from backtest.simulator import SimConfig

    notes = []
    if world is not None:
        account = build(AccountConfig, world["account"], "checkpoint account")
        pdt, seed = world["pdt"], int(world["seed"])
        if world.get("asset_class") == asset_class:
            friction = build(FrictionConfig, world["friction"], "checkpoint friction")
        else:
            friction = FrictionConfig.for_asset_class(asset_class)
            notes.append(f"costs: the checkpoint trained on {world.get('asset_class')} bars and DATA is {asset_class}: "
                         f"the {asset_class} defaults are used")
    else:
        account = AccountConfig(include_close_action="CLOSE" in policy.action_meanings)
        friction, pdt, seed = FrictionConfig.for_asset_class(asset_class), "auto", 0
    base = {"account": to_plain(account), "friction": to_plain(friction), "pdt": pdt, "seed": seed}
    account, friction, pdt, seed, source = _overrides(account, friction, pdt, seed, args)
    config = SimConfig(account=account, friction=friction, pdt=pdt, seed=seed)
    policy.check(expected_actions=account.action_space.meanings)
    if world is not None:
        now = _flat({"account": to_plain(account), "friction": to_plain(friction), "pdt": pdt, "seed": seed})
        for key, was in _flat(base).items():
            if now[key] != was:
                notes.append(f"{key}: checkpoint {was!r} -> {now[key]!r} ({source.get(key.split('.')[0], 'flag')})")
    return config, notes


def _overrides(account, friction, pdt, seed, args):
    """Apply ``--config`` (its [account], [friction], pdt, seed) and then the flags."""
    from backtest.account import AccountConfig
    from backtest.config_codec import build
    from backtest.costs import FrictionConfig

    source = {}
    if getattr(args, "config", None):
        from walkforward.config import RunConfig, load_toml

        RunConfig.from_sources(args.config)  # the whole file is validated, typos refused by name
        table = load_toml(args.config)
        if "account" in table:
            account, source["account"] = build(AccountConfig, table["account"], "account", base=account), "--config"
        if "friction" in table:
            friction = build(FrictionConfig, table["friction"], "friction", base=friction)
            source["friction"] = "--config"
        if "pdt" in table:
            pdt, source["pdt"] = table["pdt"], "--config"
        if "seed" in table:
            seed, source["seed"] = int(table["seed"]), "--config"
    if args.pdt is not None:
        pdt, source["pdt"] = args.pdt, "--pdt"
    if args.seed is not None:
        seed, source["seed"] = int(args.seed), "--seed"
    return account, friction, pdt, seed, source


def _bar_index(bars, value: str | None, name: str, default: int) -> int:
    """A --start/--stop value: a bar index (integer) or a date/time (first bar at or after it)."""
    import pandas as pd

    if value is None:
        return default
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        i = int(text)
        return i + len(bars) if i < 0 else i
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise UserError(f"walkforward backtest: --{name} {value!r} is neither a bar index nor a date; "
                        "use e.g. 2023-06-01 or 5000") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(bars.index.searchsorted(ts, side="left"))


def _segment(bars, schema, args) -> tuple[int, int]:
    """Decision bars ``[start, stop)``: by default every bar after the warm-up."""
    warm, n = schema.warmup_bars, len(bars)
    if n <= warm:
        raise UserError(f"walkforward backtest: {bars.symbol} has {n} bars but the checkpoint's features need "
                        f"{warm} bars of warm-up (window {schema.window} + look-back) before the first decision; "
                        "give a longer history")
    start = _bar_index(bars, args.start, "start", warm)
    stop = _bar_index(bars, args.stop, "stop", n)
    if start < warm:
        raise UserError(f"walkforward backtest: --start {args.start} is bar {start} of {bars.symbol}, inside the "
                        f"{warm}-bar warm-up; the first allowed decision is bar {warm} ({bars.index[warm]})")
    if not start < min(stop, n):
        raise UserError(f"walkforward backtest: empty segment for {bars.symbol}: --start {args.start} -> bar "
                        f"{start}, --stop {args.stop} -> bar {stop}, {n} bars")
    return start, min(stop, n)


def _checkpoint_run(policy, bars, config, args):
    """Features with the checkpoint's schema and normaliser, then `models.fast_runner.run_policy`."""
    from backtest.features import compute_features
    from backtest.observation import BacktestObservationBuilder
    from models.fast_runner import run_policy

    start, stop = _segment(bars, policy.schema, args)
    feats = compute_features(bars, policy.schema)
    builder = BacktestObservationBuilder(feats, policy.schema, policy.normaliser, config.account, n_bars=len(bars))
    if builder.schema.obs_dim != policy.obs_dim:
        raise UserError(f"walkforward backtest: observations have {builder.schema.obs_dim} values but the "
                        f"checkpoint expects {policy.obs_dim}")
    return run_policy(policy, builder, bars, config, start, stop, close_at_end=True)


def _split_paths(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    paths = list(args.paths)
    if args.baseline is not None:
        if paths and Path(paths[0]).suffix.lower() in _CHECKPOINT_SUFFIXES:
            raise UserError(f"walkforward backtest: give either a CHECKPOINT ({paths[0]}) or --baseline "
                            f"{args.baseline}, not both")
        return None, paths
    if not paths:
        raise UserError("walkforward backtest: give CHECKPOINT DATA, or --baseline NAME DATA "
                        f"(NAME one of {', '.join(_BASELINES)})")
    return paths[0], paths[1:]


def _check_out(out: Path) -> None:
    """Refuse an --out that cannot be a directory before any work is done."""
    if out.exists() and not out.is_dir():
        raise UserError(f"walkforward backtest: --out {str(out)!r} is a file, not a directory; "
                        "choose another --out")


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    from backtest.account import AccountConfig
    from backtest.baselines import run_baseline
    from backtest.costs import FrictionConfig
    from backtest.simulator import SimConfig
    from backtest.result_files import equity_frame, safe_name, write_csv
    from walkforward.store import discard_on_error

    checkpoint, data = _split_paths(args)
    if args.out is None and checkpoint is None:
        args.out = _DEFAULT_OUT  # baselines always write; a checkpoint backtest only with --out
    if checkpoint is None and (args.start is not None or args.stop is not None):
        raise UserError("walkforward backtest: --start/--stop select a checkpoint's test segment; "
                        "baselines run over the whole series")
    if args.out is not None:
        _check_out(Path(args.out))
    policy = _load_policy(checkpoint) if checkpoint is not None else None
    if args.sample:
        if data:
            raise UserError("walkforward backtest: give DATA or --sample, not both")
        from backtest.sample_data import sample_bars

        series = sample_bars(seed=args.seed or 0)
    elif not data:
        raise UserError("walkforward backtest: give DATA files/directories (or --sample)")
    else:
        from backtest.data import load_bars

        series = load_bars(data, asset_class=None if args.asset_class == "auto" else args.asset_class,
                           keep_extended=args.keep_extended, date_format=args.date_format or "auto")
    configs, notes = {}, []
    if policy is not None:
        from models.checkpoint import world_of

        world = world_of(policy.info, checkpoint)
    for bars in series:  # settings, and a bad segment refused, before anything is printed
        if policy is not None:
            configs[bars.symbol], differences = world_settings(policy, world, bars.asset_class, args)
            _segment(bars, policy.schema, args)
            notes += [f"{bars.symbol}: {d}" for d in differences]
        else:
            account, friction, pdt, seed, _ = _overrides(AccountConfig(), FrictionConfig.for_asset_class(
                bars.asset_class), "auto", 0, args)
            configs[bars.symbol] = SimConfig(account=account, friction=friction, pdt=pdt, seed=seed)
    if policy is not None:
        print("settings that differ from the checkpoint's: " + ("; ".join(notes) if notes else "none")
              + (" (it records no world: defaults assumed)" if policy.info.get("world") is None else ""))
        notes = []
    out = Path(args.out) if args.out is not None else None
    label = args.baseline or Path(checkpoint).name
    print(f"{'symbol':<10} {'policy':<10} {'PF':>7} {'net ret':>9} {'max DD':>8} {'trades':>7} "
          f"{'slippage':>9} {'spread':>9} {'impact':>9} {'commiss.':>9} {'PDT rej':>8}")
    guard = discard_on_error(out) if out is not None else contextlib.nullcontext()
    with guard:  # a failure leaves no partial output directory behind
        for bars in series:
            config = configs[bars.symbol]
            if checkpoint is not None:
                prun = _checkpoint_run(policy, bars, config, args)
                result = prun.sim
                shares = prun.action_counts / max(len(prun.actions), 1)
                first, last = bars.index[result.start], bars.index[result.stop - 1]
                used = " ".join(f"{m} {sh:.0%}" for m, sh in zip(policy.action_meanings, shares) if sh > 0)
                notes.append(f"{bars.symbol}: bars {result.start}..{result.stop - 1} ({first:%Y-%m-%d %H:%M} .. "
                             f"{last:%Y-%m-%d %H:%M} UTC), actions {used}")
            else:
                result = run_baseline(args.baseline, bars, config, seed=config.seed)
            if out is not None:
                folder = out / safe_name(bars.symbol)  # no path traversal from symbol names
                write_csv(folder / "trades.csv", result.trades_frame())
                # action ids, as in a run directory: the policy's decisions, or what the baseline executed
                equity = equity_frame(bars, prun.sim, prun.actions) if checkpoint is not None else equity_frame(bars, result)
                write_csv(folder / "equity.csv", equity)
            s = result.summary()
            print(f"{bars.symbol:<10} {label:<10} {_fmt(s['profit_factor']):>7} {s['net_return']:>9.2%} "
                  f"{s['max_drawdown']:>8.2%} {s['trades']:>7} {s['cost_slippage']:>9.2f} {s['cost_spread']:>9.2f} "
                  f"{s['cost_impact']:>9.2f} {s['cost_commission']:>9.2f} {s['pdt_rejections']:>8}")
    for note in notes:
        print(note)
    if policy is not None:
        info = policy.info
        print(f"checkpoint {checkpoint}: fold {info.get('fold_id')}, step {info.get('global_step')}, "
              f"schema {str(policy.schema.version)[:12]}, data hash {str(info.get('data_hash'))[:12]}")
    if out is not None:
        print(f"wrote trades.csv and equity.csv per symbol under {out}")
    sys.stdout.flush()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "backtest", help="backtest a checkpoint or a baseline policy through the simulator",
        description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", metavar="[CHECKPOINT] DATA",
                        help="a checkpoint (omit with --baseline) followed by bar files or directories")
    parser.add_argument("--baseline", choices=_BASELINES, default=None,
                        help="run a baseline policy instead of a checkpoint")
    parser.add_argument("--out", default=None,
                        help=f"output directory for trades.csv/equity.csv per symbol (baselines default to "
                             f"{_DEFAULT_OUT}; a checkpoint backtest writes only when given)")
    parser.add_argument("--start", default=None,
                        help="checkpoint backtest: first decision bar, as a bar index or a date "
                             "(default: the first bar after the feature warm-up)")
    parser.add_argument("--stop", default=None,
                        help="checkpoint backtest: end of the segment (exclusive), bar index or date (default: end)")
    parser.add_argument("--config", default=None, metavar="FILE.toml",
                        help="override the checkpoint's [account], [friction], pdt and seed (defaults for baselines)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of slippage draws and the random baseline (default: the checkpoint's, else 0)")
    parser.add_argument("--pdt", choices=("auto", "on", "off"), default=None,
                        help="pattern-day-trader rule (default: the checkpoint's, else auto: equities before 2026-06-04)")
    parser.add_argument("--asset-class", default="auto", choices=("auto", "equity", "crypto", "fx"),
                        help="override asset-class detection")
    parser.add_argument("--keep-extended", action="store_true",
                        help="keep equity bars outside regular hours (and FX weekend bars) instead of dropping them")
    parser.add_argument("--sample", action="store_true", help="use the bundled sample data as DATA")
    from walkforward.commands.run import add_date_format_argument

    add_date_format_argument(parser)
    parser.set_defaults(func=run)
