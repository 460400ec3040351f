"""Friction-aware simulator (DESIGN 3.3-3.5): one numba kernel, two ways in.

`simulate(bars, actions, config)` runs a whole action stream; `Simulator` steps one
decision at a time (the policy loop). Both call the same kernel (`backtest.kernel`), so
they give identical results.

Timing: the decision for bar t is filled at ``open[t]`` and marked at ``close[t]``.

State (records of `backtest.kernel`, mirrored by the torch environment):

- `backtest.kernel.STATE_DTYPE`: cash, position (signed units), entry_price (average
  cost of the open position; unchanged by reductions, 0 flat), mark_price (last close),
  equity (last mark: ``cash + position * mark``), prev_close_equity (equity at the close
  of the previous session), t (next bar), bars_in_position, session (current session),
  pending (session of the last unmatched increase, for PDT), dt0..dt2 (sessions of the
  last 3 day trades), the lot ring's head and count, PDT rejections;
- `backtest.kernel.LOT_DTYPE` ``[capacity]``: FIFO lots (qty, ref price, exec price, entry
  bar and per-unit slippage, spread, impact, commission); a full ring merges into its
  newest lot.

One step at bar t with action a, in this exact order (float64, no FMA, every
parenthesis as written; ``buy_fraction = (1 - safety_buffer) * base_allocation``):

1. Session roll: if ``session_index[t]`` differs from the current session,
   ``prev_close_equity = equity`` and the current session becomes it.
2. Decode (`backtest.account.ActionSpace`): ``o = open[t]``, ``E = cash + pos * o``.
   BUY s flat/long: increase, ``q = ((E * buy_fraction) * s) / o``; BUY s short: cover
   ``s * (-pos)``. SELL s long: reduce ``s * pos``; a reduction with ``(|pos| - q) * o <
   min_order_notional`` takes ``|pos|`` instead (no dust left). Flat/short: increase short with the
   BUY quantity when ``allow_short`` (else rejected, nothing to sell). CLOSE: reduce
   ``|pos|`` (flat: rejected, nothing to sell). HOLD does nothing but mark (step 7).
3. PDT check (`backtest.pdt`): on bars where the rule applies (``pdt_on[t]``), a reducing
   order in the session of the last unmatched increase is a day trade; if
   ``prev_close_equity < 25000`` and the window ``s-4..s`` already holds 3 day trades,
   the order is rejected (reason pdt).
4. Costs and sizing (`backtest.costs`): ``slip = slippage_fraction(uniform(seed, t))``,
   ``half = spread * 0.5``. Increases: ``E <= 0`` rejects (cash); cap
   ``q <= (max_position * E) / o - |pos|`` (reason max_position); long buys need their
   cost with commission within cash: with ``u0 = o * (1 + ((slip + half) + imp(q)))`` and
   ``unit = u0 * (1 + per_notional) + per_share``, `backtest.costs.affordable_buy` (with no
   commission minimum or maximum: ``q * unit + per_order <= cash``), else ``q`` = its
   largest affordable quantity ``* (1 - 1e-12)`` (no minimum or maximum: ``(cash -
   per_order) / unit``; reason cash; ``imp(q)`` is the impact of the uncapped q, an upper
   bound, so the capped fill is always affordable). Any order: ``q <= volume_cap * prior_volume[t]`` when the
   cap is on (reason volume_cap; ``prior_volume[t] = volume[t-1]``, 0 at t = 0: the volume
   known at bar t's open, never bar t's own); ``floor(q)`` when not fractional; an
   increase with ``q * o < min_order_notional`` gets ``q = 0``. ``q <= 0`` rejects (reason
   of the binding cap, else min_size).
5. Fill: ``imp = impact(q)``: mode auto, the square-root law ``(y * sigma[t]) *
   sqrt(q / adv[t])`` when ``adv > 0`` and both are known (code sqrt), else 0 (code
   no_history); mode portfolio, ``k * sqrt((q * o) / E)`` with ``q * o`` in place of ``E``
   when ``E <= 0`` (code portfolio); mode none: 0 (code none). ``px = o * (1 + side *
   ((slip + half) + imp))``, components ``(q * o) * slip``, ``(q * o) * half``,
   ``(q * o) * imp``, commission ``per_order + per_share * q + per_notional * (q * px)``
   raised to ``min_per_order`` then lowered to the order's maximum (`backtest.costs.commission_cash`);
   ``cash = (cash - side * (q * px)) - commission``; ``pos = pos + side * q``.
6. Bookkeeping. Increase: ``pending = s``; entry_price ``= px`` from flat (and
   bars_in_position = 0) else ``(|pos_old| * entry + q * px) / |pos_new|``; push a lot.
   Reduce: if it was a day trade, shift ``dt0, dt1, dt2 = dt1, dt2, s`` and clear
   pending; consume lots FIFO (all when the position is now 0) into one trade record:
   ``gross = pside * (q * o - sum(m * lot_ref))``, each cost = exit component + sum of
   ``m * per-unit lot cost``, ``net = (((gross - slippage) - spread) - impact) -
   commission``, ``return = net / sum(m * lot_exec)``; entry_price = 0 when flat.
7. Mark: ``equity = cash + pos * close[t]``, mark_price = close[t], bars_in_position
   += 1 if pos != 0 else 0.

`Simulator.snapshot()` copies the whole account (state and lots) and `Simulator.restore`
continues from such a copy: a position carried into the next test fold keeps its cost basis,
lots and PDT history, and a second `run` continues where the first stopped (its `SimResult`
measures from the equity it started with, ``SimResult.initial_equity``).

`Simulator.reset(t0)`: cash = equity = prev_close_equity = initial equity, position 0,
sessions (current, pending, dt0..dt2) = `backtest.pdt.NO_SESSION`, mark_price =
``close[t0-1]`` (``open[0]`` when t0 = 0). `Simulator.account_state()` for the next
decision at t reports ``day_trades_left`` with the equity of step 1 as it will be at t
(the last mark when ``session_index[t]`` starts a new session).

Per-bar inputs precomputed once (`market_inputs`, a `backtest.kernel.Market`):
``sigma``/``adv`` (`backtest.costs.impact_inputs`, from sessions before the bar's, in daily
terms), ``prior_volume`` (`backtest.costs.prior_volume`) and ``pdt_on``
(`backtest.pdt.pdt_applies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.account import CLOSE, AccountConfig
from backtest.costs import FrictionConfig, impact_inputs, prior_volume
from backtest.errors import ConfigError
from backtest.pdt import check_mode, pdt_applies
from backtest.state import ACCOUNT_STATE_DTYPE
from backtest.trades import COST_COMPONENTS, FILL_DTYPE, STATUS_FILLED, TRADE_DTYPE, fills_frame, profit_factor, round_trip_pnl, trades_frame


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulation needs besides bars and actions."""

    account: AccountConfig = field(default_factory=AccountConfig)
    """Sizing rules and the action space."""
    friction: FrictionConfig | None = None
    """Cost models; None takes `FrictionConfig.for_asset_class` of the bars."""
    pdt: str = "auto"
    """Pattern-day-trader mode: ``auto``, ``on`` or ``off`` (`backtest.pdt`)."""
    seed: int = 0
    """Key of the slippage draws (with the bar index); the env uses the same. The bar index is
    the position in the `bars` given, so pass the full series with ``start=`` (not a slice)
    to draw what the training environment drew for the same bar."""
    lot_capacity: int = 64
    """FIFO lot ring size; more open lots merge into the newest."""

    def __post_init__(self) -> None:
        if not isinstance(self.account, AccountConfig):
            raise ConfigError(f"SimConfig.account must be an AccountConfig, got {self.account!r}")
        if self.friction is not None and not isinstance(self.friction, FrictionConfig):
            raise ConfigError(f"SimConfig.friction must be a FrictionConfig or None, got {self.friction!r}")
        check_mode(self.pdt)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < 2**63:
            raise ConfigError(f"SimConfig.seed must be an integer in [0, 2**63), got {self.seed!r}")
        if isinstance(self.lot_capacity, bool) or not isinstance(self.lot_capacity, int) or self.lot_capacity < 1:
            raise ConfigError(f"SimConfig.lot_capacity must be an integer >= 1, got {self.lot_capacity!r}")

    def friction_for(self, asset_class: str) -> FrictionConfig:
        return self.friction if self.friction is not None else FrictionConfig.for_asset_class(asset_class)

    def kernel_params(self, asset_class: str) -> np.ndarray:
        """The kernel's `backtest.kernel.PARAMS_DTYPE` record (an array of one) for bars of
        ``asset_class``."""
        return kernel.params(self.account, self.friction_for(asset_class), self.seed)


