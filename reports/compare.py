"""Configurations tried on the same data, side by side: paired Sharpe differences and the PBO.

A researcher who tries twenty configurations on one test set and keeps the best has, by luck
alone, a best that looks good. Two numbers say how much of "the best" is luck:

**Sharpe difference between the best run and each other run**, on their common bars. The
per-bar returns of two strategies on one market are correlated, autocorrelated (positions
last several bars) and fat-tailed, so neither the Jobson-Korkie/Memmel formula (iid normal
returns) nor an iid bootstrap holds. We use the studentised circular block bootstrap of
Ledoit & Wolf (2008, "Robust performance hypothesis testing with the Sharpe ratio"):

- the difference is ``f(v) = mu_a / sd_a - mu_b / sd_b`` of the plug-in moments
  ``v = (mean a, mean b, mean a^2, mean b^2)``; its standard error comes from the delta
  method, with the long-run variance of the influence series ``grad f . (y_t - v)`` from a
  Bartlett kernel of ``L`` lags (autocorrelation-robust);
- resamples join blocks of ``L`` consecutive bar pairs at random starts, wrapping round the
  end (circular, so every bar is equally likely), which keeps the pairing and the short-range
  dependence; each resample is studentised by its own block standard error (the sum of the
  influence series over each block), which is what makes the bootstrap accurate to a higher
  order than the normal approximation and robust to non-normality;
- the two-sided p-value is ``(1 + #{|t*| >= |t|}) / (1 + B)`` with ``t* = (d* - d) / se*``
  (the same "beats a null" form as `reports.metrics.null_p_value`); the interval is
  ``d +- q se`` with ``q`` the ``1 - alpha`` quantile of ``|t*|`` (symmetric studentised).
- ``L = ceil(T^(1/3))`` bars: the rate at which block-bootstrap variance estimators balance
  bias and variance (Hall, Horowitz & Jing 1995), and conservative for the short memory of
  bar returns. Ledoit & Wolf calibrate ``L`` per data set instead; we prefer a rule anyone
  can reproduce.

The best run is chosen on the same data the differences are measured on, so the nominal
p-values overstate the evidence; Holm's adjustment over the comparisons is shown beside
them, and the PBO below measures the selection itself.

**Probability of backtest overfitting (PBO)** by combinatorially symmetric cross-validation
(Bailey, Borwein, Lopez de Prado & Zhu 2017, "The probability of backtest overfitting"):
the common bars are cut into ``S`` (even, default 16) contiguous blocks of (nearly) equal
size; for each of the ``C(S, S/2)`` ways to pick half of them as "in sample" (the rest is
"out of sample"), the configuration with the best in-sample Sharpe is selected and its
out-of-sample Sharpe ranked among all configurations, ``w = rank / (N + 1)`` (rank 1 = worst,
ties averaged), logit ``lambda = ln(w / (1 - w))``. PBO is the share of splits with
``lambda < 0``: the in-sample winner falls below the out-of-sample median. A logit of exactly
0 (the winner at the median, e.g. identical configurations) counts one half, so that
configurations that cannot be told apart give 0.5, not 1. Blocks keep the serial
dependence inside each half; the Sharpe ratio is per bar (ranking does not need annualising).
Blocks come from ``numpy.array_split`` (the first ``T mod S`` blocks one bar longer) rather
than dropping the remainder.

Everything here is pure numpy/scipy on arrays: `walkforward.commands.compare` gathers the
returns (from run directories or the research ledger) and `reports.compare_page` draws them.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

from backtest.errors import ConfigError

DEFAULT_BLOCKS = 16
#: C(20, 10) = 184,756 splits; beyond that the combinations outgrow memory and time.
MAX_BLOCKS = 20
DEFAULT_BOOTSTRAP = 2000
ALPHA = 0.05
#: Resamples per vectorised chunk (bounds memory at chunk x T pairs).
_CHUNK = 128


# ---- alignment ------------------------------------------------------------------------
def align(times: Sequence[np.ndarray], returns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The bars every series has: ``(times [T], returns [T, N])``, columns in input order.

    ``times`` are int64 ns (any order; a repeated time keeps its first return). Runs on the
    same data and test segments have the same bars; a run whose folds did not all complete
    has fewer, and only the bars all runs share are compared.
    """
    if len(times) != len(returns) or not times:
        raise ValueError("align: give one times array per returns array, at least one")
    clean = []
    for t, r in zip(times, returns):
        t = np.asarray(t, dtype=np.int64)
        r = np.asarray(r, dtype=np.float64)
        if t.shape != r.shape:
            raise ValueError(f"align: {t.size} times for {r.size} returns")
        t, first = np.unique(t, return_index=True)
        clean.append((t, r[first]))
    common = functools.reduce(np.intersect1d, [t for t, _ in clean])
    cols = [r[np.searchsorted(t, common)] for t, r in clean]
    return common, np.column_stack(cols) if cols else np.zeros((0, 0))


