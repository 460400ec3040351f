"""Friction models (DESIGN 3.4): slippage, spread, impact, commission, volume cap.

Each model is a small frozen dataclass validated at construction, and each formula is
written ONCE as a plain-arithmetic function (`numba.extending.register_jitable`) that
runs on Python floats, numpy arrays, torch tensors and inside the numba simulator
kernel, with the same operation order everywhere so all backends agree bit for bit
(selects, clips and the square root from `backtest.arith`; ``sqrt`` is correctly
rounded on every backend, re-exported here). Which impact a fill pays is decided in one
place, `impact`, for the kernel, its torch mirror and `ImpactModel.fraction`.

Price-based components are fractions of the reference price (the bar's open) and
move the execution price adversely: ``exec = open * (1 + side * (slip + half_spread +
impact))``; commission is charged in cash. Formulas, for one fill of ``qty`` units:

- slippage fraction  ``max_slippage * u`` with ``u = backtest.rng.uniform(seed, bar)``
  (mode ``uniform``), or ``max_slippage`` (mode ``fixed``, for oracle tests);
- spread fraction    ``spread * 0.5`` (half the quoted spread per fill);
- impact fraction    mode ``auto``: the square-root law ``(y * sigma_daily) * sqrt(qty / adv)``
  with the trailing daily volatility and average daily volume of `impact_inputs`
  (sessions strictly before the fill's). Where that history is missing (``sigma`` or
  ``adv`` NaN, or ``adv <= 0``) the fill pays NO impact and its record says
  ``impact_model = no_history`` (`IMPACT_NO_HISTORY`); ``auto`` never falls back to the
  portfolio form. Mode ``portfolio`` is the seeds' ``k * sqrt(notional / equity)``
  (``notional = qty * open``, ``equity`` at the open; ``notional`` in place of a
  non-positive equity), an explicit opt-in for reproducing the seeds' numbers and never
  a default: impact depends on the market's size, not the account's. Mode ``none``: 0;
- commission (cash)  ``fee = per_order + per_share * qty + per_notional * (qty * exec)``, then
  ``max(fee, min_per_order)``, then ``min(.., cap)`` with ``cap`` the smaller of
  ``max_per_order`` and ``max_per_notional * (qty * exec)`` (each 0 = none): the minimum
  first, then the maximum, so a maximum below the minimum wins (IBKR-Pro-Fixed-style
  "USD 1 minimum, at most 1% of trade value" on an order under USD 100 pays the 1%);
  with all three 0 it is ``fee`` to the bit (`commission_cash`). The cash check of a buy
  accounts for them exactly (`affordable_buy`);
- volume cap         ``qty <= max_volume_share * prior_volume[bar]`` (0 = off), where
  ``prior_volume[t] = volume[t-1]``: the last bar's volume, the latest one known at bar
  t's open (0 for the first bar of the series, so the cap rejects there). Never the
  fill bar's own volume, which is only known at its close.

`impact_inputs` (the rule for the square-root law's inputs): sessions are runs of equal
``session_index`` for daily and intraday bars (a session's close is its last bar's
close, its volume the sum of its bars' volumes); ``sigma`` is the sample standard
deviation (ddof 1) of the daily log returns of the last ``lookback`` sessions before
the fill's session, ``adv`` their mean daily volume, both NaN with fewer than
``min_sessions`` of them. Bars coarser than a day (weekly, monthly; `backtest.timeframes`)
are converted to daily terms: with ``m = sessions_per_bar(timeframe, asset_class)``
(a week: 4.83 equity sessions, 5 FX, 7 crypto; a month: 21.0, 21.7, 30.4),
``sigma_daily = sigma_per_bar / sqrt(m)`` (variance grows with time) and
``adv = volume_per_bar / m``; the window is still counted in sessions: it holds the
fewest whole bars covering ``lookback`` sessions, ``max(2, ceil(lookback / m))`` (a
standard deviation needs two returns), and needs ``max(2, ceil(min_sessions / m))`` of
them (at most the window).

Asset-class defaults (`FrictionConfig.for_asset_class`) are what a retail account at a
mainstream broker pays; round trip = two fills:

==============================  ===========  ===========  ===========
parameter                       equity       crypto       fx
==============================  ===========  ===========  ===========
slippage max (uniform; mean)    4 bp; 2 bp   5 bp; 2.5bp  0.5bp;.25bp
spread (full quoted; half/fill) 3 bp; 1.5bp  2 bp; 1 bp   1.2bp; .6bp
impact mode                     auto (sqrt)  auto (sqrt)  none
impact y / k / lookback         0.6/0.01/20  0.6/0.01/20  (unused)
commission per notional         0            0.25%        0
commission per share / order    0 / 0        0 / 0        0 / 0
commission min / max per order  none         none         none
volume cap (share of prior bar) off          off          off
==============================  ===========  ===========  ===========

A round trip of the default account's largest order (USD 78.75) at these defaults
(`walkforward costs`, on synthetic bars): equity about 7 bp, crypto about 57 bp, FX about
1.7 bp; impact is a small fraction of a bp for such an order, and no default has a
commission minimum, so the same figures hold at any size until impact grows.

Sources:

- US equities and ETFs, commission 0: Charles Schwab, Fidelity, E*TRADE and Interactive
  Brokers (IBKR Lite) list $0 commission for online US-listed stock and ETF trades on
  their pricing pages (Schwab since October 2019). Regulatory fees on sales (SEC Section
  31 fee, FINRA trading activity fee) are below 0.3 bp of a sale and left out.
- Equity spread 3 bp (1.5 bp per fill): SEC Regulation NMS Rule 612 sets a one-cent
  minimum tick for quotes of shares priced at $1 or more, and liquid names quote one or
  two ticks wide: one cent is 3.3 bp of a $30 share, 1 bp of $100, 0.2 bp of SPY near
  $500. Brokers' SEC Rule 605 execution-quality reports publish the effective spreads
  their market orders get, per stock; check yours for thinner names and raise ``spread``.
- Slippage (all classes) is our modelling assumption, not a broker figure: a market order
  at the bar's open pays a random extra move, uniform in [0, max].
- Crypto commission 0.25% of notional: Alpaca's crypto fee schedule (docs.alpaca.markets,
  "Crypto Fees"), lowest volume tier: 0.15% maker, 0.25% taker; a market order is a taker.
  Exchanges' own retail tiers (Coinbase Advanced, Kraken Pro) charge more at low volume:
  set ``CommissionModel(per_notional=...)`` from your venue's fee page.
- Crypto spread 2 bp: BTC and ETH quote about 1 bp wide or less on the large USD venues
  (exchange market-quality research such as Kaiko's); 2 bp leaves room for smaller coins,
  which are wider still.
- FX: a spread-only retail account, OANDA's "spread-only" pricing (oanda.com, "Our
  pricing"; help.oanda.com, "Do you offer micro lots?"): no commission and no minimum
  charge, the cost is in the spread, and fxTrade takes orders of any size from 1 unit of
  the base currency, so the default account's largest order (BUY_75 of 1,000 equity: USD
  78.75, `walkforward costs`) is one this broker fills, at these costs. Commission-plus-
  raw-spread accounts (OANDA's core pricing: USD 0.70 per 10,000 units a side and a USD
  10,000 balance in the US; IC Markets "Raw Spread" and Pepperstone "Razor": USD 3.50 per
  100,000 a side, smallest order 0.01 lot, about USD 1,080 of EUR/USD) do not fit a
  USD 1,000 account, and Interactive Brokers' 0.2 bp with a USD 2 minimum per order costs
  about 254 bp a side on a USD 79 order. To model IBKR: ``CommissionModel(per_notional=
  0.00002, min_per_order=2.0)``; an ECN account: ``CommissionModel(per_notional=0.000035)``
  and its raw spread; either with an ``initial_equity`` its orders fit (README, "Commission
  minimums and maximums").
- FX spread 1.2 bp (about 1.3 pip on EUR/USD at 1.08; a pip is 0.0001): OANDA lists
  spread-only EUR/USD spreads "from" 0.6-0.8 pip by region (the tightest, in liquid
  hours), and a review measuring its US average reports about 1.4 pip (bestbrokers.com,
  "OANDA spreads, fees and commissions"); bar opens include thin hours, so the default
  sits near the average, not the minimum.
- FX impact none: the "volume" of retail FX files is a tick count, not traded size, and
  spot FX turns over about USD 7.5 trillion a day (BIS Triennial Central Bank Survey
  2022); a retail order does not move EUR/USD.
- Square-root law with Y of order 1 (0.6 here): Almgren, Thum, Hauptmann and Li,
  "Direct estimation of equity market impact" (Risk, 2005); Toth et al., "Anomalous price
  impact and the critical nature of liquidity in financial markets" (Phys. Rev. X, 2011).

`FrictionConfig.scaled(m)` multiplies every cost (slippage max, spread, impact y and k,
all commission terms) by ``m >= 0``, for cost-sensitivity runs (0x is frictionless).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numba.extending import register_jitable

from backtest.arith import select, sqrt
from backtest.errors import ConfigError

#: Impact model codes recorded on each fill (``FILL_DTYPE.impact_model``): none (mode none, or
#: not filled), sqrt (square-root law), portfolio (the seeds' form, mode portfolio only),
#: no_history (mode auto where the square-root law lacks history: no impact paid).
IMPACT_NONE, IMPACT_SQRT, IMPACT_PORTFOLIO, IMPACT_NO_HISTORY = 0, 1, 2, 3
IMPACT_NAMES = ("none", "sqrt", "portfolio", "no_history")
#: `ImpactModel.mode` names; a mode's code (`ImpactModel.code`) is its index here.
IMPACT_MODES = ("auto", "portfolio", "none")
IMPACT_MODE_AUTO, IMPACT_MODE_PORTFOLIO, IMPACT_MODE_NONE = 0, 1, 2


@register_jitable
def slippage_fraction(u, max_slippage, fixed):
    """Adverse slippage as a fraction of price: ``max * u``, or ``max`` when ``fixed``."""
    if fixed:
        return max_slippage + 0.0 * u
    return max_slippage * u


@register_jitable
def spread_fraction(spread):
    """Half the quoted spread, paid on every fill."""
    return spread * 0.5


@register_jitable
def sqrt_law_impact(qty, adv, sigma, y):
    """Square-root law: ``(y * sigma) * sqrt(qty / adv)``."""
    return (y * sigma) * sqrt(qty / adv)


@register_jitable
def portfolio_impact(notional, equity, k):
    """The seeds' portfolio form: ``k * sqrt(notional / equity)``."""
    return k * sqrt(notional / equity)


