"""The simulator's step, batched in torch: n_envs accounts, each at its own bar, one call.

This is the torch mirror of `backtest.kernel.decide`; the `backtest.simulator` module
docstring is the contract, followed in the same order with the same parenthesisation
and the same shared formulas (`backtest.costs`, `backtest.pdt`, `backtest.rng`,
`backtest.account`), so in float64 every number equals the kernel's bit for bit
(`tests/test_env_parity.py`, `tests/test_simulator_torch_parity.py`).

What is left out on purpose: the FIFO lot ring. Lots only shape trade records (entry
bar, FIFO prices and costs per closed trade); cash, position, average entry price,
equity, fills, costs and PDT state never read them, so the env does not carry them.

Account arithmetic is ALWAYS float64, whatever the observation dtype: float32 money
would drift from the backtest after a few hundred fills and flip cap decisions
(``q > qmax``, ``pos == 0``), which no tolerance could absorb. It costs a few dozen
elementwise ops on ``[n_envs]`` vectors per step; the observation gather dominates.

Everything here is elementwise over envs: no Python loop over envs, no host sync.

On CPU the env runs `KernelStep` instead: the simulator's numba step itself, looped over
the accounts in compiled code (`backtest.kernel.step_many`, one call per env step instead
of ~150 small torch ops).
Both match the simulator exactly in float64 (`tests/test_env_parity.py` runs both);
the torch mirror stays the GPU path.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from backtest import kernel
from backtest.account import BUY, CLOSE, HOLD, SELL
from backtest.account import (REASON_CASH, REASON_MAX_POSITION, REASON_MIN_SIZE, REASON_NOTHING_TO_SELL,
                              REASON_PDT, REASON_VOLUME_CAP)
from backtest.costs import (IMPACT_NONE, affordable_buy, commission_cash, commission_max, impact, slippage_fraction,
                           spread_fraction)
from backtest.pdt import NO_SESSION, day_trades_in_window
from backtest.rng import uniform
from backtest.simulator import SimConfig, market_inputs
from backtest.state import ACCOUNT_STATE_DTYPE, PDT_MAX_DAY_TRADES
from backtest.trades import FILL_DTYPE, STATUS_FILLED, STATUS_HOLD, STATUS_REJECTED, TRADE_DTYPE

F64 = torch.float64
I64 = torch.int64


@dataclass
class MarketTensors:
    """Per-bar inputs of one series on the env's device (`backtest.simulator.market_inputs`),
    plus the slippage fraction of every bar, drawn once from the counter-based generator."""

    open: torch.Tensor  # float64 [T]
    close: torch.Tensor  # float64 [T]
    prior_volume: torch.Tensor  # float64 [T]: volume of bar t-1 (0 at t = 0), what the volume cap measures
    session: torch.Tensor  # int64 [T]
    pdt_on: torch.Tensor  # bool [T]
    sigma: torch.Tensor  # float64 [T], NaN where the square-root law lacks history
    adv: torch.Tensor  # float64 [T], NaN likewise
    slip: torch.Tensor  # float64 [T]: slippage fraction of a fill at this bar

    @classmethod
    def build(cls, bars, config: SimConfig, device, inputs: kernel.Market | None = None) -> "MarketTensors":
        """``inputs``: `market_inputs(bars, config)` when the caller has it already."""
        m = inputs if inputs is not None else market_inputs(bars, config)
        p = config.kernel_params(bars.asset_class)[0]
        u = uniform(int(p["seed"]), np.arange(len(m.open), dtype=np.int64))
        slip = slippage_fraction(u, p["max_slippage"], bool(p["slippage_fixed"]))
        t = lambda x, dt: torch.as_tensor(np.array(x), dtype=dt, device=device)  # noqa: E731
        return cls(open=t(m.open, F64), close=t(m.close, F64), prior_volume=t(m.prior_volume, F64),
                   session=t(m.session, I64), pdt_on=t(m.pdt_on, torch.bool), sigma=t(m.sigma, F64),
                   adv=t(m.adv, F64), slip=t(np.asarray(slip, dtype=np.float64), F64))

    def __len__(self) -> int:
        return int(self.open.shape[0])


@dataclass(frozen=True)
class StepParams:
    """The kernel's `backtest.kernel.PARAMS_DTYPE` record as Python scalars (exact in float64
    ops with tensors), plus the initial equity of an episode."""

    buy_fraction: float
    max_position: float
    min_notional: float  # AccountConfig.min_order_notional (0 = off)
    allow_short: bool
    fractional: bool
    pdt_threshold: float
    cash_margin: float
    seed: int
    max_slippage: float
    slippage_fixed: bool
    spread: float
    impact_mode: int  # backtest.costs.IMPACT_MODE_*
    y: float
    k: float
    per_share: float
    per_order: float
    per_notional: float
    volume_cap: float  # 0 = off
    min_commission: float  # cash per order, 0 = none
    max_commission: float  # cash per order, inf = none
    max_commission_frac: float  # of the executed notional, 0 = none
    initial_equity: float

    @classmethod
    def from_config(cls, config: SimConfig, asset_class: str) -> "StepParams":
        record = config.kernel_params(asset_class)[0]
        return cls(**{name: record[name].item() for name in kernel.PARAMS_DTYPE.names},
                   initial_equity=float(config.account.initial_equity))

    @property
    def half_spread(self) -> float:
        return spread_fraction(self.spread)


@dataclass
class Accounts:
    """The kernel's `backtest.kernel.STATE_DTYPE` fields for n_envs accounts (the bar ``t`` is the
    env's ``bar_index``; lots left out, see module doc)."""

    cash: torch.Tensor
    position: torch.Tensor
    entry_price: torch.Tensor
    mark_price: torch.Tensor
    equity: torch.Tensor
    prev_close_equity: torch.Tensor
    bars_in_position: torch.Tensor  # int64
    session: torch.Tensor  # int64, current session (NO_SESSION after reset)
    pending: torch.Tensor  # int64, session of the last unmatched increase
    dt0: torch.Tensor  # int64, sessions of the last three day trades
    dt1: torch.Tensor
    dt2: torch.Tensor
    pdt_rejections: torch.Tensor  # int64, count since the account's reset

    @classmethod
    def zeros(cls, n: int, device) -> "Accounts":
        f = lambda: torch.zeros(n, dtype=F64, device=device)  # noqa: E731
        i = lambda v=0: torch.full((n,), v, dtype=I64, device=device)  # noqa: E731
        return cls(f(), f(), f(), f(), f(), f(), i(), i(NO_SESSION), i(NO_SESSION), i(NO_SESSION),
                   i(NO_SESSION), i(NO_SESSION), i())

    def reset(self, mask: torch.Tensor, t0: torch.Tensor, initial: float, market: MarketTensors) -> None:
        """`Simulator.reset(t0)` for the envs where ``mask``: flat account, mark = close[t0-1].

        Fields are rebound to new tensors (never written in place), so tensors handed out
        before (a step's fill record) keep their values."""
        prev = (t0 - 1).clamp(min=0)
        mark0 = torch.where(t0 > 0, market.close[prev], market.open[t0])
        for name in ("cash", "equity", "prev_close_equity"):
            setattr(self, name, torch.where(mask, initial, getattr(self, name)))
        for name in ("position", "entry_price"):
            setattr(self, name, torch.where(mask, 0.0, getattr(self, name)))
        self.mark_price = torch.where(mask, mark0, self.mark_price)
        for name in ("bars_in_position", "pdt_rejections"):
            setattr(self, name, torch.where(mask, 0, getattr(self, name)))
        for name in ("session", "pending", "dt0", "dt1", "dt2"):
            setattr(self, name, torch.where(mask, NO_SESSION, getattr(self, name)))

    def clone(self) -> "Accounts":
        return Accounts(**{f.name: getattr(self, f.name).clone() for f in fields(self)})


