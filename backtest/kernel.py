"""The simulator's numba kernel behind a typed boundary (the step contract is the
`backtest.simulator` module docstring).

Everything the kernel reads and writes has named fields: numpy structured arrays (numba
records inside the kernel) and one named tuple of per-bar columns (vectorbt's layout:
``nb`` kernels under thin classes, events as records):

- `STATE_DTYPE`: one account (cash, position, entry and mark price, equity, previous-close
  equity, the next bar ``t``, bars in position, the PDT sessions, the lot ring's head and
  count, PDT rejections); `new_state` makes fresh, flat ones;
- `LOT_DTYPE`: the FIFO lot ring (quantity, reference and execution price, entry bar,
  per-unit costs); a full ring merges into its newest lot;
- `PARAMS_DTYPE`: the account rules and friction of a simulation, one record (`params`);
- `Market`: the per-bar inputs (`backtest.simulator.market_inputs`), a named tuple of
  columns (numba types it like a record of arrays; the columns stay views, nothing is
  copied per series);
- `ACTION_DTYPE`: the action table, kind and size per action id (`action_table`);
- fills and trades: `backtest.trades.FILL_DTYPE` / `TRADE_DTYPE` records, written in place.

Entry points from Python (an account is ``state[0]``; decisions are at the state's bar ``t``):

- `step(state, a, market, actions, params, lots, fills, trades)`: one decision, its fill
  record in ``fills[0]``, a trade it closes in ``trades[0]``; returns the trades written;
- `run(state, decisions, market, actions, params, lots, fills, trades, equity, cash,
  position)`: consecutive decisions (HOLDs are not recorded); returns ``(fills, trades)``
  written;
- `step_many(states, t, a, market, actions, params, lots, trades, fills)`: one decision
  for each of many independent accounts, account i at bar ``t[i]`` (the training env's CPU
  account step); lots are a scratch ring (they only shape trade records);
- `account_states(states, market, params, out)`: the observable
  `backtest.state.ACCOUNT_STATE_DTYPE` records for the accounts' next decisions.

Record-level building blocks for other kernels (the fast policy runner): `decide` (one
decision of one account record), `hold` (a HOLD: session roll and mark), `mark`, `observe`.
Cached kernels are keyed by every file they import (`backtest.jit_cache`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from backtest.account import BUY, HOLD, REASON_CASH, REASON_MAX_POSITION, REASON_MIN_SIZE, REASON_NOTHING_TO_SELL
from backtest.account import REASON_PDT, REASON_VOLUME_CAP, SELL
from backtest.costs import (IMPACT_NONE, affordable_buy, commission_cash, commission_max, impact, slippage_fraction,
                           spread_fraction)
from backtest.pdt import NO_SESSION, PDT_EQUITY_THRESHOLD, day_trades_left, is_day_trade, pdt_blocks
from backtest.rng import uniform_scalar
from backtest.trades import STATUS_FILLED, STATUS_HOLD, STATUS_REJECTED

F8, I8 = np.float64, np.int64

STATE_DTYPE = np.dtype([
    ("cash", F8), ("position", F8),  # signed units
    ("entry_price", F8),  # average cost of the open position (unchanged by reductions), 0 flat
    ("mark_price", F8), ("equity", F8),  # last close, cash + position * mark
    ("prev_close_equity", F8),  # equity at the close of the previous session
    ("t", I8),  # the bar of the next decision
    ("bars_in_position", I8),
    ("session", I8),  # current session (NO_SESSION after a reset)
    ("pending", I8),  # session of the last unmatched increase (PDT)
    ("dt0", I8), ("dt1", I8), ("dt2", I8),  # sessions of the last three day trades
    ("lot_head", I8), ("lot_count", I8),  # the lot ring's oldest lot and size
    ("pdt_rejections", I8),  # since the reset
], align=True)

LOT_DTYPE = np.dtype([
    ("qty", F8), ("ref", F8), ("exec", F8), ("bar", I8),  # units left, open and execution price, entry bar
    ("slippage", F8), ("spread", F8), ("impact", F8), ("commission", F8),  # per unit
], align=True)

PARAMS_DTYPE = np.dtype([
    ("buy_fraction", F8),  # (1 - safety_buffer) * base_allocation
    ("max_position", F8), ("min_notional", F8), ("allow_short", np.bool_), ("fractional", np.bool_),
    ("pdt_threshold", F8), ("cash_margin", F8),
    ("seed", I8), ("max_slippage", F8), ("slippage_fixed", np.bool_), ("spread", F8),
    ("impact_mode", I8), ("y", F8), ("k", F8),  # backtest.costs.IMPACT_MODE_* and its coefficients
    ("per_share", F8), ("per_order", F8), ("per_notional", F8), ("volume_cap", F8),  # volume_cap 0 = off
    ("min_commission", F8), ("max_commission", F8),  # cash per order: 0 = none, inf = none
    ("max_commission_frac", F8),  # of the executed notional, 0 = none
], align=True)


class Market(NamedTuple):
    """Per-bar inputs of one series, one column each (all of length n_bars)."""

    time: np.ndarray  # datetime64[ns], bar start (UTC)
    open: np.ndarray  # float64
    close: np.ndarray  # float64
    prior_volume: np.ndarray  # float64, volume[t-1] (0 at t = 0): what the volume cap measures
    sigma: np.ndarray  # float64, square-root-law inputs in daily terms, NaN without history
    adv: np.ndarray  # float64
    session: np.ndarray  # int64 session_index
    pdt_on: np.ndarray  # bool: the PDT rule applies to a fill at this bar


ACTION_DTYPE = np.dtype([("kind", I8), ("size", F8)], align=True)

#: Keeps a cash-capped buy strictly affordable despite rounding (step 4).
CASH_MARGIN = 1.0 - 1e-12
#: A lot whose remaining quantity is at most this share of its quantity is used up.
LOT_EPS = 1e-12


# ---- the typed boundary, built in Python ---------------------------------------------------
def new_state(market: Market, t0, cash: float, n: int = 1) -> np.ndarray:
    """``n`` fresh, flat accounts deciding next at bar ``t0`` (`Simulator.reset`): cash = equity
    = previous-close equity = ``cash``, mark = ``close[t0-1]`` (``open[0]`` at t0 = 0)."""
    state = np.zeros(n, dtype=STATE_DTYPE)
    t0 = np.asarray(t0, dtype=np.int64)
    for name in ("cash", "equity", "prev_close_equity"):
        state[name] = cash
    state["mark_price"] = np.where(t0 > 0, market.close[np.maximum(t0 - 1, 0)], market.open[t0])
    state["t"] = t0
    for name in ("session", "pending", "dt0", "dt1", "dt2"):
        state[name] = NO_SESSION
    return state


def params(account, friction, seed: int) -> np.ndarray:
    """The `PARAMS_DTYPE` record (an array of one) of an `AccountConfig`, a `FrictionConfig`
    and the slippage seed."""
    p = np.zeros(1, dtype=PARAMS_DTYPE)
    values = dict(buy_fraction=account.buy_fraction, max_position=account.max_position,
                  min_notional=float(account.min_order_notional), allow_short=account.allow_short,
                  fractional=account.fractional, pdt_threshold=PDT_EQUITY_THRESHOLD, cash_margin=CASH_MARGIN,
                  seed=int(seed), max_slippage=friction.slippage.max_slippage,
                  slippage_fixed=friction.slippage.mode == "fixed", spread=friction.spread.spread,
                  impact_mode=friction.impact.code, y=friction.impact.y, k=friction.impact.k,
                  per_share=friction.commission.per_share, per_order=friction.commission.per_order,
                  per_notional=friction.commission.per_notional, volume_cap=friction.volume_cap.max_share,
                  min_commission=friction.commission.min_per_order, max_commission=friction.commission.max_cash,
                  max_commission_frac=friction.commission.max_per_notional)
    for name, value in values.items():
        p[name] = value
    return p


def action_table(kind, size) -> np.ndarray:
    """The `ACTION_DTYPE` table of an action space's kinds and sizes (ids in order)."""
    table = np.zeros(len(kind), dtype=ACTION_DTYPE)
    table["kind"], table["size"] = kind, size
    return table


