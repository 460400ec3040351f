"""A plain-Python account, one bar at a time: an independent reference for execution.

Written from DESIGN 3.3-3.5 and the step contract in the `backtest.simulator` module
docstring, NOT from the numba kernel (`backtest.kernel`) or its torch mirror
(`models.env_step`): no numba, no numpy in the arithmetic, no shared helper from
`backtest.costs`, `backtest.pdt`, `backtest.rng` or `backtest.account_features`. Slow
and obvious on purpose: Python floats (IEEE float64, no FMA), ``math.sqrt`` (correctly
rounded), a list of day-trade sessions instead of a ring, a list of FIFO lots.

The contract fixes the order of every floating-point operation, so the reference
follows the same parenthesisation and its numbers equal the kernel's BIT FOR BIT;
`tests/test_reference_account.py` holds the simulator, the env's kernel step and the
env's torch step to it exactly. Two inputs are taken from the code base instead of
recomputed here, each for a stated reason:

- ``sigma``/``adv`` (the square-root law's trailing daily volatility and volume): pandas'
  rolling standard deviation is an online update that differs from a two-pass standard
  deviation in the last bits, so `reference_impact_inputs` below recomputes them in plain
  Python and the tests compare that with `backtest.costs.impact_inputs` to 1e-9 relative;
  the account step then reads the code's values (`ReferenceMarket.from_bars`), so one
  ulp there cannot break the exact comparison of everything downstream.
- status, reason and impact-model CODES (small integers) are the record encoding of
  `backtest.trades` / `backtest.account` / `backtest.costs`, spelled out here as numbers.

Rewards (`reference_reward`, from the `models.reward` module docstring) and account
features (`reference_account_features`, DESIGN 3.2) are compared to 1e-12: ``tanh``
and the order of a few products are not part of their contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

# ---- the record encoding (backtest.trades, backtest.account, backtest.costs) ------------
STATUS_HOLD, STATUS_FILLED, STATUS_REJECTED = 0, 1, 2
R_NONE, R_CASH, R_MAX_POSITION, R_VOLUME_CAP, R_PDT, R_NOTHING_TO_SELL, R_MIN_SIZE = range(7)
IMPACT_NONE, IMPACT_SQRT, IMPACT_PORTFOLIO, IMPACT_NO_HISTORY = 0, 1, 2, 3

# ---- the rules (DESIGN 3.5, the simulator docstring) -----------------------------------
PDT_THRESHOLD = 25_000.0  # equity at the previous close below which the rule binds
PDT_MAX_DAY_TRADES = 3  # the 4th day trade in the window is refused
PDT_WINDOW = 5  # sessions, the current one included
PDT_REPEAL = pd.Timestamp("2026-06-04")  # mode auto: sessions from this date are exempt
CASH_MARGIN = 1.0 - 1e-12  # a cash-capped buy is scaled by this (simulator step 4)


def _commission(com, q: float, exec_notional: float) -> float:
    """The commission of one order: the fee, at least the minimum, at most the maximum (which
    wins), the maximum being the cash one or the share of the executed notional, whichever is less."""
    fee = com.per_order + com.per_share * q + com.per_notional * exec_notional
    fee = max(fee, com.min_per_order)
    caps = [com.max_per_order] if com.max_per_order > 0 else []
    if com.max_per_notional > 0:
        caps.append(com.max_per_notional * exec_notional)
    return min([fee, *caps])


def _buy_cost(com, q: float, u0: float, unit: float) -> float:
    """Upper bound of the cash a buy of ``q`` at ``u0`` a unit takes, commission included."""
    a = q * u0
    cost = max(q * unit + com.per_order, a + com.min_per_order)
    if com.max_per_order > 0:
        cost = min(cost, a + com.max_per_order)
    if com.max_per_notional > 0:
        cost = min(cost, a + com.max_per_notional * a)
    return cost


def _largest_buy(com, cash: float, u0: float, unit: float) -> float:
    """The largest quantity whose `_buy_cost` is within ``cash`` (each piece of the cost solved)."""
    q = min((cash - com.per_order) / unit, (cash - com.min_per_order) / u0)
    if com.max_per_order > 0:
        q = max(q, (cash - com.max_per_order) / u0)
    if com.max_per_notional > 0:
        q = max(q, cash / (u0 + com.max_per_notional * u0))
    return q
LOT_EPS = 1e-12  # a lot with at most this share of its quantity left is used up


# ---- the counter-based uniform keyed by (seed, bar) --------------------------------------
def _mix32(x: int) -> int:
    m = 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & m
    x ^= x >> 15
    x = (x * 0x5BD1E995) & m
    x ^= x >> 16
    return x


def uniform(seed: int, index: int) -> float:
    """The slippage draw of bar ``index`` (the hash `backtest.rng` documents), Python ints."""
    m = 0xFFFFFFFF
    h = _mix32((seed & m) ^ 0x243F6A88)
    h = _mix32(h ^ ((seed >> 32) & m))
    h = _mix32(h ^ (index & m))
    h = _mix32(h ^ ((index >> 32) & m))
    bits = (_mix32(h ^ 0x13198A2E) >> 6) * 2**27 + (_mix32(h ^ 0x03707344) >> 5)
    return float(bits) * 2.0**-53


# ---- per-bar market inputs ----------------------------------------------------------------
@dataclass
class ReferenceMarket:
    """Per-bar lists (Python floats and ints) of one series."""

    open: list
    close: list
    prior_volume: list  # volume of the previous bar (0 for the first): what the volume cap reads
    session: list  # session_index
    pdt_on: list  # does the PDT rule apply to a fill at this bar
    sigma: list  # square-root law inputs, NaN without history
    adv: list

    @classmethod
    def from_bars(cls, bars, pdt_mode: str, sigma=None, adv=None) -> "ReferenceMarket":
        """``sigma``/``adv``: per-bar sequences (default: the code's `market_inputs`, see the module doc)."""
        n = len(bars)
        vol = [float(v) for v in bars.volume]
        dates = list(pd.DatetimeIndex(bars.frame["session"]).tz_localize(None)) if n else []
        if pdt_mode == "off" or bars.asset_class != "equity":
            pdt_on = [False] * n
        elif pdt_mode == "on":
            pdt_on = [True] * n
        else:
            pdt_on = [d < PDT_REPEAL for d in dates]
        if sigma is None or adv is None:
            from backtest.costs import FrictionConfig, impact_inputs

            imp = FrictionConfig.for_asset_class(bars.asset_class).impact
            sigma, adv = impact_inputs(bars, imp.lookback, imp.min_sessions)
        return cls(open=[float(x) for x in bars.open], close=[float(x) for x in bars.close],
                   prior_volume=[0.0] + vol[:-1], session=[int(s) for s in bars.session_index], pdt_on=pdt_on,
                   sigma=[float(x) for x in sigma], adv=[float(x) for x in adv])


def _sample_std(xs: list) -> float:
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def reference_impact_inputs(bars, lookback: int, min_sessions: int, sessions_per_bar: float = 1.0):
    """Trailing daily sigma and ADV per bar from sessions strictly before the bar's (plain loops).

    Intraday and daily bars: a session's close is its last bar's close, its volume the sum;
    sigma = sample std of the daily log returns of the last ``lookback`` sessions before the
    bar's session, ADV their mean volume; NaN with fewer than ``min_sessions`` values. Coarse
    bars (``sessions_per_bar`` m > 1): each bar is a group, returns / sqrt(m), volume / m, a
    window of max(2, ceil(lookback / m)) bars needing min(window, max(2, ceil(min_sessions / m))).
    """
    close, volume, sess = list(bars.close), list(bars.volume), list(bars.session_index)
    n = len(close)
    m = float(sessions_per_bar)
    if m > 1.0:
        groups = [[i] for i in range(n)]
        window = max(2, math.ceil(lookback / m))
        need = min(window, max(2, math.ceil(min_sessions / m)))
    else:
        groups = []
        for i in range(n):
            if i and sess[i] == sess[i - 1]:
                groups[-1].append(i)
            else:
                groups.append([i])
        window, need = lookback, min_sessions
    g_close = [close[g[-1]] for g in groups]
    g_vol = [sum(volume[i] for i in g) / m for g in groups]
    g_ret = [math.nan] + [math.log(g_close[k] / g_close[k - 1]) / math.sqrt(m) for k in range(1, len(groups))]
    sigma, adv = [], []
    for k, g in enumerate(groups):
        rets = [r for r in g_ret[max(0, k - window):k] if not math.isnan(r)]
        vols = g_vol[max(0, k - window):k]
        s = _sample_std(rets) if len(rets) >= need and len(rets) >= 2 else math.nan
        a = sum(vols) / len(vols) if len(vols) >= need else math.nan
        sigma += [s] * len(g)
        adv += [a] * len(g)
    return sigma, adv


# ---- actions --------------------------------------------------------------------------
def decode(name: str) -> tuple[str, float]:
    """``"BUY_50"`` -> ("buy", 0.5); ``"HOLD"`` -> ("hold", 0); ``"CLOSE"`` -> ("close", 1)."""
    if name == "HOLD":
        return "hold", 0.0
    if name == "CLOSE":
        return "close", 1.0
    kind, pct = name.split("_")
    return kind.lower(), int(pct) / 100.0


def action_names(account_config) -> list:
    """Action names by id as DESIGN 3.3 lists them, plus the simulator's internal CLOSE last."""
    names = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]
    if account_config.include_close_action:
        names.append("CLOSE")
    return names + ["CLOSE"]