@dataclass
class SimResult:
    """Fills, trades and per-bar account series of one simulation over bars ``[start, stop)``."""

    bars: object
    config: SimConfig
    start: int
    stop: int
    actions: np.ndarray
    fills: np.ndarray  # FILL_DTYPE, one per non-HOLD decision (filled or rejected)
    trades: np.ndarray  # TRADE_DTYPE, one per exit fill
    equity: np.ndarray  # per bar, marked at the close
    cash: np.ndarray
    position: np.ndarray
    pdt_rejections: int  # PDT rejections during these bars
    start_equity: float | None = None  # the account's equity before the first bar (None: the config's initial)
    start_position: float = 0.0  # units held before the first bar (a position carried in)

    @property
    def initial_equity(self) -> float:
        """Equity before the first bar: the config's initial equity for a fresh account, the
        carried equity for a run that continues an account (`Simulator.restore`, a second `run`)."""
        return float(self.config.account.initial_equity if self.start_equity is None else self.start_equity)

    @property
    def net_return(self) -> float:
        return float(self.equity[-1] / self.initial_equity - 1.0) if len(self.equity) else 0.0

    def trades_frame(self) -> pd.DataFrame:
        return trades_frame(self.trades)

    def fills_frame(self) -> pd.DataFrame:
        return fills_frame(self.fills)

    def equity_frame(self) -> pd.DataFrame:
        """The equity.csv table with action names (`backtest.result_files.equity_frame`)."""
        from backtest.result_files import equity_frame

        return equity_frame(self.bars, self, names=True)

    def costs(self) -> dict[str, float]:
        """Total cash spent on each cost component over all fills."""
        filled = self.fills[self.fills["status"] == STATUS_FILLED]
        return {c: float(filled[c].sum()) for c in COST_COMPONENTS}

    def round_trip_ends(self) -> np.ndarray:
        """Per trade record: the position is flat after its exit bar (it ends a round trip)."""
        return self.position[self.trades["exit_bar"] - self.start] == 0.0

    def round_trip_pnl(self) -> np.ndarray:
        """Net P&L per round trip (`backtest.trades.round_trip_pnl`): partial exits of one
        position add up to one trade."""
        return round_trip_pnl(self.trades["net_pnl"], self.round_trip_ends())

    def profit_factor(self) -> float | None:
        """`backtest.trades.profit_factor` over round trips (`round_trip_pnl`), net of costs: inf
        with no losers, None with no trades. The same definition as the reports' PF."""
        return profit_factor(self.round_trip_pnl())

    def max_drawdown(self) -> float:
        """Largest fall from a running peak of equity (initial equity included), as a fraction."""
        if len(self.equity) == 0:
            return 0.0
        eq = np.r_[self.initial_equity, self.equity]
        peak = np.maximum.accumulate(eq)
        return float(np.max(1.0 - eq / peak))

    def summary(self) -> dict[str, float]:
        out = {"net_return": self.net_return, "profit_factor": self.profit_factor(),
               "max_drawdown": self.max_drawdown(), "trades": int(len(self.trades)),
               "pdt_rejections": int(self.pdt_rejections)}
        out.update({f"cost_{k}": v for k, v in self.costs().items()})
        return out