def day_trades_left(acc: Accounts, t: torch.Tensor, market: MarketTensors, p: StepParams) -> torch.Tensor:
    """Day trades left for the decision at bar ``t`` (`backtest.kernel.observe`; ``t`` is clamped
    to the last bar, like there)."""
    tc = t.clamp(max=len(market) - 1)
    s = market.session[tc]
    prev_close = torch.where(s != acc.session, acc.equity, acc.prev_close_equity)
    binding = market.pdt_on[tc] & (prev_close < p.pdt_threshold)
    left = (PDT_MAX_DAY_TRADES - day_trades_in_window(s, acc.dt0, acc.dt1, acc.dt2)).clamp(min=0)
    return torch.where(binding, left, torch.full_like(left, PDT_MAX_DAY_TRADES))


def account_state(acc: Accounts, t: torch.Tensor, market: MarketTensors, p: StepParams) -> dict[str, torch.Tensor]:
    """The `backtest.state.ACCOUNT_STATE_DTYPE` fields for the decision at bar ``t``."""
    return {"cash": acc.cash, "position": acc.position, "entry_price": acc.entry_price,
            "mark_price": acc.mark_price, "bars_in_position": acc.bars_in_position,
            "day_trades_left": day_trades_left(acc, t, market, p)}


def _decode(kind, size, pos, e, o, p: StepParams):
    """`backtest.kernel.order_request`: side, increase, requested quantity, reason (nothing to sell)."""
    buy, sell, close = kind == BUY, kind == SELL, kind == CLOSE
    inc_q = ((e * p.buy_fraction) * size) / o
    increase = (buy & (pos >= 0.0)) | (sell & (pos <= 0.0) & p.allow_short)
    reduce_q = torch.where(buy, size * (-pos), torch.where(sell, size * pos, pos.abs()))
    reduce_q = torch.where((pos.abs() - reduce_q) * o < p.min_notional, pos.abs(), reduce_q)  # no dust left
    q = torch.where(increase, inc_q, reduce_q)
    q = torch.where(sell & (pos <= 0.0) & ~increase, 0.0, q)
    side = torch.where(buy, 1, torch.where(sell, -1, torch.where(pos > 0.0, -1, torch.where(pos < 0.0, 1, 0))))
    side = torch.where(kind == HOLD, 0, side)
    nothing = (sell & (pos <= 0.0) & ~increase) | (close & (pos == 0.0))
    reason = torch.where(nothing, REASON_NOTHING_TO_SELL, 0)
    return side, increase, q, reason


