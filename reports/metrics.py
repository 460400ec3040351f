"""Out-of-sample statistics of one test segment (or of stitched segments): `compute_stats`.

Everything here is a pure function of the trade and equity records (DESIGN 3.8): no file
access, no globals, no randomness except the seeded bootstrap. Undefined numbers are
``None`` and infinite ones ``math.inf``; `backtest.result_files.to_jsonable` turns them into
JSON (``"inf"``), `format_value` shows them to people ("undefined", "inf").

Deliberate differences from reference libraries:

- Profit factor is computed over round-trip episodes' net P&L (flat to flat, every partial
  exit summed into its episode; sum of wins / |sum of losses|), not
  over per-bar returns as quantstats does (its issue #493): bar returns mix open-position
  marks and flat bars into the ratio, so the same trades give a PF that depends on the bar
  size. vectorbt's ``profit_factor`` of a trade set is the same quantity as ours.
- Skew is the bias-corrected sample skewness (``scipy.stats.skew(bias=False)``, the G1
  estimator, same as pandas ``Series.skew``); quantstats and vectorbt report the biased one
  on bar returns. With few trades the two differ noticeably, and we report few-trade folds.
- Sharpe uses the sample standard deviation (ddof=1) and no risk-free rate, annualised by
  ``sqrt(bars_per_year)`` from the calendar, never a fixed 252.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from backtest.errors import ConfigError, DataError
from backtest.result_files import EQUITY_CSV_COLUMNS, TRADES_CSV_COLUMNS
from backtest.trades import profit_factor, round_trip_ids  # THE profit factor, shared with checkpoint selection

COST_COMPONENTS = ("slippage", "spread", "impact", "commission")
EULER_GAMMA = 0.5772156649015329
#: Bootstrap resamples for the PF interval; 2,000 keeps the 2.5% tail at ~50 samples.
BOOTSTRAP_SAMPLES = 2000


def _clean(x: float | None) -> float | None:
    """NaN (scipy's "cannot compute") becomes None; everything else a python float."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def sample_skew(x: np.ndarray) -> float | None:
    """Bias-corrected sample skewness; None with fewer than 3 values or zero variance."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 3 or np.ptp(x) == 0.0:
        return None
    return _clean(sps.skew(x, bias=False))


def bar_returns(equity: np.ndarray, initial_equity: float) -> np.ndarray:
    """Per-bar simple returns; the first bar is measured from the initial equity."""
    eq = np.concatenate(([initial_equity], np.asarray(equity, dtype=np.float64)))
    return eq[1:] / eq[:-1] - 1.0


def drawdown(equity: np.ndarray, initial_equity: float) -> np.ndarray:
    """Per-bar drawdown fraction in [0, 1] from the running peak (initial equity included)."""
    eq = np.concatenate(([initial_equity], np.asarray(equity, dtype=np.float64)))
    peak = np.maximum.accumulate(eq)
    return np.clip(1.0 - eq / peak, 0.0, 1.0)[1:]


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array (vectorised)."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False])).astype(np.int8)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int((ends - starts).max()) if starts.size else 0


def sharpe(r: np.ndarray, bars_per_year: float) -> float | None:
    """Annualised Sharpe of bar returns (ddof=1, no risk-free); None at zero variance."""
    if r.size < 2:
        return None
    sd = r.std(ddof=1)
    return None if sd == 0.0 else float(r.mean() / sd * math.sqrt(bars_per_year))


def sortino(r: np.ndarray, bars_per_year: float) -> float | None:
    """Annualised Sortino: mean over the root mean square of negative returns (target 0).

    inf when no bar lost and the mean is positive; None when nothing moved.
    """
    if r.size < 2:
        return None
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if dd == 0.0:
        return math.inf if r.mean() > 0 else None
    return float(r.mean() / dd * math.sqrt(bars_per_year))


def probabilistic_sharpe(r: np.ndarray, sr_benchmark: float = 0.0) -> float | None:
    """P(true per-bar Sharpe > sr_benchmark) (Bailey & Lopez de Prado 2012).

    Uses the per-bar (not annualised) Sharpe with the bias-corrected skewness and
    kurtosis of the bar returns, so fat tails and negative skew widen the estimate's error.
    """
    n = r.size
    if n < 4:
        return None
    sd = r.std(ddof=1)
    if sd == 0.0:
        return None
    sr = r.mean() / sd
    g3 = _clean(sps.skew(r, bias=False)) or 0.0
    g4 = (_clean(sps.kurtosis(r, fisher=False, bias=False)) or 3.0)
    denom = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    if denom <= 0.0:
        return None
    return float(sps.norm.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(denom)))


def deflated_sharpe(r: np.ndarray, n_trials: int, trial_sharpe_var: float | None = None
                    ) -> tuple[float | None, float]:
    """Deflated Sharpe ratio (Bailey & Lopez de Prado 2014) and its benchmark Sharpe.

    The benchmark is the expected maximum Sharpe of ``n_trials`` unskilled trials,
    ``sqrt(V) ((1 - gamma) z(1 - 1/N) + gamma z(1 - 1/(N e)))``. ``V`` is
    ``trial_sharpe_var``, the variance of the per-bar Sharpe ratios of the trials the research
    ledger holds on this data (at least two); without it, the dispersion is taken from the
    estimator's own variance, ``(1 - g3 SR + (g4-1)/4 SR^2) / (n-1)``. With one trial the
    benchmark is 0 and DSR equals PSR.
    """
    n = r.size
    if n < 4 or n_trials <= 1 or r.std(ddof=1) == 0.0:
        return probabilistic_sharpe(r, 0.0), 0.0
    sr = r.mean() / r.std(ddof=1)
    g3 = _clean(sps.skew(r, bias=False)) or 0.0
    g4 = _clean(sps.kurtosis(r, fisher=False, bias=False)) or 3.0
    if trial_sharpe_var is not None and math.isfinite(trial_sharpe_var) and trial_sharpe_var >= 0:
        var_sr = float(trial_sharpe_var)
    else:
        var_sr = max(1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr, 0.0) / (n - 1)
    z1 = sps.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = sps.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    sr0 = math.sqrt(var_sr) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)
    return probabilistic_sharpe(r, sr0), float(sr0)


def bootstrap_pf_interval(pnl: np.ndarray, seed: int, samples: int = BOOTSTRAP_SAMPLES,
                          level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of PF over resampled trades (seeded, vectorised).

    Resamples with no P&L at all are dropped; an infinite upper bound means at least that
    share of resamples had no losing trade. Undefined (None, None) with fewer than two trades
    and with no losing trade at all: every resample would then have PF inf, and [inf, inf]
    would look like certainty where there is no measurement (`pf_interval_note` says why).
    Quantiles use the inverted CDF so inf never meets arithmetic.
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    if pnl.size < 2 or not np.any(pnl < 0):
        return None, None
    rng = np.random.default_rng(seed)
    draw = pnl[rng.integers(0, pnl.size, size=(samples, pnl.size))]
    wins = np.where(draw > 0, draw, 0.0).sum(axis=1)
    losses = -np.where(draw < 0, draw, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pf = np.where(losses > 0, wins / np.where(losses > 0, losses, 1.0),
                      np.where(wins > 0, np.inf, np.nan))
    pf = pf[~np.isnan(pf)]
    if pf.size == 0:
        return None, None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(pf, [a, 1.0 - a], method="inverted_cdf")
    return float(lo), float(hi)


def percentile_of(value: float, distribution: Sequence[float]) -> float | None:
    """Percentile rank (0-100) of value in a distribution; ties count half. For display:
    whether a value *beats* a null is decided by `null_p_value` alone."""
    d = np.asarray(distribution, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0 or value is None or not math.isfinite(value):
        return None
    below = np.count_nonzero(d < value)
    ties = np.count_nonzero(d == value)
    return float(100.0 * (below + 0.5 * ties) / d.size)


#: Net returns closer than this (absolute) are a tie in `null_p_value`: a model's return and a
#: draw's are products of hundreds of factors, and one path compounded two ways differs in the
#: last bits (1e-15 relative per factor), never by 1e-9.
NULL_TIE_TOL = 1e-9


def null_p_value(value: float | None, draws: Sequence[float], tol: float = NULL_TIE_TOL) -> float | None:
    """One-sided Monte Carlo p-value of ``value`` against draws of a null:
    ``(1 + #{draw >= value - tol}) / (1 + N)``. The one definition of "beats the null" in the
    suite is ``p <= alpha`` (`null_threshold` gives the value that does it); a tie (within
    ``tol``, `NULL_TIE_TOL`) counts against the model, and N draws can never give less than
    ``1 / (N + 1)``."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0 or value is None or math.isnan(value):
        return None
    return float((1 + np.count_nonzero(d >= value - tol)) / (1 + d.size))


def null_threshold(draws: Sequence[float], alpha: float) -> float | None:
    """The value a model must exceed to beat the null at level ``alpha`` (`null_p_value` <=
    alpha): the (k+1)-th largest draw with ``k = floor(alpha (N + 1)) - 1``; inf when N is too
    small for that level (fewer than ``1/alpha - 1`` draws)."""
    d = np.sort(np.asarray(draws, dtype=np.float64)[~np.isnan(np.asarray(draws, dtype=np.float64))])
    if d.size == 0:
        return None
    k = math.floor(alpha * (d.size + 1) + 1e-9) - 1
    return math.inf if k < 0 else _largest_tie(float(d[d.size - 1 - k]))


def _largest_tie(draw: float, tol: float = NULL_TIE_TOL) -> float:
    """The largest value that still ties with ``draw`` in `null_p_value` (``value - tol <=
    draw`` in floating point), so that beating the null is exactly ``value > threshold``:
    ``draw + tol`` nudged by a few ulps where the subtraction rounds the other way."""
    t = draw + tol
    while t - tol > draw:
        t = float(np.nextafter(t, -np.inf))
    while float(np.nextafter(t, np.inf)) - tol <= draw:
        t = float(np.nextafter(t, np.inf))
    return t


def newey_west_mean_test(x: np.ndarray, lags: int | None = None) -> dict[str, float | int | None]:
    """Is the mean of ``x`` above 0? t-statistic with a Newey-West (Bartlett kernel) standard
    error, robust to autocorrelation and heteroskedasticity, and its one-sided normal p-value.

    ``lags`` defaults to ``floor(4 (n/100)^(2/9))`` (Newey & West 1994's rule of thumb).
    Chosen over a stationary bootstrap because it is deterministic, needs no block length and
    no resampling; with hundreds of bars the normal approximation of the t-statistic holds
    despite fat tails (measured by `benchmarks.bench_verdict`, whose null cases must not reject
    more often than alpha).
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 3:
        return {"mean": None, "se": None, "t": None, "p": None, "lags": 0}
    if lags is None:
        lags = int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))
    lags = max(0, min(int(lags), n - 1))
    mu = float(x.mean())
    u = x - mu
    s = float(u @ u) / n
    for lag in range(1, lags + 1):
        s += 2.0 * (1.0 - lag / (lags + 1.0)) * float(u[lag:] @ u[:-lag]) / n
    if s <= 0.0:
        return {"mean": mu, "se": 0.0, "t": None, "p": None, "lags": lags}
    se = math.sqrt(s / n)
    t = mu / se
    return {"mean": mu, "se": se, "t": float(t), "p": float(sps.norm.sf(t)), "lags": lags}


def pf_interval_note(pnl: np.ndarray) -> str | None:
    """Why the PF interval is undefined, in words (None when it is defined)."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if pnl.size < 2:
        return f"{pnl.size} round trip(s): a bootstrap needs at least 2"
    if not np.any(pnl < 0):
        return "no losing round trip: PF is inf in every resample; judged on the rest of the evidence"
    return None


def consistency(fold_net_pnls: Sequence[float]) -> float | None:
    """Share of test folds with positive net P&L; None with no folds."""
    x = np.asarray(list(fold_net_pnls), dtype=np.float64)
    return None if x.size == 0 else float(np.count_nonzero(x > 0) / x.size)


def _check_frames(trades: pd.DataFrame, equity: pd.DataFrame) -> None:
    for name, frame, cols in (("trades", trades, TRADES_CSV_COLUMNS), ("equity", equity, EQUITY_CSV_COLUMNS)):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"{name} is missing columns {missing}; expected columns {list(cols)}")


def _action_shares(actions: np.ndarray, meanings: Sequence[str] | None) -> dict[str, float]:
    """Share of bars per action, keyed by the action's name (id as text without names)."""
    if actions.size == 0:
        return {}
    ids = actions.astype(np.int64)
    n = int(max(ids.max() + 1, len(meanings) if meanings else 0))
    counts = np.bincount(ids, minlength=n) / ids.size
    names = [meanings[i] if meanings and i < len(meanings) else str(i) for i in range(n)]
    return {name: float(c) for name, c in zip(names, counts)}


def round_trip_episodes(trades: pd.DataFrame, equity: pd.DataFrame) -> np.ndarray:
    """Episode number of each trade record: a round trip runs from the fill that opens a
    position from flat to the fill that makes it flat again, and every partial exit in between
    belongs to it. A trade ends its episode when the position after its exit bar is 0 (from
    ``equity``); a trade whose exit bar is not in ``equity`` is an episode of its own."""
    n = len(trades)
    if n == 0:
        return np.zeros(0, np.int64)
    stamps = pd.DatetimeIndex(pd.to_datetime(equity["timestamp"], utc=True))
    at = stamps.get_indexer(pd.DatetimeIndex(pd.to_datetime(trades["exit_time"], utc=True)))
    pos = equity["position"].to_numpy(np.float64)
    ends = (at < 0) | (pos[np.clip(at, 0, len(pos) - 1)] == 0.0) if len(pos) else np.ones(n, dtype=bool)
    return round_trip_ids(ends)


def resizing_orders(equity: pd.DataFrame) -> int:
    """Filled orders in the part of each round trip the timing null moves
    (`backtest.baselines.episode_blocks`: from the first fill that reduces the position to the
    bar before the exit): a resizing policy's timing decisions. The entry, the orders that build
    the position up to its first reduction (top-ups at the cap included) and the exit are not
    counted: the null keeps them where they are."""
    from backtest.baselines import episode_blocks

    pos = equity["position"].to_numpy(np.float64)
    if pos.size == 0:
        return 0
    changed = pos != np.r_[0.0, pos[:-1]]
    _, _, blocks = episode_blocks(pos, block=max(1, pos.size))
    return int(sum(np.count_nonzero(changed[b0:b1]) for _, b0, b1, movable in blocks if movable))


def _trade_stats(trades: pd.DataFrame, equity: pd.DataFrame, bootstrap_seed: int) -> dict[str, Any]:
    """Trade statistics over round-trip episodes (`round_trip_episodes`): a partial exit is
    part of its episode, so PF, its interval (resampling whole episodes), win rate and the
    trade count are not inflated by dependent pieces of one position."""
    fills_pnl = trades["net_pnl"].to_numpy(np.float64)
    ep = round_trip_episodes(trades, equity)
    k = int(ep.max()) + 1 if ep.size else 0
    pnl = np.bincount(ep, weights=fills_pnl, minlength=k) if k else np.zeros(0)
    basis = np.bincount(ep, weights=np.abs(trades["quantity"].to_numpy(np.float64))
                        * trades["entry_price"].to_numpy(np.float64), minlength=k) if k else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = np.where(basis > 0, pnl / np.where(basis > 0, basis, 1.0), 0.0)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    lo, hi = bootstrap_pf_interval(pnl, bootstrap_seed)
    costs = {c: float(trades[c].to_numpy(np.float64).sum()) for c in COST_COMPONENTS}
    costs["total"] = float(sum(costs.values()))
    qty = np.abs(trades["quantity"].to_numpy(np.float64))
    notional = float((qty * (trades["entry_price"].to_numpy(np.float64)
                             + trades["exit_price"].to_numpy(np.float64))).sum())
    return {
        "trades": int(pnl.size),
        "exit_fills": int(fills_pnl.size),
        "resizing_orders": resizing_orders(equity),
        "pf": profit_factor(pnl),
        "pf_ci_low": lo,
        "pf_ci_high": hi,
        "pf_ci_note": pf_interval_note(pnl),
        "skew": sample_skew(rets),
        "win_rate": float(wins.size / pnl.size) if pnl.size else None,
        "expectancy": float(pnl.mean()) if pnl.size else None,
        "avg_win": float(wins.mean()) if wins.size else None,
        "avg_loss": float(losses.mean()) if losses.size else None,
        "trades_net_pnl": float(fills_pnl.sum()),
        "gross_pnl": float(trades["gross_pnl"].to_numpy(np.float64).sum()),
        "costs": costs,
        "traded_notional": notional,
    }


def compute_stats(
    trades: pd.DataFrame,
    equity: pd.DataFrame,
    *,
    bars_per_year: float,
    initial_equity: float,
    n_trials: int = 1,
    trial_sharpe_var: float | None = None,
    random_baseline: Mapping[str, Sequence[float]] | None = None,
    timing_null: Mapping[str, Sequence[float]] | None = None,
    benchmark_equity: Sequence[float] | None = None,
    action_meanings: Sequence[str] | None = None,
    pdt_rejections: int = 0,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    """All DESIGN 3.8 statistics of one test segment (or of stitched segments).

    ``trades``: one row per exit fill (TRADES_CSV_COLUMNS), net of all costs. ``equity``: one
    row per bar (EQUITY_CSV_COLUMNS). ``random_baseline`` and ``timing_null``:
    ``{"net_returns": [...]}`` of the random policy over many seeds and of the timing null
    over many draws (`backtest.baselines`). ``benchmark_equity``: the exposure-matched
    buy-and-hold equity, one value per equity row, for the excess-return test.
    ``n_trials``: configurations tried on this data, deflating the Sharpe ratio. Returns a
    flat dict (plus ``costs`` and ``action_shares``); see docs/INTERNALS.md for every key.
    """
    if not (bars_per_year > 0 and math.isfinite(bars_per_year)):
        raise ConfigError(f"bars_per_year must be a positive number, got {bars_per_year!r}")
    if not (initial_equity > 0 and math.isfinite(initial_equity)):
        raise ConfigError(f"initial_equity must be positive, got {initial_equity!r}")
    if int(n_trials) < 1:
        raise ConfigError(f"n_trials must be >= 1 (configurations tried on this data), got {n_trials!r}")
    _check_frames(trades, equity)
    eq = equity["equity"].to_numpy(np.float64)
    r = bar_returns(eq, initial_equity)
    dd = drawdown(eq, initial_equity)
    n = int(eq.size)
    final = float(eq[-1]) if n else float(initial_equity)
    net_return = final / initial_equity - 1.0
    years = n / bars_per_year
    cagr = (final / initial_equity) ** (1.0 / years) - 1.0 if n and final > 0 else (-1.0 if n else None)
    max_dd = float(dd.max()) if n else 0.0
    if cagr is None:
        calmar = None
    elif max_dd > 0:
        calmar = float(cagr / max_dd)
    else:
        calmar = math.inf if cagr > 0 else None
    dsr, sr0 = deflated_sharpe(r, int(n_trials), trial_sharpe_var)
    out: dict[str, Any] = _trade_stats(trades, equity, bootstrap_seed)
    mean_eq = float(eq.mean()) if n else float(initial_equity)
    out.update({
        "bars": n,
        "initial_equity": float(initial_equity),
        "final_equity": final,
        "net_pnl": final - float(initial_equity),
        "net_return": net_return,
        "cagr": None if cagr is None else float(cagr),
        "skew_bar": sample_skew(r),
        "sharpe": sharpe(r, bars_per_year),
        "sortino": sortino(r, bars_per_year),
        "max_drawdown": max_dd,
        "max_drawdown_bars": longest_run(dd > 0),
        "calmar": calmar,
        "exposure": float(np.count_nonzero(equity["position"].to_numpy(np.float64) != 0) / n) if n else 0.0,
        "exposure_avg": exposure_average(equity),
        "turnover": out["traded_notional"] / mean_eq,
        "pdt_rejections": int(pdt_rejections),
        "action_shares": _action_shares(equity["action"].to_numpy(), action_meanings),
        "psr": probabilistic_sharpe(r, 0.0),
        "dsr": dsr,
        "dsr_benchmark_sharpe": sr0,
        "n_trials": int(n_trials),
        "dsr_trial_sharpe_var": trial_sharpe_var,
        "bars_per_year": float(bars_per_year),
    })
    out.update(_null_stats("random", net_return, random_baseline))
    out.update(_null_stats("timing_null", net_return, timing_null))
    out.update(_excess_stats(r, net_return, benchmark_equity, initial_equity))
    return out


def exposure_average(equity: pd.DataFrame) -> float:
    """Signed average share of equity in the market: mean of ``position x close / equity``
    over the bars, negative when short on average (the same measure
    `backtest.baselines.exposure_fraction` matches buy and hold to)."""
    if len(equity) == 0:
        return 0.0
    eq = equity["equity"].to_numpy(np.float64)
    value = equity["position"].to_numpy(np.float64) * equity["close"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(eq > 0, value / eq, np.nan)
    return float(np.nanmean(frac)) if np.isfinite(frac).any() else 0.0


#: Level at which ``beats_random_p95`` is decided (p-value <= it), shown beside the percentile.
RANDOM_ALPHA = 0.05


def _null_stats(name: str, net_return: float, baseline: Mapping[str, Sequence[float]] | None) -> dict[str, Any]:
    """The model's percentile, p-value and the value to beat in a null's net-return draws."""
    rets = None if not baseline else baseline.get("net_returns")
    d = np.asarray(rets if rets is not None else [], dtype=np.float64)
    d = d[~np.isnan(d)]
    if name == "random":
        if d.size == 0:
            return {"random_percentile": None, "random_p_value": None, "random_p95": None, "random_median": None,
                    "beats_random_p95": None, "random_seeds": 0}
        p = null_p_value(net_return, d)
        return {"random_percentile": percentile_of(net_return, d), "random_p_value": p,
                "random_p95": null_threshold(d, RANDOM_ALPHA), "random_median": float(np.median(d)),
                "beats_random_p95": bool(p <= RANDOM_ALPHA), "random_seeds": int(d.size)}
    arr = None if not baseline else baseline.get("arrangements_log10")
    arr = None if arr is None else float(arr)
    if d.size == 0:
        return {f"{name}_percentile": None, f"{name}_p": None, f"{name}_median": None, f"{name}_draws": 0,
                f"{name}_model": None, f"{name}_arrangements_log10": arr}
    # the model's own path replayed under the draws' rules; its stitched net return in older runs
    own = baseline.get("model_net_return")
    own = net_return if own is None else float(own)
    return {f"{name}_percentile": percentile_of(own, d), f"{name}_p": null_p_value(own, d),
            f"{name}_median": float(np.median(d)), f"{name}_draws": int(d.size), f"{name}_model": own,
            f"{name}_arrangements_log10": arr}


def _excess_stats(r: np.ndarray, net_return: float, benchmark: Sequence[float] | None,
                  initial_equity: float) -> dict[str, Any]:
    """Excess over exposure-matched buy and hold: net-return difference, and the Newey-West
    test of the mean per-bar return difference (`newey_west_mean_test`)."""
    empty = {"bh_matched_net_return": None, "excess_vs_bh_matched": None, "excess_t": None,
             "excess_p": None, "excess_lags": 0}
    if benchmark is None:
        return empty
    b = np.asarray(benchmark, dtype=np.float64)
    if b.size != r.size or b.size == 0:
        raise DataError(f"exposure-matched buy and hold has {b.size} values for {r.size} equity rows; "
                        "they must cover the same bars")
    rb = bar_returns(b, initial_equity)
    test = newey_west_mean_test(r - rb)
    bh = float(b[-1] / initial_equity - 1.0)
    return {"bh_matched_net_return": bh, "excess_vs_bh_matched": float(net_return - bh), "excess_t": test["t"],
            "excess_p": test["p"], "excess_lags": int(test["lags"])}


def format_breakeven(multiple: float | None, above: float | None = None) -> str:
    """THE rendering of a breakeven cost multiple (terminal, index.html, symbol page): ``2.31x``;
    ``>8x`` when still profitable at the largest multiple tried (``above``); ``0x`` when not
    profitable even without costs; ``undefined`` without a cost-sensitivity record."""
    if above is not None:
        return f">{float(above):g}x"
    if multiple is None:
        return "undefined"
    return f"{float(multiple):.2f}x"


def format_value(x: Any, kind: str = "num") -> str:
    """Human text for a metric: None -> "undefined", inf -> "inf", percents for kind="pct"."""
    if x is None:
        return "undefined"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)) and kind == "int":
        return f"{int(x):d}"
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if kind == "pct":
        return f"{100.0 * x:.2f}%"
    if kind == "int":
        return f"{x:.0f}"
    return f"{x:.3f}"
