"""The numba kernel behind `backtest.simulator` (step semantics documented there).

State lives in three flat arrays so the torch environment can mirror it:
``fs`` float64 scalars (``F_*``), ``ist`` int64 scalars (``I_*``) and ``lots``
float64 ``[capacity, N_LOT]`` (a FIFO ring buffer, ``L_*`` columns, per-unit costs).
Outputs are matrices (fills ``FF_*``/``FI_*``, trades ``TF_*``/``TI_*``) that the
Python side turns into structured records.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from backtest.account import (BUY, CLOSE, HOLD, REASON_CASH, REASON_MAX_POSITION, REASON_MIN_SIZE,
                              REASON_NOTHING_TO_SELL, REASON_PDT, REASON_VOLUME_CAP, SELL)
from backtest.costs import (IMPACT_NO_HISTORY, IMPACT_NONE, IMPACT_PORTFOLIO, IMPACT_SQRT, P_IMPACT_MODE, P_K, P_PER_NOTIONAL, P_PER_ORDER,
                            P_PER_SHARE, P_SLIP_FIXED, P_SLIP_MAX, P_SPREAD, P_VOLUME_CAP, P_Y, commission_cash,
                            portfolio_impact, slippage_fraction, spread_fraction, sqrt_law_impact)
from backtest.pdt import NO_SESSION, day_trades_left, is_day_trade, pdt_blocks
from backtest.rng import uniform_scalar
from backtest.trades import STATUS_FILLED, STATUS_HOLD, STATUS_REJECTED

# float state
F_CASH, F_POS, F_ENTRY, F_MARK, F_EQUITY, F_PREV_CLOSE_EQUITY = range(6)
N_F = 6
# int state
(I_T, I_BARS_IN_POS, I_SESSION, I_PENDING, I_DT0, I_DT1, I_DT2, I_LOT_HEAD, I_LOT_COUNT, I_N_FILLS,
 I_N_TRADES, I_PDT_REJECTS) = range(12)
N_I = 12
# lot columns (quantity, prices, entry bar, per-unit costs)
L_QTY, L_REF, L_EXEC, L_BAR, L_SLIP, L_SPREAD, L_IMPACT, L_COMM = range(8)
N_LOT = 8
# account params (float): buy fraction, max position, PDT threshold, cash margin
A_BUY_FRACTION, A_MAX_POSITION, A_PDT_THRESHOLD, A_CASH_MARGIN, A_MIN_NOTIONAL = range(5)
N_A = 4
# int params
K_ALLOW_SHORT, K_FRACTIONAL, K_SEED = range(3)
N_K = 3
# fill matrix columns
(FF_REQ_QTY, FF_QTY, FF_REF, FF_EXEC, FF_SLIP, FF_SPREAD, FF_IMPACT, FF_COMM, FF_CASH,
 FF_POS) = range(10)
N_FF = 10
FI_BAR, FI_ACTION, FI_SIDE, FI_STATUS, FI_REASON, FI_IMPACT_MODEL, FI_DAY_TRADE = range(7)
N_FI = 7
# trade matrix columns
(TF_QTY, TF_ENTRY, TF_EXIT, TF_ENTRY_REF, TF_EXIT_REF, TF_GROSS, TF_SLIP, TF_SPREAD, TF_IMPACT, TF_COMM,
 TF_NET, TF_RET) = range(12)
N_TF = 12
TI_ENTRY_BAR, TI_EXIT_BAR, TI_SIDE = range(3)
N_TI = 3

#: A lot whose remaining quantity is at most this share of its quantity is used up.
LOT_EPS = 1e-12


@njit(cache=True)
def impact_for(q, o, e, sigma, adv, fp):
    """(impact fraction, model code) for ``q`` units at open ``o`` with equity ``e``."""
    mode = fp[P_IMPACT_MODE]  # 0 auto, 1 portfolio, 2 none (costs._IMPACT_MODES order)
    if mode == 2.0:
        return 0.0, IMPACT_NONE
    if mode == 0.0:  # square-root law; no history -> no impact, recorded as such
        if adv > 0.0 and sigma == sigma and adv == adv:
            return sqrt_law_impact(q, adv, sigma, fp[P_Y]), IMPACT_SQRT
        return 0.0, IMPACT_NO_HISTORY
    notional = q * o
    eq = e if e > 0.0 else notional
    if eq <= 0.0:
        return 0.0, IMPACT_PORTFOLIO
    return portfolio_impact(notional, eq, fp[P_K]), IMPACT_PORTFOLIO


@njit(cache=True)
def order_request(kind, size, pos, e, o, buy_fraction, allow_short, min_notional):
    """(side, increases position, requested quantity, reason) of one decoded action.

    A reduction that would leave a position worth less than ``min_notional`` takes all of it.
    """
    if kind == BUY:
        if pos < 0.0:
            q = size * (-pos)
            return 1, False, (-pos if ((-pos) - q) * o < min_notional else q), 0
        return 1, True, ((e * buy_fraction) * size) / o, 0
    if kind == SELL:
        if pos > 0.0:
            q = size * pos
            return -1, False, (pos if (pos - q) * o < min_notional else q), 0
        if allow_short:
            return -1, True, ((e * buy_fraction) * size) / o, 0
        return -1, False, 0.0, REASON_NOTHING_TO_SELL
    if pos > 0.0:
        return -1, False, pos, 0
    if pos < 0.0:
        return 1, False, -pos, 0
    return 0, False, 0.0, REASON_NOTHING_TO_SELL


@njit(cache=True)
def size_order(t, side, increase, q, reason, e, o, pos, cash, slip, half, sigma, adv, prior_volume, ap, ip, fp):
    """Apply max-position, cash, volume caps and whole shares; returns (q, reason)."""
    if increase:
        if e <= 0.0:
            return 0.0, REASON_CASH
        qmax = (ap[A_MAX_POSITION] * e) / o - abs(pos)
        if q > qmax:
            q = qmax if qmax > 0.0 else 0.0
            reason = REASON_MAX_POSITION
        if side == 1 and q > 0.0:
            imp, _m = impact_for(q, o, e, sigma, adv, fp)
            unit = (o * (1.0 + ((slip + half) + imp))) * (1.0 + fp[P_PER_NOTIONAL]) + fp[P_PER_SHARE]
            if q * unit + fp[P_PER_ORDER] > cash:
                q = ((cash - fp[P_PER_ORDER]) / unit) * ap[A_CASH_MARGIN]
                q = q if q > 0.0 else 0.0
                reason = REASON_CASH
    if fp[P_VOLUME_CAP] > 0.0:  # measured on the previous bar's volume, known at this open
        qv = fp[P_VOLUME_CAP] * prior_volume
        if q > qv:
            q = qv
            reason = REASON_VOLUME_CAP
    if ip[K_FRACTIONAL] == 0:
        q = np.floor(q)
    if increase and q * o < ap[A_MIN_NOTIONAL]:
        q = 0.0
    if q <= 0.0 and reason == 0:
        reason = REASON_MIN_SIZE
    return q, reason


@njit(cache=True)
def push_lot(lots, ist, t, q, o, px, c_slip, c_spread, c_imp, comm):
    """Append a FIFO lot (per-unit costs); a full ring merges into the newest lot."""
    cap = lots.shape[0]
    head, count = ist[I_LOT_HEAD], ist[I_LOT_COUNT]
    if count == cap:
        j = (head + count - 1) % cap
        lq = lots[j, L_QTY]
        nq = lq + q
        lots[j, L_REF] = (lq * lots[j, L_REF] + q * o) / nq
        lots[j, L_EXEC] = (lq * lots[j, L_EXEC] + q * px) / nq
        lots[j, L_SLIP] = (lq * lots[j, L_SLIP] + c_slip) / nq
        lots[j, L_SPREAD] = (lq * lots[j, L_SPREAD] + c_spread) / nq
        lots[j, L_IMPACT] = (lq * lots[j, L_IMPACT] + c_imp) / nq
        lots[j, L_COMM] = (lq * lots[j, L_COMM] + comm) / nq
        lots[j, L_QTY] = nq
        return
    j = (head + count) % cap
    lots[j, L_QTY] = q
    lots[j, L_REF] = o
    lots[j, L_EXEC] = px
    lots[j, L_BAR] = t
    lots[j, L_SLIP] = c_slip / q
    lots[j, L_SPREAD] = c_spread / q
    lots[j, L_IMPACT] = c_imp / q
    lots[j, L_COMM] = comm / q
    ist[I_LOT_COUNT] = count + 1


@njit(cache=True)
def close_lots(lots, ist, tf, ti, t, q, full, pside, o, px, c_slip, c_spread, c_imp, comm):
    """Consume ``q`` units FIFO (all lots when ``full``) and write one trade record."""
    cap = lots.shape[0]
    k = ist[I_N_TRADES]
    ref_sum = 0.0
    exec_sum = 0.0
    s_slip, s_spread, s_imp, s_comm = c_slip, c_spread, c_imp, comm
    entry_bar = t
    if ist[I_LOT_COUNT] > 0:
        entry_bar = int(lots[ist[I_LOT_HEAD], L_BAR])
    remaining = q
    while ist[I_LOT_COUNT] > 0 and (full or remaining > 0.0):
        j = ist[I_LOT_HEAD]
        lq = lots[j, L_QTY]
        m = lq if (full or remaining >= lq) else remaining
        ref_sum += m * lots[j, L_REF]
        exec_sum += m * lots[j, L_EXEC]
        s_slip += m * lots[j, L_SLIP]
        s_spread += m * lots[j, L_SPREAD]
        s_imp += m * lots[j, L_IMPACT]
        s_comm += m * lots[j, L_COMM]
        remaining -= m
        left = lq - m
        lots[j, L_QTY] = left
        if left <= LOT_EPS * lq:
            lots[j, L_QTY] = 0.0
            ist[I_LOT_HEAD] = (j + 1) % cap
            ist[I_LOT_COUNT] -= 1
    gross = pside * (q * o - ref_sum)
    net = (((gross - s_slip) - s_spread) - s_imp) - s_comm
    tf[k, TF_QTY] = q
    tf[k, TF_ENTRY] = exec_sum / q
    tf[k, TF_EXIT] = px
    tf[k, TF_ENTRY_REF] = ref_sum / q
    tf[k, TF_EXIT_REF] = o
    tf[k, TF_GROSS] = gross
    tf[k, TF_SLIP] = s_slip
    tf[k, TF_SPREAD] = s_spread
    tf[k, TF_IMPACT] = s_imp
    tf[k, TF_COMM] = s_comm
    tf[k, TF_NET] = net
    tf[k, TF_RET] = net / exec_sum if exec_sum > 0.0 else 0.0
    ti[k, TI_ENTRY_BAR] = entry_bar
    ti[k, TI_EXIT_BAR] = t
    ti[k, TI_SIDE] = pside
    ist[I_N_TRADES] = k + 1


@njit(cache=True)
def step(t, a, mkt, kind_tab, size_tab, ap, ip, fp, fs, ist, lots, ff, fi, k, tf, ti):
    """One decision at bar ``t``: fill at ``open[t]``, mark at ``close[t]``; fill record in row ``k``."""
    open_, close, prior_volume, session, pdt_on, sigma, adv = mkt
    s = session[t]
    if s != ist[I_SESSION]:  # 1. new session: the last mark was the previous session's close
        fs[F_PREV_CLOSE_EQUITY] = fs[F_EQUITY]
        ist[I_SESSION] = s
    kind = kind_tab[a]
    o = open_[t]
    cash = fs[F_CASH]
    pos = fs[F_POS]
    e = cash + pos * o
    for j in range(N_FF):
        ff[k, j] = 0.0
    ff[k, FF_REF] = o
    fi[k, FI_BAR] = t
    fi[k, FI_ACTION] = a
    fi[k, FI_SIDE] = 0
    fi[k, FI_STATUS] = STATUS_HOLD
    fi[k, FI_REASON] = 0
    fi[k, FI_IMPACT_MODEL] = IMPACT_NONE
    fi[k, FI_DAY_TRADE] = 0
    if kind != HOLD:
        side, increase, q, reason = order_request(kind, size_tab[a], pos, e, o, ap[A_BUY_FRACTION],
                                                  ip[K_ALLOW_SHORT] != 0, ap[A_MIN_NOTIONAL])
        ff[k, FF_REQ_QTY] = q
        fi[k, FI_SIDE] = side
        day_trade = pdt_on[t] and is_day_trade(increase, s, ist[I_PENDING])
        rejected = reason != 0
        if not rejected and day_trade:  # 2. PDT check
            binding = fs[F_PREV_CLOSE_EQUITY] < ap[A_PDT_THRESHOLD]
            if pdt_blocks(binding, s, ist[I_DT0], ist[I_DT1], ist[I_DT2]):
                rejected = True
                reason = REASON_PDT
                ist[I_PDT_REJECTS] += 1
        # 3. cost fractions and sizing
        slip = slippage_fraction(uniform_scalar(ip[K_SEED], t), fp[P_SLIP_MAX], fp[P_SLIP_FIXED] != 0.0)
        half = spread_fraction(fp[P_SPREAD])
        if not rejected:
            q, reason = size_order(t, side, increase, q, reason, e, o, pos, cash, slip, half, sigma[t], adv[t],
                                   prior_volume[t], ap, ip, fp)
            rejected = q <= 0.0
        fi[k, FI_REASON] = reason
        if rejected:
            fi[k, FI_STATUS] = STATUS_REJECTED
        else:
            fill(t, side, increase, q, o, e, s, slip, half, sigma[t], adv[t], day_trade, ap, fp, fs, ist, lots,
                 ff, fi, k, tf, ti)
    ff[k, FF_CASH] = fs[F_CASH]
    ff[k, FF_POS] = fs[F_POS]
    mark(t, close[t], fs, ist)


@njit(cache=True)
def fill(t, side, increase, q, o, e, s, slip, half, sigma, adv, day_trade, ap, fp, fs, ist, lots, ff, fi, k,
         tf, ti):
    """4-6. Costs at the final quantity, cash/position update, PDT bookkeeping, lots."""
    imp, model = impact_for(q, o, e, sigma, adv, fp)
    px = o * (1.0 + side * ((slip + half) + imp))
    notional = q * o
    c_slip = notional * slip
    c_spread = notional * half
    c_imp = notional * imp
    comm = commission_cash(q, q * px, fp[P_PER_SHARE], fp[P_PER_ORDER], fp[P_PER_NOTIONAL])
    pos_old = fs[F_POS]
    fs[F_CASH] = (fs[F_CASH] - side * (q * px)) - comm
    pos_new = pos_old + side * q
    fs[F_POS] = pos_new
    ff[k, FF_QTY] = q
    ff[k, FF_EXEC] = px
    ff[k, FF_SLIP] = c_slip
    ff[k, FF_SPREAD] = c_spread
    ff[k, FF_IMPACT] = c_imp
    ff[k, FF_COMM] = comm
    fi[k, FI_STATUS] = STATUS_FILLED
    fi[k, FI_IMPACT_MODEL] = model
    if increase:
        ist[I_PENDING] = s
        if pos_old == 0.0:
            fs[F_ENTRY] = px
            ist[I_BARS_IN_POS] = 0
        else:
            fs[F_ENTRY] = (abs(pos_old) * fs[F_ENTRY] + q * px) / abs(pos_new)
        push_lot(lots, ist, t, q, o, px, c_slip, c_spread, c_imp, comm)
    else:
        if day_trade:
            ist[I_PENDING] = NO_SESSION
            ist[I_DT0] = ist[I_DT1]
            ist[I_DT1] = ist[I_DT2]
            ist[I_DT2] = s
            fi[k, FI_DAY_TRADE] = 1
        full = pos_new == 0.0
        close_lots(lots, ist, tf, ti, t, q, full, -side, o, px, c_slip, c_spread, c_imp, comm)
        if full:
            fs[F_ENTRY] = 0.0


@njit(cache=True)
def mark(t, c, fs, ist):
    """7. Mark to the close; count completed bars in position."""
    fs[F_EQUITY] = fs[F_CASH] + fs[F_POS] * c
    fs[F_MARK] = c
    if fs[F_POS] != 0.0:
        ist[I_BARS_IN_POS] += 1
    else:
        ist[I_BARS_IN_POS] = 0
    ist[I_T] = t + 1


@njit(cache=True)
def run(t0, actions, mkt, kind_tab, size_tab, ap, ip, fp, fs, ist, lots, ff, fi, tf, ti, eq, cash, pos):
    """Step through ``actions`` (decisions at bars ``t0 ..``); HOLD fills are not kept."""
    session = mkt[3]
    close = mkt[1]
    for i in range(actions.shape[0]):
        t = t0 + i
        a = actions[i]
        if kind_tab[a] == HOLD:  # fast path, same effect as `step` for HOLD (steps 1 and 7)
            s = session[t]
            if s != ist[I_SESSION]:
                fs[F_PREV_CLOSE_EQUITY] = fs[F_EQUITY]
                ist[I_SESSION] = s
            mark(t, close[t], fs, ist)
        else:
            k = ist[I_N_FILLS]
            step(t, a, mkt, kind_tab, size_tab, ap, ip, fp, fs, ist, lots, ff, fi, k, tf, ti)
            ist[I_N_FILLS] = k + 1
        eq[i] = fs[F_EQUITY]
        cash[i] = fs[F_CASH]
        pos[i] = fs[F_POS]


@njit(cache=True)
def state_day_trades_left(t, session, pdt_on, ap, fs, ist):
    """Day trades left for a decision at bar ``t`` given the state after bar ``t-1``."""
    s = session[t]
    prev_close = fs[F_EQUITY] if s != ist[I_SESSION] else fs[F_PREV_CLOSE_EQUITY]
    binding = pdt_on[t] and prev_close < ap[A_PDT_THRESHOLD]
    return day_trades_left(binding, s, ist[I_DT0], ist[I_DT1], ist[I_DT2])


@njit(cache=True)
def step_accounts(t, a, mkt, kind_tab, size_tab, ap, ip, fp, cash, pos, entry, mark_px, equity, prev_close,
                  bars_in_pos, session, pending, dt0, dt1, dt2, pdt_rejects):
    """`step` for many independent accounts (arrays of length n, account i at bar ``t[i]``).

    What `models.env` runs on CPU: the simulator's own step for each account, instead of
    its elementwise torch mirror. Inputs are read only; returns new arrays (the 13 state
    fields in argument order, then the fill records ``ff [n, N_FF]`` / ``fi [n, N_FI]``).
    Lots are not carried (a scratch ring per account and step): they only shape trade
    records, which no state field reads.
    """
    n = t.shape[0]
    f_out = np.empty((6, n))
    i_out = np.empty((7, n), dtype=np.int64)
    ff = np.empty((n, N_FF))
    fi = np.empty((n, N_FI), dtype=np.int64)
    fs = np.empty(N_F)
    ist = np.zeros(N_I, dtype=np.int64)
    lots = np.empty((1, N_LOT))
    tf = np.empty((1, N_TF))
    ti = np.empty((1, N_TI), dtype=np.int64)
    for i in range(n):
        fs[F_CASH] = cash[i]
        fs[F_POS] = pos[i]
        fs[F_ENTRY] = entry[i]
        fs[F_MARK] = mark_px[i]
        fs[F_EQUITY] = equity[i]
        fs[F_PREV_CLOSE_EQUITY] = prev_close[i]
        ist[I_T] = t[i]
        ist[I_BARS_IN_POS] = bars_in_pos[i]
        ist[I_SESSION] = session[i]
        ist[I_PENDING] = pending[i]
        ist[I_DT0] = dt0[i]
        ist[I_DT1] = dt1[i]
        ist[I_DT2] = dt2[i]
        ist[I_PDT_REJECTS] = pdt_rejects[i]
        ist[I_LOT_HEAD] = 0
        ist[I_LOT_COUNT] = 0
        ist[I_N_TRADES] = 0
        step(t[i], a[i], mkt, kind_tab, size_tab, ap, ip, fp, fs, ist, lots, ff, fi, i, tf, ti)
        for j in range(6):
            f_out[j, i] = fs[j]
        i_out[0, i] = ist[I_BARS_IN_POS]
        i_out[1, i] = ist[I_SESSION]
        i_out[2, i] = ist[I_PENDING]
        i_out[3, i] = ist[I_DT0]
        i_out[4, i] = ist[I_DT1]
        i_out[5, i] = ist[I_DT2]
        i_out[6, i] = ist[I_PDT_REJECTS]
    return (f_out[F_CASH], f_out[F_POS], f_out[F_ENTRY], f_out[F_MARK], f_out[F_EQUITY], f_out[F_PREV_CLOSE_EQUITY],
            i_out[0], i_out[1], i_out[2], i_out[3], i_out[4], i_out[5], i_out[6], ff, fi)


@njit(cache=True)
def day_trades_left_many(t, session, pdt_on, ap, equity, prev_close, session_state, dt0, dt1, dt2):
    """`state_day_trades_left` for many accounts (account i deciding next at bar ``t[i]``)."""
    n = t.shape[0]
    out = np.empty(n, dtype=np.int64)
    fs = np.zeros(N_F)
    ist = np.zeros(N_I, dtype=np.int64)
    for i in range(n):
        fs[F_EQUITY] = equity[i]
        fs[F_PREV_CLOSE_EQUITY] = prev_close[i]
        ist[I_SESSION] = session_state[i]
        ist[I_DT0] = dt0[i]
        ist[I_DT1] = dt1[i]
        ist[I_DT2] = dt2[i]
        out[i] = state_day_trades_left(t[i], session, pdt_on, ap, fs, ist)
    return out