def _size(side, increase, q, reason, e, o, pos, cash, slip, imp_in, prior_volume, p: StepParams):
    """`backtest.kernel.size_order`: max-position, cash and volume caps, whole shares; returns (q, reason)."""
    half = p.half_spread
    broke = increase & (e <= 0.0)
    qmax = (p.max_position * e) / o - pos.abs()
    over = increase & ~broke & (q > qmax)
    q = torch.where(over, torch.clamp(qmax, min=0.0), q)
    reason = torch.where(over, REASON_MAX_POSITION, reason)
    imp_u, _ = imp_in(q)
    u0 = o * (1.0 + ((slip + half) + imp_u))
    unit = u0 * (1.0 + p.per_notional) + p.per_share
    too_dear, largest = affordable_buy(q, u0, unit, cash, p.per_order, p.min_commission, p.max_commission,
                                       p.max_commission_frac)
    need = increase & ~broke & (side == 1) & (q > 0.0) & too_dear
    q = torch.where(need, torch.clamp(largest * p.cash_margin, min=0.0), q)
    reason = torch.where(need, REASON_CASH, reason)
    if p.volume_cap > 0.0:  # the previous bar's volume, known at this open
        qv = p.volume_cap * prior_volume
        capped = ~broke & (q > qv)
        q = torch.where(capped, qv, q)
        reason = torch.where(capped, REASON_VOLUME_CAP, reason)
    if not p.fractional:
        q = torch.where(broke, q, torch.floor(q))
    q = torch.where(increase & (q * o < p.min_notional), 0.0, q)
    q = torch.where(broke, 0.0, q)
    reason = torch.where(broke, REASON_CASH, reason)
    reason = torch.where((q <= 0.0) & (reason == 0), REASON_MIN_SIZE, reason)
    return q, reason