# ---- the account ----------------------------------------------------------------------
@dataclass
class Lot:
    qty: float
    ref: float
    exec: float
    bar: int
    slip: float  # per unit
    spread: float
    impact: float
    comm: float


@dataclass
class ReferenceAccount:
    """One account of `backtest.simulator` semantics (see the module doc and DESIGN 3.3-3.5)."""

    market: ReferenceMarket
    account: object  # backtest.account.AccountConfig (read for its numbers only)
    friction: object  # backtest.costs.FrictionConfig (read for its numbers only)
    seed: int = 0
    t: int = 0
    cash: float = 0.0
    position: float = 0.0
    entry_price: float = 0.0
    mark_price: float = 0.0
    equity: float = 0.0
    prev_close_equity: float = 0.0
    bars_in_position: int = 0
    session: int | None = None
    pending: int | None = None  # session of the last increase not yet matched by a reduction
    day_trades: list = field(default_factory=list)  # session of every day trade
    pdt_rejections: int = 0
    lots: list = field(default_factory=list)
    trades: list = field(default_factory=list)

    def reset(self, t0: int) -> "ReferenceAccount":
        """A fresh flat account deciding next at bar ``t0`` (marked at the close before it)."""
        c = float(self.account.initial_equity)
        self.t, self.cash, self.equity, self.prev_close_equity = t0, c, c, c
        self.position = self.entry_price = 0.0
        self.mark_price = self.market.close[t0 - 1] if t0 > 0 else self.market.open[0]
        self.bars_in_position, self.session, self.pending = 0, None, None
        self.day_trades, self.pdt_rejections, self.lots, self.trades = [], 0, [], []
        return self

    # -- what the policy sees
    def day_trades_in_window(self, s: int) -> int:
        return sum(1 for d in self.day_trades if s - (PDT_WINDOW - 1) <= d <= s)

    def day_trades_left(self) -> int:
        """For the decision at bar `t`: the previous close is the last mark when t opens a session."""
        t = min(self.t, len(self.market.open) - 1)
        s = self.market.session[t]
        prev_close = self.equity if s != self.session else self.prev_close_equity
        if not (self.market.pdt_on[t] and prev_close < PDT_THRESHOLD):
            return PDT_MAX_DAY_TRADES
        return max(0, PDT_MAX_DAY_TRADES - self.day_trades_in_window(s))

    def state(self) -> dict:
        """The `ACCOUNT_STATE_DTYPE` fields for the decision at bar `t`."""
        return {"cash": self.cash, "position": self.position, "entry_price": self.entry_price,
                "mark_price": self.mark_price, "bars_in_position": self.bars_in_position,
                "day_trades_left": self.day_trades_left()}

    # -- one decision
    def _impact(self, q: float, o: float, e: float, t: int) -> tuple[float, int]:
        imp = self.friction.impact
        if imp.mode == "none":
            return 0.0, IMPACT_NONE
        if imp.mode == "auto":
            sigma, adv = self.market.sigma[t], self.market.adv[t]
            if math.isnan(sigma) or math.isnan(adv) or not adv > 0.0:
                return 0.0, IMPACT_NO_HISTORY
            return (imp.y * sigma) * math.sqrt(q / adv), IMPACT_SQRT
        notional = q * o
        eq = e if e > 0.0 else notional
        if eq <= 0.0:
            return 0.0, IMPACT_PORTFOLIO
        return imp.k * math.sqrt(notional / eq), IMPACT_PORTFOLIO

    def step(self, name: str) -> dict:
        """Decide action ``name`` at bar `t`: fill at its open, mark at its close; the fill record."""
        mk, acct, fr = self.market, self.account, self.friction
        t = self.t
        s = mk.session[t]
        if s != self.session:  # 1. a new session: the last mark was the previous session's close
            self.prev_close_equity = self.equity
            self.session = s
        o = mk.open[t]
        e = self.cash + self.position * o
        kind, size = decode(name)
        rec = {"bar": t, "side": 0, "status": STATUS_HOLD, "reason": R_NONE, "requested_qty": 0.0, "qty": 0.0,
               "ref_price": o, "exec_price": 0.0, "slippage": 0.0, "spread": 0.0, "impact": 0.0,
               "commission": 0.0, "impact_model": IMPACT_NONE, "day_trade": False}
        if kind != "hold":
            self._order(rec, t, s, kind, size, o, e)
        rec["cash_after"], rec["position_after"] = self.cash, self.position
        c = mk.close[t]  # 7. mark
        self.equity = self.cash + self.position * c
        self.mark_price = c
        self.bars_in_position = self.bars_in_position + 1 if self.position != 0.0 else 0
        self.t = t + 1
        return rec

    def _request(self, kind: str, size: float, o: float, e: float) -> tuple[int, bool, float, int]:
        """2. (side, increases the position, quantity, reason) of a decoded order."""
        acct, pos = self.account, self.position
        buy_q = ((e * ((1.0 - acct.safety_buffer) * acct.base_allocation)) * size) / o

        def reduce(q_: float, held: float) -> float:  # no dust: a reduction leaving < min notional takes all
            return held if (held - q_) * o < acct.min_order_notional else q_

        if kind == "buy":
            if pos < 0.0:
                return 1, False, reduce(size * -pos, -pos), R_NONE
            return 1, True, buy_q, R_NONE
        if kind == "sell":
            if pos > 0.0:
                return -1, False, reduce(size * pos, pos), R_NONE
            if acct.allow_short:
                return -1, True, buy_q, R_NONE
            return -1, False, 0.0, R_NOTHING_TO_SELL
        if pos > 0.0:  # close
            return -1, False, pos, R_NONE
        if pos < 0.0:
            return 1, False, -pos, R_NONE
        return 0, False, 0.0, R_NOTHING_TO_SELL

    def _order(self, rec: dict, t: int, s: int, kind: str, size: float, o: float, e: float) -> None:
        mk, acct, fr = self.market, self.account, self.friction
        side, increase, q, reason = self._request(kind, size, o, e)
        rec["requested_qty"], rec["side"] = q, side
        # 3. PDT: reducing in the session of the last unmatched increase is a day trade
        day_trade = mk.pdt_on[t] and not increase and self.pending == s
        rejected = reason != R_NONE
        if not rejected and day_trade and self.prev_close_equity < PDT_THRESHOLD \
                and self.day_trades_in_window(s) >= PDT_MAX_DAY_TRADES:
            rejected, reason = True, R_PDT
            self.pdt_rejections += 1
        # 4. costs and sizing
        u = uniform(int(self.seed), t)
        slip = fr.slippage.max_slippage if fr.slippage.mode == "fixed" else fr.slippage.max_slippage * u
        half = fr.spread.spread * 0.5
        com = fr.commission
        if not rejected:
            q, reason = self._size(t, side, increase, q, reason, o, e, slip, half)
            rejected = q <= 0.0
        rec["reason"] = reason
        if rejected:
            rec["status"] = STATUS_REJECTED
            return
        # 5. the fill
        imp, model = self._impact(q, o, e, t)
        px = o * (1.0 + side * ((slip + half) + imp))
        notional = q * o
        c_slip, c_spread, c_imp = notional * slip, notional * half, notional * imp
        comm = _commission(com, q, q * px)
        pos_old = self.position
        self.cash = (self.cash - side * (q * px)) - comm
        pos_new = pos_old + side * q
        self.position = pos_new
        rec.update(status=STATUS_FILLED, qty=q, exec_price=px, slippage=c_slip, spread=c_spread, impact=c_imp,
                   commission=comm, impact_model=model)
        # 6. bookkeeping
        if increase:
            self.pending = s
            if pos_old == 0.0:
                self.entry_price = px
                self.bars_in_position = 0
            else:
                self.entry_price = (abs(pos_old) * self.entry_price + q * px) / abs(pos_new)
            self.lots.append(Lot(q, o, px, t, c_slip / q, c_spread / q, c_imp / q, comm / q))
            return
        if day_trade:
            self.pending = None
            self.day_trades.append(s)
            rec["day_trade"] = True
        self._close_lots(t, q, pos_new == 0.0, -side, o, px, c_slip, c_spread, c_imp, comm)
        if pos_new == 0.0:
            self.entry_price = 0.0

    def _size(self, t, side, increase, q, reason, o, e, slip, half) -> tuple[float, int]:
        """4. Max-position, cash and volume caps, whole shares, minimum order."""
        acct, fr, com = self.account, self.friction, self.friction.commission
        pos, cash = self.position, self.cash
        if increase:
            if e <= 0.0:
                return 0.0, R_CASH
            qmax = (acct.max_position * e) / o - abs(pos)
            if q > qmax:
                q, reason = max(qmax, 0.0), R_MAX_POSITION
            if side == 1 and q > 0.0:
                imp, _ = self._impact(q, o, e, t)
                u0 = o * (1.0 + ((slip + half) + imp))
                unit = u0 * (1.0 + com.per_notional) + com.per_share
                if _buy_cost(com, q, u0, unit) > cash:
                    q, reason = max(_largest_buy(com, cash, u0, unit) * CASH_MARGIN, 0.0), R_CASH
        cap = fr.volume_cap.max_share
        if cap > 0.0 and q > cap * self.market.prior_volume[t]:
            q, reason = cap * self.market.prior_volume[t], R_VOLUME_CAP
        if not acct.fractional:
            q = float(math.floor(q))
        if increase and q * o < acct.min_order_notional:
            q = 0.0
        if q <= 0.0 and reason == R_NONE:
            reason = R_MIN_SIZE
        return q, reason

    def _close_lots(self, t, q, full, pside, o, px, c_slip, c_spread, c_imp, comm) -> None:
        """Consume ``q`` units FIFO (every lot when ``full``) into one trade record."""
        ref_sum = exec_sum = 0.0
        slip, spread, imp, com = c_slip, c_spread, c_imp, comm
        entry_bar = self.lots[0].bar if self.lots else t
        remaining = q
        while self.lots and (full or remaining > 0.0):
            lot = self.lots[0]
            m = lot.qty if (full or remaining >= lot.qty) else remaining
            ref_sum += m * lot.ref
            exec_sum += m * lot.exec
            slip += m * lot.slip
            spread += m * lot.spread
            imp += m * lot.impact
            com += m * lot.comm
            remaining -= m
            left = lot.qty - m
            if left <= LOT_EPS * lot.qty:
                self.lots.pop(0)
            else:
                lot.qty = left
        gross = pside * (q * o - ref_sum)
        net = (((gross - slip) - spread) - imp) - com
        self.trades.append({"entry_bar": entry_bar, "exit_bar": t, "side": pside, "quantity": q,
                            "entry_price": exec_sum / q, "exit_price": px, "gross_pnl": gross, "slippage": slip,
                            "spread": spread, "impact": imp, "commission": com, "net_pnl": net,
                            "return": net / exec_sum if exec_sum > 0.0 else 0.0})