def sharpe(r: np.ndarray, bars_per_year: float = 1.0) -> float | None:
    """Sharpe of bar returns (ddof=1), annualised by ``sqrt(bars_per_year)``; None when
    undefined (fewer than two bars, or returns that never vary)."""
    r = np.asarray(r, dtype=np.float64)
    if r.size < 2:
        return None
    sd = r.std(ddof=1)
    return None if sd == 0.0 else float(r.mean() / sd * math.sqrt(bars_per_year))


def block_length(n_bars: int) -> int:
    """Bootstrap block length ``ceil(T^(1/3))`` (module doc)."""
    return max(1, int(math.ceil(n_bars ** (1.0 / 3.0) - 1e-9)))


# ---- paired Sharpe difference -----------------------------------------------------------
def _diff_and_grad(m1a, m1b, m2a, m2b):
    """Plug-in Sharpe difference and its gradient w.r.t. (mean a, mean b, mean a^2, mean b^2)."""
    va, vb = m2a - m1a * m1a, m2b - m1b * m1b
    with np.errstate(divide="ignore", invalid="ignore"):
        sa, sb = np.sqrt(va), np.sqrt(vb)
        d = m1a / sa - m1b / sb
        ga, gb = m2a / (va * sa), -m2b / (vb * sb)
        ha, hb = -m1a / (2.0 * va * sa), m1b / (2.0 * vb * sb)
    return d, ga, gb, ha, hb


def _long_run_variance(z: np.ndarray, lags: int) -> float:
    """Bartlett-kernel (Newey-West) long-run variance of a series with ``lags`` weights."""
    z = z - z.mean()
    n = z.size
    v = float(z @ z) / n
    for k in range(1, min(lags, n)):
        v += 2.0 * (1.0 - k / lags) * float(z[k:] @ z[:-k]) / n
    return max(v, 0.0)