# ---- one decision ---------------------------------------------------------------------------
@njit(cache=True)
def order_request(kind, size, pos, e, o, p):
    """(side, increases position, requested quantity, reason) of one decoded action.

    A reduction that would leave a position worth less than ``min_notional`` takes all of it.
    """
    if kind == BUY:
        if pos < 0.0:
            q = size * (-pos)
            return 1, False, (-pos if ((-pos) - q) * o < p.min_notional else q), 0
        return 1, True, ((e * p.buy_fraction) * size) / o, 0
    if kind == SELL:
        if pos > 0.0:
            q = size * pos
            return -1, False, (pos if (pos - q) * o < p.min_notional else q), 0
        if p.allow_short:
            return -1, True, ((e * p.buy_fraction) * size) / o, 0
        return -1, False, 0.0, REASON_NOTHING_TO_SELL
    if pos > 0.0:
        return -1, False, pos, 0
    if pos < 0.0:
        return 1, False, -pos, 0
    return 0, False, 0.0, REASON_NOTHING_TO_SELL


@njit(cache=True)
def size_order(side, increase, q, reason, e, o, pos, cash, slip, half, market, t, p):
    """Apply max-position, cash, volume caps and whole shares; returns (q, reason)."""
    if increase:
        if e <= 0.0:
            return 0.0, REASON_CASH
        qmax = (p.max_position * e) / o - abs(pos)
        if q > qmax:
            q = qmax if qmax > 0.0 else 0.0
            reason = REASON_MAX_POSITION
        if side == 1 and q > 0.0:
            imp, _code = impact(p.impact_mode, q, o, e, market.sigma[t], market.adv[t], p.y, p.k)
            u0 = o * (1.0 + ((slip + half) + imp))
            unit = u0 * (1.0 + p.per_notional) + p.per_share
            too_dear, largest = affordable_buy(q, u0, unit, cash, p.per_order, p.min_commission, p.max_commission,
                                               p.max_commission_frac)
            if too_dear:
                q = largest * p.cash_margin
                q = q if q > 0.0 else 0.0
                reason = REASON_CASH
    if p.volume_cap > 0.0:  # measured on the previous bar's volume, known at this open
        qv = p.volume_cap * market.prior_volume[t]
        if q > qv:
            q = qv
            reason = REASON_VOLUME_CAP
    if not p.fractional:
        q = np.floor(q)
    if increase and q * o < p.min_notional:
        q = 0.0
    if q <= 0.0 and reason == 0:
        reason = REASON_MIN_SIZE
    return q, reason