def step_accounts(acc: Accounts, t: torch.Tensor, actions: torch.Tensor, kind_tab: torch.Tensor,
                  size_tab: torch.Tensor, market: MarketTensors, p: StepParams) -> dict[str, torch.Tensor]:
    """One decision per account at its bar ``t`` (fill at open, mark at close), in place.

    Returns the fill of every account in `backtest.trades.FILL_DTYPE` field names
    (status hold for HOLD; exec price, quantity and costs 0 unless filled), plus
    ``pdt_rejected`` (bool) and the pre-fill ``position_before``/``entry_before``.
    """
    s = market.session[t]
    new = s != acc.session  # 1. session roll
    acc.prev_close_equity = torch.where(new, acc.equity, acc.prev_close_equity)
    acc.session = s
    kind, size = kind_tab[actions], size_tab[actions]
    o, c = market.open[t], market.close[t]
    cash, pos = acc.cash, acc.position
    e = cash + pos * o  # 2. decode
    side, increase, q_req, reason = _decode(kind, size, pos, e, o, p)
    active = kind != HOLD
    day_trade = active & ~increase & (acc.pending == s) & market.pdt_on[t]  # 3. PDT
    binding = acc.prev_close_equity < p.pdt_threshold
    blocked = (reason == 0) & day_trade & binding & (
        day_trades_in_window(s, acc.dt0, acc.dt1, acc.dt2) >= PDT_MAX_DAY_TRADES)
    reason = torch.where(blocked, REASON_PDT, reason)
    rejected_early = (reason != 0) | ~active
    slip = market.slip[t]  # 4. costs and sizing
    sigma, adv = market.sigma[t], market.adv[t]
    imp_of = lambda qq: impact(p.impact_mode, qq, o, e, sigma, adv, p.y, p.k)  # noqa: E731
    q, reason_sized = _size(side, increase, q_req, reason, e, o, pos, cash, slip, imp_of, market.prior_volume[t], p)
    reason = torch.where(rejected_early, reason, reason_sized)
    filled = ~rejected_early & (q > 0.0)
    q = torch.where(filled, q, 0.0)
    imp, model = imp_of(q)  # 5. fill
    sidef = side.to(F64)
    px = o * (1.0 + sidef * ((slip + p.half_spread) + imp))
    notional = q * o
    comm = commission_cash(q, q * px, p.per_share, p.per_order, p.per_notional, p.min_commission,
                           commission_max(q * px, p.max_commission, p.max_commission_frac))
    new_cash = (cash - sidef * (q * px)) - comm
    new_pos = pos + sidef * q
    grow = filled & increase  # 6. bookkeeping
    from_flat = pos == 0.0
    avg = (pos.abs() * acc.entry_price + q * px) / torch.where(grow & ~from_flat, new_pos.abs(), 1.0)
    entry_before = acc.entry_price
    acc.entry_price = torch.where(grow, torch.where(from_flat, px, avg),
                                  torch.where(filled & ~increase & (new_pos == 0.0), 0.0, acc.entry_price))
    acc.bars_in_position = torch.where(grow & from_flat, 0, acc.bars_in_position)
    acc.pending = torch.where(grow, s, acc.pending)
    counted = filled & ~increase & day_trade
    acc.dt0, acc.dt1, acc.dt2 = (torch.where(counted, acc.dt1, acc.dt0), torch.where(counted, acc.dt2, acc.dt1),
                                 torch.where(counted, s, acc.dt2))
    acc.pending = torch.where(counted, NO_SESSION, acc.pending)
    acc.pdt_rejections = acc.pdt_rejections + blocked.to(I64)
    acc.cash = torch.where(filled, new_cash, cash)
    acc.position = torch.where(filled, new_pos, pos)
    acc.equity = acc.cash + acc.position * c  # 7. mark
    acc.mark_price = c
    acc.bars_in_position = torch.where(acc.position != 0.0, acc.bars_in_position + 1, 0)
    zero = torch.zeros_like(q)
    status = torch.where(~active, STATUS_HOLD, torch.where(filled, STATUS_FILLED, STATUS_REJECTED))
    return {
        "bar": t, "action": actions, "side": side, "status": status, "reason": reason,
        "requested_qty": torch.where(active, q_req, zero), "qty": q, "ref_price": o,
        "exec_price": torch.where(filled, px, zero), "slippage": torch.where(filled, notional * slip, zero),
        "spread": torch.where(filled, notional * p.half_spread, zero),
        "impact": torch.where(filled, notional * imp, zero), "commission": torch.where(filled, comm, zero),
        "impact_model": torch.where(filled, torch.as_tensor(model, device=q.device), IMPACT_NONE),
        "day_trade": counted,
        "cash_after": acc.cash, "position_after": acc.position, "pdt_rejected": blocked,
        "position_before": pos, "entry_before": entry_before,
    }