@register_jitable
def has_impact_history(sigma, adv):
    """Whether the square-root law's inputs exist at a bar: ``adv > 0`` and both known."""
    return (adv > 0.0) & (sigma == sigma) & (adv == adv)


@register_jitable
def impact(mode, qty, open_, equity, sigma, adv, y, k):
    """``(fraction, IMPACT_* code)`` of a fill of ``qty`` units at ``open_`` with ``equity`` at
    the open, under impact mode ``mode`` (`IMPACT_MODE_*`): THE impact selection, used by
    the simulator kernel, its torch mirror and `ImpactModel` (module doc: auto is the
    square-root law where `has_impact_history`, else no impact with code no_history;
    portfolio uses ``qty * open_`` in place of a non-positive equity). Elementwise over
    arrays and tensors; ``mode`` is one mode for all."""
    if mode == IMPACT_MODE_NONE:
        return qty * 0.0, IMPACT_NONE
    if mode == IMPACT_MODE_PORTFOLIO:
        notional = qty * open_
        eq = select(equity > 0.0, equity, notional)
        ok = eq > 0.0
        return select(ok, portfolio_impact(notional, select(ok, eq, 1.0), k), qty * 0.0), IMPACT_PORTFOLIO
    known = has_impact_history(sigma, adv)
    frac = sqrt_law_impact(qty, select(known, adv, 1.0), select(known, sigma, 0.0), y)
    return select(known, frac, qty * 0.0), select(known, IMPACT_SQRT, IMPACT_NO_HISTORY)