@njit(cache=True)
def push_lot(lots, st, fill):
    """Append the filled increase as a FIFO lot (per-unit costs); a full ring merges it into
    the newest lot."""
    cap = lots.shape[0]
    q = fill.qty
    if st.lot_count == cap:
        lot = lots[(st.lot_head + st.lot_count - 1) % cap]
        lq = lot.qty
        nq = lq + q
        lot.ref = (lq * lot.ref + q * fill.ref_price) / nq
        lot.exec = (lq * lot.exec + q * fill.exec_price) / nq
        lot.slippage = (lq * lot.slippage + fill.slippage) / nq
        lot.spread = (lq * lot.spread + fill.spread) / nq
        lot.impact = (lq * lot.impact + fill.impact) / nq
        lot.commission = (lq * lot.commission + fill.commission) / nq
        lot.qty = nq
        return
    lot = lots[(st.lot_head + st.lot_count) % cap]
    lot.qty, lot.ref, lot.exec, lot.bar = q, fill.ref_price, fill.exec_price, fill.bar
    lot.slippage, lot.spread = fill.slippage / q, fill.spread / q
    lot.impact, lot.commission = fill.impact / q, fill.commission / q
    st.lot_count += 1


@njit(cache=True)
def close_lots(lots, st, fill, full, pside, market, tr):
    """Consume the fill's quantity FIFO (all lots when ``full``) into the trade record ``tr``."""
    cap = lots.shape[0]
    q, o, px = fill.qty, fill.ref_price, fill.exec_price
    ref_sum = 0.0
    exec_sum = 0.0
    s_slip, s_spread, s_imp, s_comm = fill.slippage, fill.spread, fill.impact, fill.commission
    entry_bar = lots[st.lot_head].bar if st.lot_count > 0 else fill.bar
    remaining = q
    while st.lot_count > 0 and (full or remaining > 0.0):
        lot = lots[st.lot_head]
        lq = lot.qty
        m = lq if (full or remaining >= lq) else remaining
        ref_sum += m * lot.ref
        exec_sum += m * lot.exec
        s_slip += m * lot.slippage
        s_spread += m * lot.spread
        s_imp += m * lot.impact
        s_comm += m * lot.commission
        remaining -= m
        left = lq - m
        lot.qty = left
        if left <= LOT_EPS * lq:
            lot.qty = 0.0
            st.lot_head = (st.lot_head + 1) % cap
            st.lot_count -= 1
    gross = pside * (q * o - ref_sum)
    net = (((gross - s_slip) - s_spread) - s_imp) - s_comm
    tr.entry_bar, tr.exit_bar = entry_bar, fill.bar
    tr.entry_time, tr.exit_time = market.time[entry_bar], fill.time
    tr.side, tr.quantity = pside, q
    tr.entry_price, tr.exit_price = exec_sum / q, px
    tr.entry_ref, tr.exit_ref = ref_sum / q, o
    tr.gross_pnl = gross
    tr.slippage, tr.spread, tr.impact, tr.commission = s_slip, s_spread, s_imp, s_comm
    tr.net_pnl = net
    tr["return"] = net / exec_sum if exec_sum > 0.0 else 0.0