#: `Accounts` fields: the `backtest.kernel.STATE_DTYPE` fields the env carries between steps.
KERNEL_FIELDS = tuple(f.name for f in fields(Accounts))
#: Fill fields the env hands out (`FILL_DTYPE` less the bar's timestamp).
FILL_FIELDS = tuple(n for n in FILL_DTYPE.names if n != "time")
#: `FILL_DTYPE` laid out as a C struct (padded), so each field of a record array is a view
#: whose stride is a multiple of its item size: ``torch.from_numpy`` takes it without a copy.
FILL_RECORDS = np.dtype([(n, FILL_DTYPE.fields[n][0]) for n in FILL_DTYPE.names], align=True)


class KernelStep:
    """`step_accounts` for CPU tensors through the simulator's numba kernel
    (`backtest.kernel.step_many`): same arguments and result, same numbers.

    The accounts travel as `backtest.kernel.STATE_DTYPE` records: each step packs them into a
    fresh record array (one copy of the last step's records when `Accounts` still holds its
    views), steps it in place and rebinds the `Accounts` fields to views of it, so tensors
    handed out before keep their values. Fills come back as `FILL_RECORDS` (the fill record,
    padded), handed out as per-field views."""

    def __init__(self, bars, config: SimConfig, kind_tab: torch.Tensor, size_tab: torch.Tensor,
                 inputs: kernel.Market | None = None) -> None:
        self.market = inputs if inputs is not None else market_inputs(bars, config)
        self.params = config.kernel_params(bars.asset_class)
        self.actions = kernel.action_table(kind_tab.cpu().numpy(), size_tab.cpu().numpy())
        self._lots = np.zeros(1, dtype=kernel.LOT_DTYPE)  # scratch: lots are not carried
        self._trades = np.zeros(1, dtype=TRADE_DTYPE)
        self._last: tuple[np.ndarray, dict] | None = None  # the last records and the views handed out

    def _pack(self, acc: Accounts, t: torch.Tensor, fresh: bool = True) -> np.ndarray:
        """The accounts as a `STATE_DTYPE` array deciding at bars ``t`` (a new one if ``fresh``;
        else possibly the last step's, for reading)."""
        if self._last is not None and all(getattr(acc, f) is v for f, v in self._last[1].items()):
            states = self._last[0].copy() if fresh else self._last[0]
        else:
            states = np.zeros(len(t), dtype=kernel.STATE_DTYPE)
            for name in KERNEL_FIELDS:
                states[name] = getattr(acc, name).numpy()
        states["t"] = t.numpy()
        return states

    def __call__(self, acc: Accounts, t: torch.Tensor, actions: torch.Tensor) -> dict[str, torch.Tensor]:
        before = {"position_before": acc.position, "entry_before": acc.entry_price, "rejections": acc.pdt_rejections}
        states = self._pack(acc, t)
        fills = np.zeros(len(states), dtype=FILL_RECORDS)
        kernel.step_many(states, t.numpy(), actions.numpy(), self.market, self.actions, self.params, self._lots,
                         self._trades, fills)
        views = {name: torch.from_numpy(states[name]) for name in KERNEL_FIELDS}
        for name, value in views.items():
            setattr(acc, name, value)
        self._last = (states, views)
        fill = {name: torch.from_numpy(fills[name]) for name in FILL_FIELDS}
        fill["pdt_rejected"] = acc.pdt_rejections != before["rejections"]
        fill["position_before"], fill["entry_before"] = before["position_before"], before["entry_before"]
        return fill

    def account_state(self, acc: Accounts, t: torch.Tensor) -> np.ndarray:
        """`account_state` as `ACCOUNT_STATE_DTYPE` records (`backtest.kernel.account_states`; ``t``
        clamped to the last bar, as there)."""
        out = np.zeros(len(t), dtype=ACCOUNT_STATE_DTYPE)
        kernel.account_states(self._pack(acc, t, fresh=False), self.market, self.params, out)
        return out