@register_jitable
def commission_cash(qty, exec_notional, per_share, per_order, per_notional, min_per_order, max_cash):
    """Commission in cash of one order (module doc): the fee ``per_order + per_share * qty +
    per_notional * exec_notional``, raised to ``min_per_order``, then lowered to the order's
    maximum ``max_cash`` (`commission_max`; the maximum wins where both bind). With
    ``min_per_order = 0`` and ``max_cash = inf`` it is the fee itself, to the bit."""
    fee = per_order + per_share * qty + per_notional * exec_notional
    fee = select(fee < min_per_order, min_per_order + 0.0 * fee, fee)
    return select(fee > max_cash, max_cash + 0.0 * fee, fee)


@register_jitable
def commission_max(exec_notional, max_per_order, max_per_notional):
    """The largest commission of an order of ``exec_notional``: ``max_per_order`` (cash; ``inf``
    for none) or ``max_per_notional * exec_notional`` when ``max_per_notional > 0`` and that
    is smaller."""
    frac = max_per_notional * exec_notional
    return select((max_per_notional > 0.0) & (frac < max_per_order), frac, max_per_order + 0.0 * frac)


@register_jitable
def affordable_buy(q, u0, unit, cash, per_order, min_per_order, max_per_order, max_per_notional):
    """``(too_dear, largest)`` for a buy of ``q`` units at most ``u0`` each (the execution price
    with impact at ``q``), ``unit = u0 * (1 + per_notional) + per_share``: whether ``q`` units
    and their commission (`commission_cash`, maximum ``max_per_order``, ``inf`` for none)
    cost more than ``cash``, and the largest quantity that does not. The cost
    ``q * u0 + commission`` is ``min(max(q * unit + per_order, q * u0 + min_per_order),
    q * u0 + max_per_order, q * u0 * (1 + max_per_notional))``, increasing in ``q``, so the
    largest affordable quantity is ``max(min((cash - per_order) / unit, (cash - min_per_order)
    / u0), (cash - max_per_order) / u0, cash / (u0 + max_per_notional * u0))`` (the last term
    only when ``max_per_notional > 0``). With no minimum and no maximum these are
    ``q * unit + per_order > cash`` and ``(cash - per_order) / unit``, to the bit."""
    a = q * u0
    lin = q * unit + per_order
    floor_cost = select(lin > a + min_per_order, lin, a + min_per_order)
    too_dear = (floor_cost > cash) & (a + max_per_order > cash) & (
        (max_per_notional <= 0.0) | (a + max_per_notional * a > cash))
    q_fee = (cash - per_order) / unit
    q_min = (cash - min_per_order) / u0
    largest = select(q_min < q_fee, q_min, q_fee)
    q_max = (cash - max_per_order) / u0
    largest = select(q_max > largest, q_max, largest)
    q_frac = select(max_per_notional > 0.0, cash / (u0 + max_per_notional * u0), -math.inf + 0.0 * u0)
    largest = select(q_frac > largest, q_frac, largest)
    return too_dear, largest