# ---- what the policy sees and earns ---------------------------------------------------------
def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _sign(x: float) -> float:
    return (x > 0.0) - (x < 0.0)


def reference_account_features(state: dict, max_position: float) -> list:
    """DESIGN 3.2's five account features of one state (position fraction, cash share,
    tanh(10 x unrealised return), bars in position / 100 capped, day trades left / 3)."""
    cash, pos, entry, mark = state["cash"], state["position"], state["entry_price"], state["mark_price"]
    eq = cash + pos * mark
    if eq > 0.0:
        frac, cash_share = _clip(pos * mark / (max_position * eq), -2.0, 2.0), _clip(cash / eq, -10.0, 10.0)
    else:
        frac, cash_share = 0.0, 1.0
    unreal = math.tanh(10.0 * (mark / entry - 1.0) * _sign(pos)) if pos != 0.0 and entry > 0.0 else 0.0
    held = min(max(state["bars_in_position"], 0), 100) / 100.0
    return [frac, cash_share, unreal, held, _clip(state["day_trades_left"] / 3.0, 0.0, 1.0)]


def reference_reward(cfg, *, equity_before: float, equity_after: float, position: float, entry_price: float,
                     open_: float, close: float, fill: dict, position_before: float, entry_before: float,
                     peak_equity: float, max_position: float) -> dict:
    """The reward components and total of one step, from the `models.reward` module docstring.

    ``peak_equity``: the episode's peak equity including this step's; ``fill``: the reference
    fill record of the step."""
    net = equity_after / equity_before - 1.0 if equity_before > 0.0 else 0.0
    pnl = _clip(cfg.pnl_scale * net, -cfg.pnl_clip, cfg.pnl_clip)
    move = close / open_ - 1.0
    exposure = _clip(position * close / (max_position * equity_after), -1.0, 1.0) if equity_after > 0.0 else 0.0
    direction = exposure * _sign(move)
    magnitude = _clip(cfg.magnitude_scale * exposure * move, -1.0, 1.0)
    filled = fill["status"] == STATUS_FILLED
    stop_take = 0.0
    if filled and position_before != 0.0 and _sign(position_before) != fill["side"] and entry_before > 0.0:
        realised = (fill["exec_price"] / entry_before - 1.0) * _sign(position_before)
        if realised >= cfg.take_profit:
            stop_take += 1.0
        if realised <= -cfg.stop_loss:
            stop_take += 0.5
    if position != 0.0 and entry_price > 0.0 and (close / entry_price - 1.0) * _sign(position) <= -cfg.stop_loss:
        stop_take -= 1.0
    exploration = 1.0 if filled else (-1.0 if fill["status"] == STATUS_REJECTED else 0.0)
    dd = 1.0 - equity_after / peak_equity if peak_equity > 0.0 else 0.0
    drawdown = -_clip(cfg.drawdown_scale * (dd - cfg.drawdown_threshold), 0.0, 1.0)
    comps = {"direction": direction, "magnitude": magnitude, "pnl": pnl, "stop_take": stop_take,
             "exploration": exploration, "drawdown": drawdown}
    weights = {"direction": cfg.direction, "magnitude": cfg.magnitude, "pnl": cfg.pnl, "stop_take": cfg.stop_take,
               "exploration": cfg.exploration, "drawdown": cfg.drawdown}
    return {**comps, "total": sum(weights[k] * v for k, v in comps.items())}