@njit(cache=True)
def roll(st, session):
    """1. A new session: the last mark was the previous session's close."""
    if session != st.session:
        st.prev_close_equity = st.equity
        st.session = session


@njit(cache=True)
def mark(st, t, close):
    """7. Mark to the close; count completed bars in position; the next decision is at t+1."""
    st.equity = st.cash + st.position * close
    st.mark_price = close
    if st.position != 0.0:
        st.bars_in_position += 1
    else:
        st.bars_in_position = 0
    st.t = t + 1


@njit(cache=True)
def hold(st, t, market):
    """A HOLD at bar ``t`` (steps 1 and 7): what `decide` does for HOLD, without a record."""
    roll(st, market.session[t])
    mark(st, t, market.close[t])


@njit(cache=True)
def decide(st, a, market, actions, p, lots, fill, trades, k):
    """One decision ``a`` of account record ``st`` at its bar ``st.t``: fill at the open, mark
    at the close. Writes the fill record ``fill`` (status hold for HOLD) and a trade it
    closes into ``trades[k]``; returns the number of trades written (0 or 1)."""
    t = st.t
    s = market.session[t]
    roll(st, s)
    kind = actions[a].kind
    o = market.open[t]
    cash = st.cash
    pos = st.position
    e = cash + pos * o
    fill.bar, fill.time, fill.action, fill.side = t, market.time[t], a, 0
    fill.status, fill.reason, fill.impact_model, fill.day_trade = STATUS_HOLD, 0, IMPACT_NONE, False
    fill.requested_qty, fill.qty, fill.ref_price, fill.exec_price = 0.0, 0.0, o, 0.0
    fill.slippage, fill.spread, fill.impact, fill.commission = 0.0, 0.0, 0.0, 0.0
    closed = 0
    if kind != HOLD:
        side, increase, q, reason = order_request(kind, actions[a].size, pos, e, o, p)
        fill.requested_qty = q
        fill.side = side
        day_trade = market.pdt_on[t] and is_day_trade(increase, s, st.pending)
        rejected = reason != 0
        if not rejected and day_trade:  # 2. PDT check
            binding = st.prev_close_equity < p.pdt_threshold
            if pdt_blocks(binding, s, st.dt0, st.dt1, st.dt2):
                rejected = True
                reason = REASON_PDT
                st.pdt_rejections += 1
        # 3. cost fractions and sizing
        slip = slippage_fraction(uniform_scalar(p.seed, t), p.max_slippage, p.slippage_fixed)
        half = spread_fraction(p.spread)
        if not rejected:
            q, reason = size_order(side, increase, q, reason, e, o, pos, cash, slip, half, market, t, p)
            rejected = q <= 0.0
        fill.reason = reason
        if rejected:
            fill.status = STATUS_REJECTED
        else:
            closed = execute(st, side, increase, q, e, slip, half, day_trade, p, lots, fill, market, trades, k)
    fill.cash_after = st.cash
    fill.position_after = st.position
    mark(st, t, market.close[t])
    return closed