def _nonneg(owner: str, name: str, value, upper: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ConfigError(f"{owner}.{name} must be a finite number >= 0, got {value!r}")
    if upper is not None and value > upper:
        raise ConfigError(f"{owner}.{name} must be at most {upper} (a fraction of notional), got {value!r}")


@dataclass(frozen=True)
class SlippageModel:
    """Adverse slippage, uniform in [0, max] keyed by (seed, bar index)."""

    max_slippage: float = 0.0004
    """Largest slippage, as a fraction of price."""
    mode: str = "uniform"
    """``uniform`` (random in [0, max]) or ``fixed`` (always max; vectorbt-comparable)."""

    def __post_init__(self) -> None:
        _nonneg("SlippageModel", "max_slippage", self.max_slippage, 0.1)
        if self.mode not in ("uniform", "fixed"):
            raise ConfigError(f"SlippageModel.mode must be 'uniform' or 'fixed', got {self.mode!r}")

    def fraction(self, u):
        return slippage_fraction(u, self.max_slippage, self.mode == "fixed")


@dataclass(frozen=True)
class SpreadModel:
    """Half the quoted bid-ask spread per fill."""

    spread: float = 0.0003
    """Full quoted spread as a fraction of price."""

    def __post_init__(self) -> None:
        _nonneg("SpreadModel", "spread", self.spread, 0.1)

    def fraction(self):
        return spread_fraction(self.spread)


@dataclass(frozen=True)
class ImpactModel:
    """Market impact: the square-root law (``auto``), the seeds' portfolio form (opt-in) or none."""

    mode: str = "auto"
    """``auto`` (square-root law; no impact, recorded ``no_history``, where its history is
    missing), ``portfolio`` (the seeds' ``k * sqrt(notional / equity)``, opt-in), ``none``."""
    y: float = 0.6
    """Square-root-law coefficient Y."""
    k: float = 0.01
    """Portfolio-form coefficient k (mode ``portfolio`` only)."""
    lookback: int = 20
    """Sessions in the trailing daily volatility and average daily volume."""
    min_sessions: int = 10
    """Fewest prior sessions needed before the square-root law is used (no impact before)."""

    def __post_init__(self) -> None:
        if self.mode not in IMPACT_MODES:
            raise ConfigError(f"ImpactModel.mode must be one of {IMPACT_MODES}, got {self.mode!r}")
        _nonneg("ImpactModel", "y", self.y, 100.0)  # a sanity bound; room for scaled() stress multiples
        _nonneg("ImpactModel", "k", self.k, 1.0)
        for name in ("lookback", "min_sessions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ConfigError(f"ImpactModel.{name} must be an integer >= 2, got {v!r}")
        if self.min_sessions > self.lookback:
            raise ConfigError(
                f"ImpactModel.min_sessions ({self.min_sessions}) must not exceed lookback ({self.lookback})")

    @property
    def code(self) -> int:
        """The mode's `IMPACT_MODE_*` code (what `impact` and the kernel take)."""
        return IMPACT_MODES.index(self.mode)

    def fraction(self, qty, open_, equity, sigma, adv):
        """``(impact fraction, IMPACT_* code)`` of one fill of ``qty`` units at ``open_``
        (`impact` with this model's mode and coefficients)."""
        return impact(self.code, qty, open_, equity, sigma, adv, self.y, self.k)


@dataclass(frozen=True)
class CommissionModel:
    """Commission per share, per order and per notional (charged in cash), with an optional
    minimum and maximum per order (module doc: the minimum first, then the maximum)."""

    per_share: float = 0.0
    """Cash per unit traded."""
    per_order: float = 0.0
    """Cash per filled order."""
    per_notional: float = 0.0
    """Fraction of the executed notional (e.g. 0.0025 = 0.25% taker fee)."""
    min_per_order: float = 0.0
    """Least commission of a filled order, in cash (e.g. 2.0: IBKR's USD 2 on FX); 0 = none."""
    max_per_order: float = 0.0
    """Most commission of a filled order, in cash; 0 = no cash maximum."""
    max_per_notional: float = 0.0
    """Most commission of a filled order as a fraction of its executed notional (e.g. 0.01:
    IBKR-Pro-Fixed-style 1% of trade value); 0 = none. Wins over ``min_per_order`` on small orders."""

    def __post_init__(self) -> None:
        _nonneg("CommissionModel", "per_share", self.per_share)
        _nonneg("CommissionModel", "per_order", self.per_order)
        _nonneg("CommissionModel", "per_notional", self.per_notional, 0.1)
        _nonneg("CommissionModel", "min_per_order", self.min_per_order)
        _nonneg("CommissionModel", "max_per_order", self.max_per_order)
        _nonneg("CommissionModel", "max_per_notional", self.max_per_notional, 1.0)
        if self.max_per_order > 0 and self.min_per_order > self.max_per_order:
            raise ConfigError(
                f"CommissionModel.min_per_order ({self.min_per_order!r}) must not exceed max_per_order "
                f"({self.max_per_order!r}); lower min_per_order, raise max_per_order, or set max_per_order = 0 "
                f"for no cash maximum")

    @property
    def max_cash(self) -> float:
        """``max_per_order`` with 0 read as none (``inf``): what the simulator kernel carries."""
        return self.max_per_order if self.max_per_order > 0 else math.inf

    def cash(self, qty, exec_notional):
        """Commission of an order of ``qty`` units and ``exec_notional`` (elementwise)."""
        cap = commission_max(exec_notional, self.max_cash, self.max_per_notional)
        return commission_cash(qty, exec_notional, self.per_share, self.per_order, self.per_notional,
                               self.min_per_order, cap)

    def minimum_binds_below(self) -> float:
        """The order notional below which ``min_per_order`` binds for a commission of
        ``per_order + per_notional * notional`` (per-share fees left out; 0 with no minimum,
        ``inf`` when the fee never reaches it)."""
        if self.min_per_order <= 0 or self.min_per_order <= self.per_order:
            return 0.0
        if self.per_notional <= 0:
            return math.inf
        return (self.min_per_order - self.per_order) / self.per_notional


@dataclass(frozen=True)
class VolumeCap:
    """Optional cap on the share of volume one fill may take, measured on the volume known
    before the fill: the previous bar's (``prior_volume``), never the fill bar's own."""

    max_share: float = 0.0
    """Largest share of the previous bar's volume per fill; 0 switches the cap off."""

    def __post_init__(self) -> None:
        _nonneg("VolumeCap", "max_share", self.max_share, 1.0)

    @property
    def enabled(self) -> bool:
        return self.max_share > 0.0


#: Asset-class defaults (module docstring: table and sources).
DEFAULTS = {
    "equity": dict(max_slippage=0.0004, spread=0.0003, impact="auto", per_notional=0.0),
    "crypto": dict(max_slippage=0.0005, spread=0.0002, impact="auto", per_notional=0.0025),
    "fx": dict(max_slippage=0.00005, spread=0.00012, impact="none", per_notional=0.0),
}


@dataclass(frozen=True)
class FrictionConfig:
    """All friction models of one simulation (see the module table for defaults)."""

    slippage: SlippageModel = field(default_factory=SlippageModel)
    """Adverse slippage model."""
    spread: SpreadModel = field(default_factory=SpreadModel)
    """Half-spread model."""
    impact: ImpactModel = field(default_factory=ImpactModel)
    """Market-impact model."""
    commission: CommissionModel = field(default_factory=CommissionModel)
    """Commission model."""
    volume_cap: VolumeCap = field(default_factory=VolumeCap)
    """Share-of-volume cap (off by default)."""

    def __post_init__(self) -> None:
        for name, cls in (("slippage", SlippageModel), ("spread", SpreadModel), ("impact", ImpactModel),
                          ("commission", CommissionModel), ("volume_cap", VolumeCap)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"FrictionConfig.{name} must be a {cls.__name__}, got {getattr(self, name)!r}")

    @classmethod
    def for_asset_class(cls, asset_class: str, **overrides) -> "FrictionConfig":
        """Defaults for ``equity``, ``crypto`` or ``fx`` (module table); keyword overrides
        replace whole models, e.g. ``commission=CommissionModel(per_order=1.0)``."""
        if asset_class not in DEFAULTS:
            raise ConfigError(f"asset_class must be 'equity', 'crypto' or 'fx', got {asset_class!r}")
        d = DEFAULTS[asset_class]
        base = cls(
            slippage=SlippageModel(d["max_slippage"]),
            spread=SpreadModel(d["spread"]),
            impact=ImpactModel(mode=d["impact"]),
            commission=CommissionModel(per_notional=d["per_notional"]),
        )
        return replace(base, **overrides)

    def scaled(self, multiple: float) -> "FrictionConfig":
        """Every cost times ``multiple`` (>= 0): slippage max, spread, impact y and k, and the
        per-share, per-order and per-notional commission with its minimum and maximums (so
        a clipped commission scales too); modes, look-backs and the volume
        cap stay. ``scaled(0)`` is frictionless; a fill's components scale linearly as long
        as its quantity is not set by the cash cap (commission on the executed notional
        also moves with the other components' price change). A scaled value beyond its
        model's bound (slippage, spread or per-notional commission above 10% of price, y
        above 100, k above 1) raises `ConfigError`: the defaults scale up to 40x (crypto's
        0.25% fee reaches 10%), equity's to 166x, FX's to 833x (its spread)."""
        if isinstance(multiple, bool) or not isinstance(multiple, (int, float, np.floating, np.integer)) \
                or not math.isfinite(multiple) or multiple < 0:
            raise ConfigError(f"FrictionConfig.scaled: multiple must be a finite number >= 0, got {multiple!r}")
        m = float(multiple)
        try:
            return replace(
                self,
                slippage=replace(self.slippage, max_slippage=self.slippage.max_slippage * m),
                spread=replace(self.spread, spread=self.spread.spread * m),
                impact=replace(self.impact, y=self.impact.y * m, k=self.impact.k * m),
                commission=replace(self.commission, per_share=self.commission.per_share * m,
                                   per_order=self.commission.per_order * m,
                                   per_notional=self.commission.per_notional * m,
                                   min_per_order=self.commission.min_per_order * m,
                                   max_per_order=self.commission.max_per_order * m,
                                   max_per_notional=self.commission.max_per_notional * m),
            )
        except ConfigError as exc:
            raise ConfigError(f"FrictionConfig.scaled({multiple!r}): {exc}") from None

    @classmethod
    def zero(cls) -> "FrictionConfig":
        """No friction at all (for invariants and tests)."""
        return cls(slippage=SlippageModel(0.0), spread=SpreadModel(0.0), impact=ImpactModel(mode="none"))


def impact_inputs(bars, lookback: int = 20, min_sessions: int = 10,
                  sessions_per_bar: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar trailing daily volatility and average daily volume, from earlier sessions only.

    The rule is in the module docstring: sessions (runs of equal ``session_index``) for
    daily and intraday bars; for coarse bars each bar is one group of
    ``m = sessions_per_bar`` sessions (default `backtest.timeframes.sessions_per_bar` of
    the bars' timeframe and asset class), its return divided by ``sqrt(m)`` and its volume
    by ``m``, over the fewest whole bars covering ``lookback`` sessions. NaN where fewer
    than the minimum exist (the kernel then charges no impact). Computed once per series,
    vectorised.
    """
    close = bars.close if hasattr(bars, "close") else np.asarray(bars["close"])
    n = len(close)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    volume = bars.volume
    if sessions_per_bar is None:
        from backtest.timeframes import sessions_per_bar as _spb

        tf, ac = getattr(bars, "timeframe", None), getattr(bars, "asset_class", "equity")
        sessions_per_bar = _spb(tf, ac) if tf is not None else 1.0
    m = float(sessions_per_bar)
    if not (math.isfinite(m) and m >= 1.0):
        raise ConfigError(f"impact_inputs: sessions_per_bar must be a finite number >= 1, got {sessions_per_bar!r}")
    if m > 1.0:  # coarse bars: one group per bar, figures in daily terms, window in sessions
        window = max(2, math.ceil(lookback / m))
        need = min(window, max(2, math.ceil(min_sessions / m)))
        day_ret = np.r_[np.nan, np.log(close[1:] / close[:-1])] / math.sqrt(m)
        return _rolling_std_prev(day_ret, window, need), _rolling_mean_prev(volume / m, window, need)
    sess = bars.session_index
    starts = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]])
    ends = np.r_[starts[1:], n] - 1
    day_close = close[ends]
    day_vol = np.add.reduceat(volume, starts)
    day_ret = np.r_[np.nan, np.log(day_close[1:] / day_close[:-1])]
    # rolling over sessions ending at k-1: window of returns/volumes of sessions k-L..k-1
    roll_ret = _rolling_std_prev(day_ret, lookback, min_sessions)
    roll_vol = _rolling_mean_prev(day_vol, lookback, min_sessions)
    bar_session = np.repeat(np.arange(len(starts)), ends - starts + 1)
    return roll_ret[bar_session], roll_vol[bar_session]


def prior_volume(volume: np.ndarray) -> np.ndarray:
    """``volume[t-1]`` for each bar t (0 for the first): what the volume cap measures."""
    v = np.asarray(volume, dtype=np.float64)
    return np.r_[0.0, v[:-1]] if len(v) else np.zeros(0)


def _rolling_std_prev(x: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Std (ddof 1) of the ``window`` values before each position, NaNs skipped."""
    import pandas as pd

    s = pd.Series(x).rolling(window, min_periods=min_count).std(ddof=1).to_numpy()
    return np.r_[np.nan, s[:-1]]


def _rolling_mean_prev(x: np.ndarray, window: int, min_count: int) -> np.ndarray:
    import pandas as pd

    s = pd.Series(x).rolling(window, min_periods=min_count).mean().to_numpy()
    return np.r_[np.nan, s[:-1]]