def sharpe_difference(a: np.ndarray, b: np.ndarray, *, bars_per_year: float = 1.0, block: int | None = None,
                      n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, alpha: float = ALPHA) -> dict[str, Any]:
    """Sharpe(a) - Sharpe(b) on paired bars, annualised, with its studentised circular block
    bootstrap p-value (two-sided) and ``1 - alpha`` interval (module doc).

    Returns ``{diff, ci_low, ci_high, p_value, t, se, block, n_boot, bars, note}``; the
    statistics are None (with ``note`` saying why) when a series never varies or there are
    too few bars (fewer than four blocks).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"sharpe_difference: paired 1-d series needed, got {a.shape} and {b.shape}")
    n = a.size
    L = block or block_length(n)
    out: dict[str, Any] = {"diff": None, "ci_low": None, "ci_high": None, "p_value": None, "t": None,
                           "se": None, "block": L, "n_boot": 0, "bars": n, "note": None}
    if n < 4 * L or n < 8:
        out["note"] = f"too few common bars ({n}) for a block bootstrap with blocks of {L}"
        return out
    if a.std() == 0.0 or b.std() == 0.0:
        out["note"] = "undefined: a run's returns never vary (no position, or constant returns)"
        return out
    scale = math.sqrt(bars_per_year)
    m = (a.mean(), b.mean(), (a * a).mean(), (b * b).mean())
    d, ga, gb, ha, hb = (float(x) for x in _diff_and_grad(*m))
    z = ga * (a - m[0]) + gb * (b - m[1]) + ha * (a * a - m[2]) + hb * (b * b - m[3])
    se = math.sqrt(_long_run_variance(z, L) / n)
    out["diff"] = d * scale
    if se == 0.0:  # identical series (or exactly proportional ones): no difference to test
        out.update(ci_low=d * scale, ci_high=d * scale, p_value=1.0, t=0.0, se=0.0,
                   note="the two runs' returns are identical up to scale")
        return out
    t_star = _bootstrap_t(a, b, d, L, n_boot, seed)
    t = d / se
    q = float(np.quantile(np.abs(t_star), 1.0 - alpha)) if t_star.size else float("nan")
    out.update(t=t, se=se * scale, n_boot=int(t_star.size),
               p_value=float((1 + np.count_nonzero(np.abs(t_star) >= abs(t))) / (1 + t_star.size)),
               ci_low=(d - q * se) * scale, ci_high=(d + q * se) * scale)
    if t_star.size < n_boot:
        out["note"] = f"{n_boot - t_star.size} resamples without variance were dropped"
    return out


def _bootstrap_t(a: np.ndarray, b: np.ndarray, d: float, L: int, n_boot: int, seed: int) -> np.ndarray:
    """Studentised resampled differences ``(d* - d) / se*`` of circular block resamples;
    resamples where a series has no variance are dropped."""
    n = a.size
    n_blocks = -(-n // L)
    length = n_blocks * L
    offsets = np.arange(L)
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_boot, _CHUNK):
        c = min(_CHUNK, n_boot - start)
        idx = ((rng.integers(0, n, size=(c, n_blocks))[:, :, None] + offsets) % n).reshape(c, length)
        A, B = a[idx], b[idx]
        A2, B2 = A * A, B * B
        m1a, m1b, m2a, m2b = A.mean(1), B.mean(1), A2.mean(1), B2.mean(1)
        ds, ga, gb, ha, hb = _diff_and_grad(m1a, m1b, m2a, m2b)
        with np.errstate(invalid="ignore"):
            z = (ga[:, None] * (A - m1a[:, None]) + gb[:, None] * (B - m1b[:, None])
                 + ha[:, None] * (A2 - m2a[:, None]) + hb[:, None] * (B2 - m2b[:, None]))
            psi = (z.reshape(c, n_blocks, L).sum(2) ** 2).mean(1) / L
            t = (ds - d) / np.sqrt(psi / length)
        out.append(t[np.isfinite(t)])
    return np.concatenate(out) if out else np.zeros(0)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None stays None)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: p_values[i])
    m = len(order)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * float(p_values[i])))
        out[i] = running
    return out


# ---- probability of backtest overfitting --------------------------------------------------
def _sharpe_from_sums(s1: np.ndarray, s2: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-bar Sharpe (ddof=1) from sums and sums of squares; 0 when nothing varies and the
    mean is 0 (a flat configuration), +-inf when nothing varies around a non-zero mean."""
    mean = s1 / n
    var = np.maximum(s2 - s1 * mean, 0.0) / (n - 1)
    sd = np.sqrt(var)
    flat = sd <= 1e-15 * np.maximum(np.abs(mean), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.where(mean == 0.0, 0.0, np.sign(mean) * np.inf), mean / np.where(flat, 1.0, sd))