def market_inputs(bars, config: SimConfig | None = None) -> kernel.Market:
    """The per-bar inputs of one series (`backtest.kernel.Market`), computed once (the torch
    env reuses them as they are): ``time`` (bar start, UTC), ``open close`` (float64),
    ``prior_volume`` (float64, the previous bar's volume: what the volume cap measures,
    `backtest.costs.prior_volume`), ``sigma``/``adv`` (`backtest.costs.impact_inputs`, daily
    terms, NaN where the square-root law has too little history), ``session`` (int64
    session_index), ``pdt_on`` (bool, `backtest.pdt.pdt_applies`)."""
    config = config if config is not None else SimConfig()
    friction = config.friction_for(bars.asset_class)
    sigma, adv = impact_inputs(bars, friction.impact.lookback, friction.impact.min_sessions)
    return kernel.Market(
        time=bars.timestamps_ns.astype("datetime64[ns]"),
        open=np.ascontiguousarray(bars.open, dtype=np.float64),
        close=np.ascontiguousarray(bars.close, dtype=np.float64),
        prior_volume=prior_volume(bars.volume),
        sigma=sigma,
        adv=adv,
        session=np.ascontiguousarray(bars.session_index, dtype=np.int64),
        pdt_on=pdt_applies(bars, config.pdt),
    )


