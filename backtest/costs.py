"""Friction models (DESIGN 3.4): slippage, spread, impact, commission, volume cap.

Each model is a small frozen dataclass validated at construction, and each formula is
written ONCE as a plain-arithmetic function (`numba.extending.register_jitable`) that
runs on Python floats, numpy arrays, torch tensors and inside the numba simulator
kernel, with the same operation order everywhere so all backends agree bit for bit.
The square root is `sqrt` below: ``np.sqrt`` / ``math.sqrt`` (correctly rounded IEEE)
and, for torch tensors, ``torch.sqrt`` corrected to the correctly rounded value
(torch's CPU float64 sqrt can be 1 ulp off); never ``x ** 0.5``.

Price-based components are fractions of the reference price (the bar's open) and
move the execution price adversely: ``exec = open * (1 + side * (slip + half_spread +
impact))``; commission is charged in cash. Formulas, for one fill of ``qty`` units:

- slippage fraction  ``max_slippage * u`` with ``u = backtest.rng.uniform(seed, bar)``
  (mode ``uniform``), or ``max_slippage`` (mode ``fixed``, for oracle tests);
- spread fraction    ``spread * 0.5`` (half the quoted spread per fill);
- impact fraction    square-root law ``(y * sigma_daily) * sqrt(qty / adv)`` where
  trailing ``lookback``-session daily volatility and average daily volume exist
  (`impact_inputs`, computed from sessions strictly before the bar's), else the
  portfolio form ``k * sqrt(notional / equity)`` (``notional = qty * open``,
  ``equity`` at the open); mode ``portfolio`` always uses the latter, ``none`` is 0;
- commission (cash)  ``per_order + per_share * qty + per_notional * (qty * exec)``;
- volume cap         ``qty <= max_volume_share * volume[bar]`` (0 = off).

Asset-class defaults (`FrictionConfig.for_asset_class`):

==============================  =========  ===========  ==========
parameter                       equity     crypto       fx
==============================  =========  ===========  ==========
slippage max (uniform)          0.0005     0.0005       0.0005
spread (full quoted)            0.0002     0.0002       0.0001
impact mode                     auto       auto         portfolio
impact y / k / lookback         0.6/0.01/20 0.6/0.01/20 0.6/0.01/20
commission per notional         0          0.0025       0.00002
commission per share / order    0 / 0      0 / 0        0 / 0
volume cap (share of bar)       off        off          off
==============================  =========  ===========  ==========

FX uses the portfolio impact form because FX "volume" is tick volume, not traded
size; 0.00002 of notional is a typical retail-ECN FX commission (USD 20 per million).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numba.extending import overload, register_jitable

from backtest.errors import ConfigError

#: Impact model codes recorded on each fill.
IMPACT_NONE, IMPACT_SQRT, IMPACT_PORTFOLIO = 0, 1, 2
IMPACT_NAMES = ("none", "sqrt", "portfolio")
_IMPACT_MODES = ("auto", "portfolio", "none")


def sqrt(x):
    """Correctly rounded square root of a float, numpy array or torch tensor.

    ``np.sqrt`` and ``math.sqrt`` are correctly rounded; ``torch.sqrt`` on CPU is not
    always (its vectorised float64 path can be 1 ulp off, measured with torch 2.13), so
    tensors go through `_torch_sqrt_rn`, which corrects it exactly.
    """
    if type(x).__module__.startswith("torch"):
        return _torch_sqrt_rn(x)
    return np.sqrt(x)


def _two_product(a, b):
    """``a * b = p + e`` exactly (Dekker's split, plain multiplies and subtractions, no FMA)."""
    c = 134217729.0 * a  # 2**27 + 1
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = 134217729.0 * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    p = a * b
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _below_midpoint(x, a, b):
    """For adjacent floats ``a < b``: is ``sqrt(x)`` below their midpoint?

    ``mid**2 = a*b + (b-a)**2/4`` and ``x - a*b`` is a multiple of ``(b-a)**2``, so the
    test is ``x - a*b <= 0``, evaluated exactly (``x - p`` is exact by Sterbenz; the last
    subtraction keeps the sign).
    """
    p, e = _two_product(a, b)
    return ((x - p) - e) <= 0.0


def _torch_sqrt_rn(x):
    """Correctly rounded float64 square root of a tensor (normal, non-negative inputs):
    ``torch.sqrt`` is within 1 ulp, so pick among it and its two neighbours."""
    import torch

    y = torch.sqrt(x)
    lo = torch.nextafter(y, torch.zeros_like(y))
    hi = torch.nextafter(y, torch.full_like(y, math.inf))
    return torch.where(_below_midpoint(x, lo, y), lo, torch.where(_below_midpoint(x, y, hi), y, hi))


@overload(sqrt)
def _sqrt_numba(x):  # inside numba kernels: the LLVM sqrt intrinsic (IEEE, correctly rounded)
    return lambda x: math.sqrt(x)


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

    max_slippage: float = 0.0005
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

    spread: float = 0.0002
    """Full quoted spread as a fraction of price."""

    def __post_init__(self) -> None:
        _nonneg("SpreadModel", "spread", self.spread, 0.1)

    def fraction(self):
        return spread_fraction(self.spread)


@dataclass(frozen=True)
class ImpactModel:
    """Market impact: square-root law where volume exists, else the portfolio form."""

    mode: str = "auto"
    """``auto`` (square-root law, portfolio form where volume is missing), ``portfolio``, ``none``."""
    y: float = 0.6
    """Square-root-law coefficient Y."""
    k: float = 0.01
    """Portfolio-form coefficient k."""
    lookback: int = 20
    """Sessions in the trailing daily volatility and average daily volume."""
    min_sessions: int = 10
    """Fewest prior sessions needed before the square-root law is used."""

    def __post_init__(self) -> None:
        if self.mode not in _IMPACT_MODES:
            raise ConfigError(f"ImpactModel.mode must be one of {_IMPACT_MODES}, got {self.mode!r}")
        _nonneg("ImpactModel", "y", self.y, 10.0)
        _nonneg("ImpactModel", "k", self.k, 1.0)
        for name in ("lookback", "min_sessions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ConfigError(f"ImpactModel.{name} must be an integer >= 2, got {v!r}")
        if self.min_sessions > self.lookback:
            raise ConfigError(
                f"ImpactModel.min_sessions ({self.min_sessions}) must not exceed lookback ({self.lookback})")

    def fraction(self, qty, notional, equity, sigma, adv, use_sqrt):
        """Impact fraction for one fill (scalar form of the kernel's choice)."""
        if self.mode == "none":
            return 0.0
        if self.mode == "auto" and use_sqrt:
            return sqrt_law_impact(qty, adv, sigma, self.y)
        return portfolio_impact(notional, equity, self.k)


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
    """Optional cap on the share of a bar's volume one fill may take."""

    max_share: float = 0.0
    """Largest share of the bar's volume per fill; 0 switches the cap off."""

    def __post_init__(self) -> None:
        _nonneg("VolumeCap", "max_share", self.max_share, 1.0)

    @property
    def enabled(self) -> bool:
        return self.max_share > 0.0


_FX_DEFAULTS = dict(spread=0.0001, impact="portfolio", per_notional=0.00002)
_CRYPTO_DEFAULTS = dict(per_notional=0.0025)

#: Indices into `FrictionConfig.kernel_params()` (float64 vector read by the kernel).
P_SLIP_MAX, P_SLIP_FIXED, P_SPREAD, P_IMPACT_MODE, P_Y, P_K, P_PER_SHARE, P_PER_ORDER, \
    P_PER_NOTIONAL, P_VOLUME_CAP = range(10)
N_FRICTION_PARAMS = 10


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
        if asset_class not in ("equity", "crypto", "fx"):
            raise ConfigError(f"asset_class must be 'equity', 'crypto' or 'fx', got {asset_class!r}")
        d = {"equity": {}, "crypto": _CRYPTO_DEFAULTS, "fx": _FX_DEFAULTS}[asset_class]
        base = cls(
            spread=SpreadModel(d.get("spread", 0.0002)),
            impact=ImpactModel(mode=d.get("impact", "auto")),
            commission=CommissionModel(per_notional=d.get("per_notional", 0.0)),
        )
        return replace(base, **overrides)

    @classmethod
    def zero(cls) -> "FrictionConfig":
        """No friction at all (for invariants and tests)."""
        return cls(slippage=SlippageModel(0.0), spread=SpreadModel(0.0), impact=ImpactModel(mode="none"))

    def kernel_params(self) -> np.ndarray:
        """The parameters as the float64 vector the simulator kernel reads (`P_*` indices)."""
        p = np.zeros(N_FRICTION_PARAMS, dtype=np.float64)
        p[P_SLIP_MAX] = self.slippage.max_slippage
        p[P_SLIP_FIXED] = 1.0 if self.slippage.mode == "fixed" else 0.0
        p[P_SPREAD] = self.spread.spread
        p[P_IMPACT_MODE] = float(_IMPACT_MODES.index(self.impact.mode))
        p[P_Y] = self.impact.y
        p[P_K] = self.impact.k
        p[P_PER_SHARE] = self.commission.per_share
        p[P_PER_ORDER] = self.commission.per_order
        p[P_PER_NOTIONAL] = self.commission.per_notional
        p[P_VOLUME_CAP] = self.volume_cap.max_share
        return p


def impact_inputs(bars, lookback: int = 20, min_sessions: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar trailing daily volatility and average daily volume, from earlier sessions only.

    Sessions are runs of equal ``session_index``; a session's close is its last bar's
    close and its volume the sum of its bars' volumes. For a bar in session k,
    ``sigma`` is the sample standard deviation (ddof 1) of the daily log returns of
    the last ``lookback`` sessions before k, and ``adv`` the mean daily volume of the
    same sessions; both are NaN with fewer than ``min_sessions`` of them (the kernel
    then uses the portfolio form). Computed once per series, vectorised.
    """
    close = bars.close if hasattr(bars, "close") else np.asarray(bars["close"])
    n = len(close)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    sess = bars.session_index
    volume = bars.volume
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


def _rolling_std_prev(x: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Std (ddof 1) of the ``window`` values before each position, NaNs skipped."""
    import pandas as pd

    s = pd.Series(x).rolling(window, min_periods=min_count).std(ddof=1).to_numpy()
    return np.r_[np.nan, s[:-1]]


def _rolling_mean_prev(x: np.ndarray, window: int, min_count: int) -> np.ndarray:
    import pandas as pd

    s = pd.Series(x).rolling(window, min_periods=min_count).mean().to_numpy()
    return np.r_[np.nan, s[:-1]]