def pbo(returns: np.ndarray, n_blocks: int = DEFAULT_BLOCKS) -> dict[str, Any]:
    """PBO of choosing the best of ``N`` configurations (columns of ``returns [T, N]``) by
    combinatorially symmetric cross-validation with ``n_blocks`` blocks (module doc).

    Returns ``{pbo, logits [C], n_blocks, n_combinations, n_configurations, bars,
    prob_oos_loss (share of splits where the in-sample winner loses out of sample),
    degradation_slope (OLS slope of the winner's out-of-sample on in-sample Sharpe),
    selected (how often each configuration won in sample), is_sharpe, oos_sharpe (the
    winner's per-bar Sharpe in each split)}``.
    """
    M = np.asarray(returns, dtype=np.float64)
    if M.ndim != 2 or M.shape[1] < 2:
        raise ConfigError(f"PBO needs returns of at least two configurations as a [bars, configurations] "
                          f"matrix, got shape {M.shape}")
    T, N = M.shape
    S = int(n_blocks)
    if S < 2 or S % 2 or S > MAX_BLOCKS:
        raise ConfigError(f"--blocks {n_blocks}: the number of CSCV blocks must be even, between 2 and "
                          f"{MAX_BLOCKS} (default {DEFAULT_BLOCKS})")
    if T // S * (S // 2) < 2:
        raise ConfigError(f"--blocks {S}: {T} common bars are too few for {S} blocks (each half needs at least "
                          f"two bars); use fewer blocks")
    blocks = np.array_split(np.arange(T), S)
    s1 = np.stack([M[bl].sum(0) for bl in blocks])  # [S, N]
    s2 = np.stack([(M[bl] ** 2).sum(0) for bl in blocks])
    cnt = np.array([bl.size for bl in blocks], dtype=np.float64)
    combos = np.array(list(itertools.combinations(range(S), S // 2)), dtype=np.int64)
    C = combos.shape[0]
    mask = np.zeros((C, S))
    mask[np.repeat(np.arange(C), S // 2), combos.ravel()] = 1.0
    is_s1, is_s2, is_n = mask @ s1, mask @ s2, mask @ cnt
    perf_is = _sharpe_from_sums(is_s1, is_s2, is_n[:, None])
    perf_os = _sharpe_from_sums(s1.sum(0) - is_s1, s2.sum(0) - is_s2, (cnt.sum() - is_n)[:, None])
    best = np.argmax(perf_is, axis=1)  # the first of tied winners
    ranks = sps.rankdata(perf_os, axis=1)  # 1 = worst, ties averaged
    rows = np.arange(C)
    w = ranks[rows, best] / (N + 1.0)
    logits = np.log(w / (1.0 - w))
    chosen_is, chosen_os = perf_is[rows, best], perf_os[rows, best]
    finite = np.isfinite(chosen_is) & np.isfinite(chosen_os)
    slope = None
    if finite.sum() >= 2 and np.ptp(chosen_is[finite]) > 0:
        slope = float(np.polyfit(chosen_is[finite], chosen_os[finite], 1)[0])
    return {
        "pbo": float((np.count_nonzero(logits < 0) + 0.5 * np.count_nonzero(logits == 0)) / C),
        "logits": logits, "n_blocks": S, "n_combinations": C, "n_configurations": N, "bars": T,
        "prob_oos_loss": float(np.mean(chosen_os < 0)), "degradation_slope": slope,
        "selected": np.bincount(best, minlength=N).tolist(),
        "is_sharpe": chosen_is, "oos_sharpe": chosen_os,
    }


# ---- one symbol ---------------------------------------------------------------------------
def compare_symbol(labels: Sequence[str], times: Sequence[np.ndarray], returns: Sequence[np.ndarray], *,
                   bars_per_year: float, configurations: Sequence[str] | None = None,
                   n_blocks: int = DEFAULT_BLOCKS, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                   alpha: float = ALPHA) -> dict[str, Any]:
    """Runs of one symbol on the same data, on their common bars: each run's Sharpe, the
    best run's Sharpe difference to every other (bootstrap p-value, Holm-adjusted p-value,
    interval) and the PBO over the distinct configurations (``configurations``: one key per
    run, e.g. the config fingerprint; a configuration run twice counts once, its first run).

    Returns ``{bars, bars_per_year, times, returns [T, N], sharpe [N], best, differences,
    pbo (None when fewer than two distinct configurations, with pbo_note)}``.
    """
    common, M = align(times, returns)
    n = len(labels)
    sr = [sharpe(M[:, j], bars_per_year) for j in range(n)] if len(common) else [None] * n
    ranked = [j for j in range(n) if sr[j] is not None]
    best = max(ranked, key=lambda j: sr[j]) if ranked else None
    diffs = []
    for j in range(n):
        if best is None or j == best:
            continue
        rec = sharpe_difference(M[:, best], M[:, j], bars_per_year=bars_per_year, n_boot=n_boot,
                                seed=seed + j, alpha=alpha)
        diffs.append({"run": j, "label": labels[j], **rec})
    for rec, p in zip(diffs, holm([d["p_value"] for d in diffs])):
        rec["p_holm"] = p
    keys = list(configurations) if configurations is not None else list(labels)
    distinct = [j for j in range(n) if keys[j] not in keys[:j]]
    out: dict[str, Any] = {"bars": int(len(common)), "bars_per_year": float(bars_per_year), "times": common,
                           "returns": M, "sharpe": sr, "best": best, "differences": diffs, "pbo": None,
                           "pbo_note": None, "pbo_runs": distinct}
    if len(distinct) < 2:
        out["pbo_note"] = "PBO needs at least two distinct configurations on the same data"
    else:
        try:
            out["pbo"] = pbo(M[:, distinct], n_blocks)
        except ConfigError as exc:
            out["pbo_note"] = str(exc)
    return out


__all__ = ["ALPHA", "DEFAULT_BLOCKS", "DEFAULT_BOOTSTRAP", "MAX_BLOCKS", "align", "block_length", "compare_symbol",
           "holm", "pbo", "sharpe", "sharpe_difference"]
