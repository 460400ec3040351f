"""`walkforward costs [--asset-class ...] [--timeframe ...] [--notional 100] [--json]`: the default
round-trip cost of a typical order, by component, per asset class and timeframe.

Measured, not derived: for each asset class and timeframe the real simulator
(`backtest.simulator.Simulator`, the kernel every backtest and the training env use)
runs ``--round-trips`` round trips on representative synthetic bars
(`backtest.sample_data`: XNYS-calendar equities, 24/7 crypto, 24/5 FX; weekly and
monthly bars aggregated from daily ones), each on a fresh account: BUY at one bar's
open for ``--notional`` of quote currency, SELL everything at the next bar's open,
with `backtest.costs.FrictionConfig.for_asset_class` (the defaults) and the
pattern-day-trader rule off (it is no cost). A round trip's cost is the sum over its two
fills of each component in basis points of that fill's notional (quantity x open, so the
price move between the fills does not enter); the table shows the mean over the round
trips, and the largest total.

The synthetic markets are a liquid large-cap share starting at $100 and trading $200
million a day, a coin starting at $30,000 and trading $300 million a day (volumes are
rescaled by price so the money traded a day stays put while the price drifts), and
EUR/USD at 1.08 (tick volume, no impact). Round trips start once the square-root law has its 20 sessions of history.

The default order is the default account's largest (BUY_75 of 1,000: 78.75). ``--config
FILE.toml`` takes a run's TOML instead: its ``[friction.<model>]`` tables on top of each
class's defaults and its ``[account]`` for the default order. A commission minimum or
maximum (`backtest.costs.CommissionModel`) shows in the ``min/max`` column: the share of
fills whose commission the minimum raised / the maximum lowered; a class with a minimum
also gets a line saying below which order size it binds and what it costs in bp there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

import numpy as np

from backtest.account import AccountConfig
from backtest.errors import UserError

ASSET_CLASSES = ("equity", "crypto", "fx")
DEFAULT_TIMEFRAMES = ("15min", "1h", "1D", "1W", "1mo")
#: Representative markets: (start price, shares/coins a day; FX: ticks a day).
MARKETS = {"equity": (100.0, 2_000_000.0), "crypto": (30_000.0, 10_000.0), "fx": (1.08, 50_000.0)}
_END = "2024-01-01"
_HISTORY_DAYS = 45  # calendar days before the first round trip: 20+ sessions of impact history


def typical_order(account: AccountConfig | None = None) -> float:
    """An account's largest order in quote currency: BUY_75 of its initial equity (the default
    account: 1,000 x 0.7 x 0.15 x 0.75 = 78.75)."""
    a = account if account is not None else AccountConfig()
    return float(a.initial_equity * a.buy_fraction * 0.75)


def _calendar_days_per_bar(asset_class: str, tf) -> float:
    import pandas as pd

    from backtest.timeframes import DAY, is_coarse

    if is_coarse(tf):
        return tf / DAY
    if asset_class == "equity":
        bars_per_session = max(1.0, pd.Timedelta(hours=6.5) / tf) if tf < DAY else 1.0
        return (365.25 / 252.0) / bars_per_session
    week = 7.0 / 5.0 if asset_class == "fx" else 1.0
    return week * (tf / DAY)


def market_bars(asset_class: str, timeframe, round_trips: int, seed: int = 0):
    """Synthetic bars of the representative market, long enough for the impact history and
    ``round_trips`` round trips of two bars each."""
    import pandas as pd

    from backtest import sample_data as sd
    from backtest.timeframes import DAY, is_coarse, parse_timeframe_arg

    tf = parse_timeframe_arg(timeframe)
    coarse = is_coarse(tf)
    base_tf = DAY if coarse else tf
    days = _HISTORY_DAYS + (4 * tf / DAY if coarse else 0) + 2.2 * round_trips * _calendar_days_per_bar(asset_class, tf)
    end = pd.Timestamp(_END)
    start = (end - pd.Timedelta(days=math.ceil(days) + 7)).strftime("%Y-%m-%d")
    price, per_day = MARKETS[asset_class]
    hours = 6.5 if asset_class == "equity" else 24.0
    per_bar = per_day if base_tf >= DAY else per_day / max(1.0, pd.Timedelta(hours=hours) / base_tf)
    kw = dict(start=start, end=_END, seed=seed, timeframe=base_tf, start_price=price, base_volume=per_bar)
    gen = {"equity": sd.generate_equity_bars, "crypto": sd.generate_crypto_bars, "fx": sd.generate_fx_bars}
    symbol = {"equity": "EQ", "crypto": "COIN-USD", "fx": "EURUSD"}[asset_class]
    bars = gen[asset_class](symbol, **kw)
    frame = bars.frame.copy()  # the same money traded a day whatever the price has drifted to
    frame["volume"] = np.round(frame["volume"].to_numpy() * (price / frame["close"].to_numpy()), 6)
    bars = dataclasses.replace(bars, frame=frame)
    return sd.coarsen(bars, tf) if coarse else bars


def round_trip_costs(asset_class: str, timeframe, notional: float = 100.0, round_trips: int = 200,
                     seed: int = 0, friction=None) -> dict:
    """Round trips of ``notional`` through the simulator (module docstring); returns the mean
    cost of each component and the total in bp (each fill's cost over its own notional,
    summed over the two fills), the largest total, how many round trips ran and the share of
    fills per impact model."""
    from backtest.account import AccountConfig
    from backtest.costs import IMPACT_NAMES, FrictionConfig
    from backtest.simulator import SimConfig, Simulator
    from backtest.trades import STATUS_FILLED

    bars = market_bars(asset_class, timeframe, round_trips, seed)
    friction = friction if friction is not None else FrictionConfig.for_asset_class(asset_class)
    probe = AccountConfig(include_close_action=True, min_order_notional=0.0)
    space = probe.action_space
    buy = space.meanings.index("BUY_75")
    close = space.meanings.index("CLOSE")
    equity = notional / (probe.buy_fraction * float(space.size[buy]))  # BUY_75 of it is the notional
    account = AccountConfig(initial_equity=equity, include_close_action=True, min_order_notional=0.0)
    sim = Simulator(bars, SimConfig(account=account, friction=friction, pdt="off", seed=seed))
    known = np.flatnonzero(np.isfinite(sim.market.sigma) & np.isfinite(sim.market.adv))
    first = int(known[0]) if len(known) and friction.impact.mode == "auto" else 1
    starts = np.arange(first, len(bars) - 1, 2)[:round_trips]
    if len(starts) == 0:
        raise UserError(f"walkforward costs: no room for a round trip on {asset_class} {timeframe} bars")
    comps = ("slippage", "spread", "impact", "commission")
    per = np.zeros((len(starts), len(comps)))
    models = []
    plain = dataclasses.replace(friction.commission, min_per_order=0.0, max_per_order=0.0, max_per_notional=0.0)
    raised = lowered = 0
    pair = np.array([buy, close], dtype=np.int64)
    for i, t in enumerate(starts):
        sim.reset(int(t))
        fills = sim.run(pair).fills
        if not np.all(fills["status"] == STATUS_FILLED):
            raise UserError(f"walkforward costs: a {asset_class} round trip at bar {t} was not filled "
                            f"(reasons {fills['reason'].tolist()}); try another --notional")
        own = fills["qty"] * fills["ref_price"]  # each fill's notional at the open
        per[i] = [float(np.sum(fills[c] / own)) * 1e4 for c in comps]
        models.extend(IMPACT_NAMES[m] for m in fills["impact_model"])
        fee = plain.cash(fills["qty"], fills["qty"] * fills["exec_price"])  # before the minimum and maximum
        raised += int(np.sum(fills["commission"] > fee))
        lowered += int(np.sum(fills["commission"] < fee))
    total = per.sum(axis=1)
    names, counts = np.unique(np.asarray(models), return_counts=True)
    return {"asset_class": asset_class, "timeframe": bars.timeframe_label, "notional": float(notional),
            "round_trips": int(len(starts)),
            **{f"{c}_bp": float(per[:, j].mean()) for j, c in enumerate(comps)},
            "total_bp": float(total.mean()), "max_total_bp": float(total.max()),
            "commission_min_share": raised / len(models), "commission_max_share": lowered / len(models),
            "impact_models": {str(n): float(k / len(models)) for n, k in zip(names, counts)}}


def _list(text: str | None, allowed: tuple[str, ...] | None, flag: str) -> list[str]:
    items = [s.strip() for s in (text or "").split(",") if s.strip()]
    if not items:
        raise UserError(f"walkforward costs: {flag} {text!r} names nothing")
    if allowed is not None:
        bad = [s for s in items if s not in allowed]
        if bad:
            raise UserError(f"walkforward costs: {flag} {', '.join(bad)}: choose from {', '.join(allowed)}")
    return items


def run(args: argparse.Namespace) -> int:
    from backtest.timeframes import parse_timeframe_arg

    classes = list(ASSET_CLASSES) if args.asset_class in (None, "all") else _list(args.asset_class, ASSET_CLASSES,
                                                                                  "--asset-class")
    frames = _list(args.timeframe, None, "--timeframe") if args.timeframe else list(DEFAULT_TIMEFRAMES)
    for tf in frames:
        try:
            parse_timeframe_arg(tf)
        except (ValueError, TypeError):
            raise UserError(f"walkforward costs: --timeframe {tf!r} is not a timeframe; use e.g. 15min, 1h, 1D, "
                            f"1W, 1mo") from None
    account, frictions = AccountConfig(), {}
    if args.config:
        from walkforward.config import RunConfig

        cfg = RunConfig.from_sources(args.config)  # the whole file is checked; typos refused by name
        account = cfg.account
        frictions = {ac: cfg.friction_for(ac) for ac in classes}
    typical = args.notional is None
    if typical:
        args.notional = typical_order(account)
    if not (math.isfinite(args.notional) and args.notional > 0):
        raise UserError(f"walkforward costs: --notional must be a positive amount, got {args.notional!r}")
    if args.round_trips < 1:
        raise UserError(f"walkforward costs: --round-trips must be at least 1, got {args.round_trips}")
    rows = [round_trip_costs(ac, tf, args.notional, args.round_trips, args.seed, frictions.get(ac))
            for ac in classes for tf in frames]
    if args.json:
        print(json.dumps({"notional": args.notional, "seed": args.seed, "config": args.config, "rows": rows},
                         indent=2))
        return 0
    _print_table(args, rows, account, typical, {ac: frictions.get(ac) for ac in classes})
    return 0


def _amount(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _print_table(args, rows: list[dict], account: AccountConfig, typical: bool, frictions: dict) -> None:
    """The table of `run` (module doc), with a line per class whose commission has a minimum."""
    from backtest.costs import FrictionConfig

    amount = _amount(args.notional)
    which = "the run's" if args.config else "default"
    print(f"{which} round-trip cost of a {amount} order (bp of notional; buy at one bar's open, "
          f"sell at the next; mean of the round trips)")
    if typical:
        who = f"{args.config} [account]'s" if args.config else "the default account's"
        print(f"({amount} is {who} largest order, BUY_75: equity {account.initial_equity:,.0f} x "
              f"(1 - safety_buffer {account.safety_buffer:g}) x base_allocation {account.base_allocation:g} x 0.75; "
              f"--notional sets another)")
    for ac, fr in frictions.items():
        com = (fr or FrictionConfig.for_asset_class(ac)).commission
        if com.min_per_order > 0:
            below = com.minimum_binds_below()
            where = ("every order" if below == math.inf else f"orders below {_amount(round(below, 2))}")
            at = (f"{com.min_per_order / args.notional * 1e4:,.1f} bp a side at {amount}" if args.notional < below
                  else f"not at {amount}")
            print(f"({ac}: commission minimum {com.min_per_order:g} per order binds on {where}: {at})")
    print(f"{'class':<7} {'tf':>5} {'trips':>5} {'slippage':>8} {'spread':>7} {'impact':>7} {'commiss.':>8} "
          f"{'total':>7} {'max':>7} {'min/max':>7}  impact model")
    for r in rows:
        model = ", ".join(f"{k} {v:.0%}" if v < 1 else k for k, v in
                          sorted(r["impact_models"].items(), key=lambda kv: -kv[1]))
        bound = (f"{r['commission_min_share']:.0%}/{r['commission_max_share']:.0%}"
                 if r["commission_min_share"] or r["commission_max_share"] else "-")
        print(f"{r['asset_class']:<7} {r['timeframe']:>5} {r['round_trips']:>5} {r['slippage_bp']:>8.2f} "
              f"{r['spread_bp']:>7.2f} {r['impact_bp']:>7.2f} {r['commission_bp']:>8.2f} {r['total_bp']:>7.2f} "
              f"{r['max_total_bp']:>7.2f} {bound:>7}  {model}")
    sys.stdout.flush()


def register(subparsers) -> None:
    parser = subparsers.add_parser("costs", help="print the default round-trip cost per asset class and timeframe",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--asset-class", default="all",
                        help="equity, crypto, fx, a comma-separated list of them, or all (default)")
    parser.add_argument("--timeframe", default=None,
                        help=f"comma-separated timeframes (default: {','.join(DEFAULT_TIMEFRAMES)})")
    parser.add_argument("--notional", type=float, default=None,
                        help=f"order size in quote currency (default {typical_order():g}: the default account's "
                             f"largest order, BUY_75; with --config, its account's)")
    parser.add_argument("--round-trips", type=int, default=200, help="round trips per row (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic bars and slippage draws")
    parser.add_argument("--config", default=None, metavar="FILE.toml",
                        help="a run's TOML: its [friction.<model>] tables (e.g. [friction.commission] min_per_order) "
                             "and [account] (the typical order) replace the defaults")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(func=run)
