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
- commission (cash)  ``per_order + per_share * qty + per_notional * (qty * exec)``;
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
spread (full quoted; half/fill) 3 bp; 1.5bp  2 bp; 1 bp   0.7bp;.35bp
impact mode                     auto (sqrt)  auto (sqrt)  none
impact y / k / lookback         0.6/0.01/20  0.6/0.01/20  (unused)
commission per notional         0            0.25%        0.35 bp
commission per share / order    0 / 0        0 / 0        0 / 0
volume cap (share of prior bar) off          off          off
==============================  ===========  ===========  ===========

A $100 round trip at these defaults (`walkforward costs`, on synthetic bars): equity
about 7 bp, crypto about 57 bp, FX about 2 bp; impact is a small fraction of a bp for
such an order.

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
- FX spread 0.7 bp (about 0.75 pip on EUR/USD at 1.08; a pip is 0.0001): brokers publish
  EUR/USD spreads of 0.6-1 pip on standard accounts (e.g. IG's 0.6 pip minimum).
- FX commission 0.35 bp per side: ECN accounts (IC Markets "Raw Spread", Pepperstone
  "Razor") charge USD 3.50 per 100,000 units per side, pro rata, with no minimum charge
  per order; the defaults follow these terms, not Interactive Brokers'. Their smallest
  order is 0.01 lot (1,000 units, about USD 1,080 of EUR/USD), above the default account's
  largest order (BUY_75 of 1,000 equity: USD 78.75, `walkforward costs`): for FX, give an
  ``initial_equity`` of at least about 14,000 so that orders are ones a broker fills.
  Interactive Brokers charges 0.2 bp with a USD 2 minimum per order (about 254 bp per side
  of a USD 79 order): its minimum applies to every order below USD 1 million, so
  ``CommissionModel(per_notional=0.0, per_order=2.0)`` models it up to that size (the
  model has no per-order minimum or maximum yet).
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
def commission_cash(qty, exec_notional, per_share, per_order, per_notional):
    """Commission in cash: ``per_order + per_share * qty + per_notional * exec_notional``."""
    return per_order + per_share * qty + per_notional * exec_notional


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
    """Commission per share, per order and per notional (charged in cash)."""

    per_share: float = 0.0
    """Cash per unit traded."""
    per_order: float = 0.0
    """Cash per filled order."""
    per_notional: float = 0.0
    """Fraction of the executed notional (e.g. 0.0025 = 0.25% taker fee)."""

    def __post_init__(self) -> None:
        _nonneg("CommissionModel", "per_share", self.per_share)
        _nonneg("CommissionModel", "per_order", self.per_order)
        _nonneg("CommissionModel", "per_notional", self.per_notional, 0.1)

    def cash(self, qty, exec_notional):
        return commission_cash(qty, exec_notional, self.per_share, self.per_order, self.per_notional)


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
    "fx": dict(max_slippage=0.00005, spread=0.00007, impact="none", per_notional=0.000035),
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
        per-share, per-order and per-notional commission; modes, look-backs and the volume
        cap stay. ``scaled(0)`` is frictionless; a fill's components scale linearly as long
        as its quantity is not set by the cash cap (commission on the executed notional
        also moves with the other components' price change). A scaled value beyond its
        model's bound (slippage, spread or per-notional commission above 10% of price, y
        above 100, k above 1) raises `ConfigError`: the defaults scale up to 40x (crypto's
        0.25% fee reaches 10%), equity's to 166x, FX's to over 1000x."""
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
                                   per_notional=self.commission.per_notional * m),
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