@njit(cache=True)
def execute(st, side, increase, q, e, slip, half, day_trade, p, lots, fill, market, trades, k):
    """4-6. Costs at the final quantity, cash/position update, PDT bookkeeping, lots; returns
    the trades written into ``trades[k]``."""
    t, o, s = fill.bar, fill.ref_price, st.session
    imp, code = impact(p.impact_mode, q, o, e, market.sigma[t], market.adv[t], p.y, p.k)
    px = o * (1.0 + side * ((slip + half) + imp))
    notional = q * o
    comm = commission_cash(q, q * px, p.per_share, p.per_order, p.per_notional, p.min_commission,
                           commission_max(q * px, p.max_commission, p.max_commission_frac))
    pos_old = st.position
    st.cash = (st.cash - side * (q * px)) - comm
    pos_new = pos_old + side * q
    st.position = pos_new
    fill.status, fill.impact_model, fill.qty, fill.exec_price = STATUS_FILLED, code, q, px
    fill.slippage, fill.spread, fill.impact, fill.commission = notional * slip, notional * half, notional * imp, comm
    if increase:
        st.pending = s
        if pos_old == 0.0:
            st.entry_price = px
            st.bars_in_position = 0
        else:
            st.entry_price = (abs(pos_old) * st.entry_price + q * px) / abs(pos_new)
        push_lot(lots, st, fill)
        return 0
    if day_trade:
        st.pending = NO_SESSION
        st.dt0, st.dt1, st.dt2 = st.dt1, st.dt2, s
        fill.day_trade = True
    full = pos_new == 0.0
    close_lots(lots, st, fill, full, -side, market, trades[k])
    if full:
        st.entry_price = 0.0
    return 1


@njit(cache=True)
def observe(st, market, p, out):
    """The observable account state (`ACCOUNT_STATE_DTYPE` record ``out``) for the decision at
    the state's bar (clamped to the last bar): day trades left with the equity of step 1 as
    it will be there (the last mark when that bar starts a new session)."""
    t = min(st.t, market.open.shape[0] - 1)
    s = market.session[t]
    prev_close = st.equity if s != st.session else st.prev_close_equity
    binding = market.pdt_on[t] and prev_close < p.pdt_threshold
    out.cash, out.position, out.entry_price, out.mark_price = st.cash, st.position, st.entry_price, st.mark_price
    out.bars_in_position = st.bars_in_position
    out.day_trades_left = day_trades_left(binding, s, st.dt0, st.dt1, st.dt2)


# ---- entry points ---------------------------------------------------------------------------
@njit(cache=True)
def step(state, a, market, actions, params, lots, fills, trades):
    """One decision ``a`` of account ``state[0]`` at its bar: the fill record into ``fills[0]``,
    a trade it closes into ``trades[0]``; returns the trades written (0 or 1)."""
    return decide(state[0], a, market, actions, params[0], lots, fills[0], trades, 0)


@njit(cache=True)
def run(state, decisions, market, actions, params, lots, fills, trades, equity, cash, position):
    """Decisions ``decisions`` at consecutive bars from the state's bar; the fills of non-HOLD
    decisions and the trades in order, the per-bar series at each close. Returns
    ``(fills written, trades written)``."""
    st = state[0]
    p = params[0]
    n_fills = 0
    n_trades = 0
    t0 = st.t
    for i in range(decisions.shape[0]):
        a = decisions[i]
        if actions[a].kind == HOLD:  # fast path, same effect as `decide` for HOLD (steps 1 and 7)
            hold(st, t0 + i, market)
        else:
            n_trades += decide(st, a, market, actions, p, lots, fills[n_fills], trades, n_trades)
            n_fills += 1
        equity[i] = st.equity
        cash[i] = st.cash
        position[i] = st.position
    return n_fills, n_trades


@njit(cache=True)
def step_many(states, t, a, market, actions, params, lots, trades, fills):
    """`step` for many independent accounts in place: account ``states[i]`` decides ``a[i]``
    at bar ``t[i]``, its fill record into ``fills[i]``. ``lots`` and ``trades`` are scratch
    (one ring and one record serve every account in turn, emptied before each): lots only
    shape trade records, which no state field reads."""
    p = params[0]
    for i in range(states.shape[0]):
        st = states[i]
        st.t = t[i]
        st.lot_head = 0
        st.lot_count = 0
        decide(st, a[i], market, actions, p, lots, fills[i], trades, 0)


@njit(cache=True)
def account_states(states, market, params, out):
    """`observe` of every account: ``out[i]`` for the next decision of ``states[i]``."""
    p = params[0]
    for i in range(states.shape[0]):
        observe(states[i], market, p, out[i])


__all__ = ["ACTION_DTYPE", "CASH_MARGIN", "LOT_DTYPE", "Market", "PARAMS_DTYPE", "STATE_DTYPE", "account_states",
           "action_table", "decide", "hold", "mark", "new_state", "observe", "params", "run", "step", "step_many"]