class KernelArgs(NamedTuple):
    """A simulator's live kernel inputs, in the order the `backtest.kernel` entry points take
    them, for code that steps the simulator's own account in its own kernels (the fast
    policy runner): what it writes is the simulator's state."""

    market: kernel.Market  # per-bar columns
    actions: np.ndarray  # ACTION_DTYPE [n_actions + 1]: the last row is the internal CLOSE
    params: np.ndarray  # PARAMS_DTYPE [1]
    state: np.ndarray  # STATE_DTYPE [1], stepped in place
    lots: np.ndarray  # LOT_DTYPE [lot_capacity], the FIFO ring, in place


class Simulator:
    """Step API over one symbol's bars; `simulate` runs through the same kernel."""

    def __init__(self, bars, config: SimConfig | None = None):
        self.bars = bars
        self.config = config if config is not None else SimConfig()
        space = self.config.account.action_space
        self.n_actions = space.n
        # one extra internal CLOSE row (id n_actions) for close_at_end
        self.action_table = kernel.action_table(np.r_[space.kind, CLOSE], np.r_[space.size, 1.0])
        self.market = market_inputs(bars, self.config)
        self.params = self.config.kernel_params(bars.asset_class)
        self._fill = np.zeros(1, dtype=FILL_DTYPE)
        self._trade = np.zeros(1, dtype=TRADE_DTYPE)
        self.reset(0)

    def __len__(self) -> int:
        return len(self.bars)

    def reset(self, t0: int = 0, cash: float | None = None) -> np.ndarray:
        """Start a fresh, flat account deciding next at bar ``t0``; returns `account_state()`."""
        n = len(self.bars)
        if not 0 <= int(t0) < n:
            raise ConfigError(f"reset: t0 must be in [0, {n - 1}], got {t0!r}")
        c = float(self.config.account.initial_equity if cash is None else cash)
        self._state = kernel.new_state(self.market, int(t0), c)
        self._lots = np.zeros(self.config.lot_capacity, dtype=kernel.LOT_DTYPE)
        self.trades: list[np.ndarray] = []
        return self.account_state()

    @property
    def t(self) -> int:
        """The bar the next decision is for."""
        return int(self._state[0]["t"])

    @property
    def state(self) -> np.void:
        """A snapshot of the account's full `backtest.kernel.STATE_DTYPE` record (equity,
        previous-close equity, PDT sessions and rejections... beyond `account_state`)."""
        return self._state.copy()[0]

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the whole account (state record and lot ring) before the next decision:
        `restore` continues from it (a carried position, its costs basis and PDT history)."""
        return self._state.copy(), self._lots.copy()

    def restore(self, snapshot: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Continue the account of a `snapshot` (of a simulator over the same bars); returns
        `account_state()`."""
        state, lots = snapshot
        if state.dtype != kernel.STATE_DTYPE or state.shape != (1,) or lots.shape != self._lots.shape:
            raise ConfigError("restore: the snapshot is not from a Simulator with this lot capacity")
        if not 0 <= int(state[0]["t"]) < len(self.bars):
            raise ConfigError(f"restore: the snapshot's next bar {int(state[0]['t'])} is outside the "
                              f"{len(self.bars)} bars")
        self._state, self._lots = state.copy(), lots.copy()
        self.trades = []
        return self.account_state()

    def kernel_args(self) -> KernelArgs:
        """The live kernel inputs and state (`KernelArgs`)."""
        return KernelArgs(self.market, self.action_table, self.params, self._state, self._lots)

    def step(self, action: int, internal_close: bool = False) -> np.void:
        """Decide ``action`` at bar `t`: fill at its open, mark at its close; returns the fill record
        (status hold for HOLD). A trade closed by the fill is appended to ``self.trades``.
        ``internal_close`` also accepts the internal CLOSE id (``n_actions``)."""
        t = self.t
        if t >= len(self.bars):
            raise ConfigError(f"step: no bars left (t = {t}); call reset()")
        a = int(action)
        if not 0 <= a < self.n_actions + bool(internal_close):
            raise ConfigError(f"step: action must be in [0, {self.n_actions - 1}], got {action!r}")
        if kernel.step(self._state, a, self.market, self.action_table, self.params, self._lots, self._fill,
                       self._trade):
            self.trades.append(self._trade.copy()[0])
        return self._fill.copy()[0]

    def account_state(self) -> np.void:
        """`backtest.state.ACCOUNT_STATE_DTYPE` record for the decision at bar `t`."""
        out = np.zeros(1, dtype=ACCOUNT_STATE_DTYPE)
        kernel.account_states(self._state, self.market, self.params, out)
        return out[0]

    def run(self, actions, close_at_end: bool = False, internal_close: bool = False) -> SimResult:
        """Step through ``actions`` from bar `t` on in one kernel call.

        ``internal_close`` also accepts the internal CLOSE id (``n_actions``) that
        ``close_at_end`` writes, so an executed action path (``SimResult.actions``) can be
        replayed as it is (the timing null does).
        """
        start = self.t
        equity0, rejected0 = float(self._state[0]["equity"]), int(self._state[0]["pdt_rejections"])
        position0 = float(self._state[0]["position"])
        if internal_close:
            acts = np.ascontiguousarray(actions, dtype=np.int64)
            if acts.ndim != 1 or np.any((acts < 0) | (acts > self.n_actions)):
                raise ConfigError(f"actions must be a 1-d array of ids in [0, {self.n_actions}] "
                                  f"(the last is the internal CLOSE)")
        else:
            acts = self.config.account.action_space.validate(actions)
        stop = start + len(acts)
        if stop > len(self.bars):
            raise ConfigError(f"{len(acts)} actions from bar {start} run past the {len(self.bars)} bars")
        if close_at_end and len(acts):
            acts = acts.copy()
            acts[-1] = self.n_actions  # the internal CLOSE row
        n = len(acts)
        m = int(np.count_nonzero(self.action_table["kind"][acts] != 0))  # orders; trades <= orders
        fills, trades = np.zeros(m, dtype=FILL_DTYPE), np.zeros(m, dtype=TRADE_DTYPE)
        eq, cash, pos = np.zeros(n), np.zeros(n), np.zeros(n)
        nf, nt = kernel.run(self._state, acts, self.market, self.action_table, self.params, self._lots, fills, trades,
                            eq, cash, pos)
        return SimResult(self.bars, self.config, start, stop, acts, fills[:nf], trades[:nt], eq, cash, pos,
                         int(self._state[0]["pdt_rejections"]) - rejected0, equity0, position0)


def simulate(bars, actions, config: SimConfig | None = None, *, start: int = 0,
             close_at_end: bool = False) -> SimResult:
    """Run one decision per bar from ``start`` (``len(actions)`` of them) through the kernel.

    ``close_at_end`` replaces the last decision with a CLOSE so every position ends in a trade.
    """
    sim = Simulator(bars, config)
    sim.reset(start)
    return sim.run(actions, close_at_end=close_at_end)
