"""`walkforward backtest (CHECKPOINT | --baseline NAME) DATA... [--out DIR] [--seed N]`.

Backtests each symbol of DATA through the friction-aware simulator and writes
``<out>/<SYMBOL>/trades.csv`` and ``equity.csv`` (atomic writes), then prints profit
factor, net return, max drawdown, trades, costs by component and PDT rejections.

``--baseline buy_hold|random|flat`` runs a baseline policy; without it the first
path is a CHECKPOINT (policy backtests plug in at `_checkpoint_actions`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from backtest.errors import UserError

_BASELINES = ("buy_hold", "random", "flat")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def _load_policy(checkpoint: str):
    """Hook for policy backtests (lead): load the checkpoint's policy, before any data is read.

    Until `models.policy.load_policy` and the backtest runner exist, a checkpoint is refused.
    """
    try:
        from models.policy import load_policy  # noqa: F401
    except ImportError:
        raise UserError(
            f"walkforward backtest: checkpoint backtests ({checkpoint}) are not available yet "
            f"(models.policy is not built); use --baseline {'|'.join(_BASELINES)} for now") from None
    raise UserError(f"walkforward backtest: checkpoint backtests ({checkpoint}) are not wired up yet; "
                    f"use --baseline {'|'.join(_BASELINES)}")


def _checkpoint_actions(policy, bars, config):
    """Hook for policy backtests (lead): ``(actions, start)`` of ``policy`` over ``bars``
    (decisions from the schema's warm-up on), e.g. via `backtest.runner`."""
    raise NotImplementedError("policy backtests are wired up with models.policy")


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


def _fmt(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    from backtest.baselines import run_baseline
    from backtest.simulator import SimConfig
    from backtest.trades import write_csv_atomic

    checkpoint, data = _split_paths(args)
    policy = _load_policy(checkpoint) if checkpoint is not None else None
    if args.sample:
        if data:
            raise UserError("walkforward backtest: give DATA or --sample, not both")
        from backtest.sample_data import sample_bars

        series = sample_bars(seed=args.seed)
    elif not data:
        raise UserError("walkforward backtest: give DATA files/directories (or --sample)")
    else:
        from backtest.data import load_bars

        series = load_bars(data, asset_class=None if args.asset_class == "auto" else args.asset_class)
    config = SimConfig(pdt=args.pdt, seed=args.seed)
    out = Path(args.out)
    label = args.baseline or Path(checkpoint).name
    print(f"{'symbol':<10} {'policy':<10} {'PF':>7} {'net ret':>9} {'max DD':>8} {'trades':>7} "
          f"{'slippage':>9} {'spread':>9} {'impact':>9} {'commiss.':>9} {'PDT rej':>8}")
    for bars in series:
        if checkpoint is not None:
            from backtest.simulator import simulate

            actions, start = _checkpoint_actions(policy, bars, config)
            result = simulate(bars, actions, config, start=start)
        else:
            result = run_baseline(args.baseline, bars, config, seed=args.seed)
        folder = out / bars.symbol
        write_csv_atomic(result.trades_frame(), folder / "trades.csv")
        write_csv_atomic(result.equity_frame(), folder / "equity.csv")
        s = result.summary()
        print(f"{bars.symbol:<10} {label:<10} {_fmt(s['profit_factor']):>7} {s['net_return']:>9.2%} "
              f"{s['max_drawdown']:>8.2%} {s['trades']:>7} {s['cost_slippage']:>9.2f} {s['cost_spread']:>9.2f} "
              f"{s['cost_impact']:>9.2f} {s['cost_commission']:>9.2f} {s['pdt_rejections']:>8}")
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
    parser.add_argument("--out", default="backtest_out", help="output directory (default: backtest_out)")
    parser.add_argument("--seed", type=int, default=0, help="seed of slippage draws and the random baseline")
    parser.add_argument("--pdt", choices=("auto", "on", "off"), default="auto",
                        help="pattern-day-trader rule (auto: equities before 2026-06-04)")
    parser.add_argument("--asset-class", default="auto", choices=("auto", "equity", "crypto", "fx"),
                        help="override asset-class detection")
    parser.add_argument("--sample", action="store_true", help="use the bundled sample data as DATA")
    parser.set_defaults(func=run)
