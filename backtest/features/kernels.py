"""Numba kernels behind the features: recursive filters and exact rolling windows.

Every kernel runs forward in time only, so its value at t depends on inputs <= t
and a prefix of the input gives a prefix of the output, bit for bit. Rolling
statistics recompute each window from its members (O(T * n), n <= a few hundred)
instead of sliding sums, so there is no drift over long series and the result at t
does not depend on where the series started. Windows shorter than ``n`` at the
start of the series use the rows available (the pipeline then overwrites rows
inside a feature's declared look-back with its neutral value).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Window sums may be reassociated (SIMD). The order then depends only on the window's
#: length and contents, so equal windows still give equal bits (prefix == full series).
_REASSOC = {"reassoc", "nsz"}


@njit(cache=True)
def safe_div(num, den, fill):
    """``num / den`` elementwise, ``fill`` where ``den == 0`` or the quotient is not finite."""
    n = num.shape[0]
    out = np.empty(n)
    for i in range(n):
        d = den[i]
        q = num[i] / d if d != 0.0 else fill
        out[i] = q if np.isfinite(q) else fill
    return out


@njit(cache=True)
def ewm(x, alpha):
    """Exponential filter ``y[t] = y[t-1] + alpha * (x[t] - y[t-1])``, ``y[0] = x[0]``."""
    n = x.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    y = x[0]
    out[0] = y
    for t in range(1, n):
        y = y + alpha * (x[t] - y)
        out[t] = y
    return out


#: Statistics of `rolling`.
ROLLING_SUM, ROLLING_MEAN, ROLLING_STD, ROLLING_MAD = 0, 1, 2, 3


@njit(cache=True, fastmath=_REASSOC)
def _window_sum(x, lo, hi):
    """``x[lo] + ... + x[hi-1]``."""
    s = 0.0
    for i in range(lo, hi):
        s += x[i]
    return s


@njit(cache=True, fastmath=_REASSOC)
def _squared_deviations(x, lo, hi, mean):
    """Sum of ``(x[i] - mean)**2`` over ``lo <= i < hi``."""
    ss = 0.0
    for i in range(lo, hi):
        d = x[i] - mean
        ss += d * d
    return ss


@njit(cache=True, fastmath=_REASSOC)
def _absolute_deviations(x, lo, hi, mean):
    """Sum of ``|x[i] - mean|`` over ``lo <= i < hi``."""
    ad = 0.0
    for i in range(lo, hi):
        ad += abs(x[i] - mean)
    return ad


@njit(cache=True, fastmath=_REASSOC)
def rolling(x, n, stat):
    """``stat`` (`ROLLING_*`) of each window ``x[max(0, t-n+1) .. t]``, recomputed from its
    members: sum, mean, population std (two-pass) or mean absolute deviation from the
    window mean."""
    size = x.shape[0]
    out = np.empty(size)
    for t in range(size):
        lo = max(0, t - n + 1)
        m = t + 1 - lo
        s = _window_sum(x, lo, t + 1)
        if stat == ROLLING_SUM:
            v = s
        elif stat == ROLLING_MEAN:
            v = s / m
        elif stat == ROLLING_STD:
            v = np.sqrt(_squared_deviations(x, lo, t + 1, s / m) / m)
        else:
            v = _absolute_deviations(x, lo, t + 1, s / m) / m
        out[t] = v
    return out


def rolling_mean(x, n):
    """Mean of ``x[max(0, t-n+1) .. t]``."""
    return rolling(x, n, ROLLING_MEAN)


def rolling_std(x, n):
    """Population std (two-pass) of ``x[max(0, t-n+1) .. t]``."""
    return rolling(x, n, ROLLING_STD)


def rolling_mean_abs_dev(x, n):
    """Mean absolute deviation from the window mean of ``x[max(0, t-n+1) .. t]``."""
    return rolling(x, n, ROLLING_MAD)


def rolling_sum(x, n):
    """Sum of ``x[max(0, t-n+1) .. t]`` (exact recomputation per window)."""
    return rolling(x, n, ROLLING_SUM)


@njit(cache=True)
def rolling_max(x, n):
    """Max of ``x[max(0, t-n+1) .. t]`` (monotone deque, O(T))."""
    size = x.shape[0]
    out = np.empty(size)
    dq = np.empty(size, dtype=np.int64)
    head = 0
    tail = 0
    for t in range(size):
        while tail > head and x[dq[tail - 1]] <= x[t]:
            tail -= 1
        dq[tail] = t
        tail += 1
        if dq[head] <= t - n:
            head += 1
        out[t] = x[dq[head]]
    return out


def rolling_min(x, n):
    """Min of ``x[max(0, t-n+1) .. t]``: the max of ``-x``, negated (exact)."""
    return -rolling_max(-np.asarray(x, dtype=np.float64), n)


@njit(cache=True, fastmath=_REASSOC)
def session_ols_slope(y, start, n):
    """OLS slope of ``y`` against bar number over ``max(start[t], t-n+1) .. t``; 0 below 3 points."""
    size = y.shape[0]
    out = np.zeros(size)
    for t in range(size):
        lo = max(start[t], t - n + 1)
        m = t + 1 - lo
        if m < 3:
            continue
        xm = (m - 1) / 2.0
        ym = _window_sum(y, lo, t + 1) / m
        sxy = 0.0
        sxx = 0.0
        for i in range(lo, t + 1):
            dx = (i - lo) - xm
            sxy += dx * (y[i] - ym)
            sxx += dx * dx
        out[t] = sxy / sxx
    return out


@njit(cache=True)
def regime_filter(z, valid, means, sd, stay):
    """Forward (filtering) probabilities of a fixed 3-state Gaussian HMM.

    ``z``: observed signal; ``valid``: where it is defined (elsewhere the filter only
    predicts); ``means``/``sd``: emission means and common std; ``stay``: probability
    of keeping the state each bar (the rest split evenly). Returns [T, 3]; starts
    uniform. Log-likelihoods are shifted by their max, so no state ever underflows.
    """
    size = z.shape[0]
    k = means.shape[0]
    out = np.empty((size, k))
    p = np.full(k, 1.0 / k)
    move = (1.0 - stay) / (k - 1)
    pred = np.empty(k)
    ll = np.empty(k)
    for t in range(size):
        for j in range(k):
            pred[j] = stay * p[j] + move * (1.0 - p[j])
        if valid[t]:
            best = -1e300
            arg = 0
            for j in range(k):
                d = (z[t] - means[j]) / sd
                ll[j] = -0.5 * d * d
                if ll[j] > best:
                    best = ll[j]
                    arg = j
            total = 0.0
            for j in range(k):
                lik = 1.0 if j == arg else np.exp(ll[j] - best)  # exp(0) == 1 exactly: skip it
                pred[j] = pred[j] * lik + 1e-12
                total += pred[j]
            for j in range(k):
                pred[j] /= total
        else:
            total = 0.0
            for j in range(k):
                total += pred[j]
            for j in range(k):
                pred[j] /= total
        for j in range(k):
            p[j] = pred[j]
            out[t, j] = p[j]
    return out


@njit(cache=True)
def streak(r, cap):
    """Signed count of consecutive same-sign returns ending at t, capped at +-cap (0 on a flat bar)."""
    size = r.shape[0]
    out = np.zeros(size)
    s = 0.0
    for t in range(size):
        if r[t] > 0.0:
            s = s + 1.0 if s > 0.0 else 1.0
        elif r[t] < 0.0:
            s = s - 1.0 if s < 0.0 else -1.0
        else:
            s = 0.0
        out[t] = min(max(s, -cap), cap)
    return out


@njit(cache=True)
def hour_groups(hour_key, session_index, high, low, open_, close, r):
    """Running aggregates of each (session, clock hour) group, up to and including t.

    Returns ``group_start`` (first bar of t's group) and, per t, the group's first
    open, running max high, min low, last close and sum of squared returns.
    """
    size = hour_key.shape[0]
    gstart = np.empty(size, dtype=np.int64)
    g_open = np.empty(size)
    g_high = np.empty(size)
    g_low = np.empty(size)
    g_r2 = np.empty(size)
    for t in range(size):
        new = t == 0 or hour_key[t] != hour_key[t - 1] or session_index[t] != session_index[t - 1]
        if new:
            gstart[t] = t
            g_open[t] = open_[t]
            g_high[t] = high[t]
            g_low[t] = low[t]
            g_r2[t] = r[t] * r[t]
        else:
            gstart[t] = gstart[t - 1]
            g_open[t] = g_open[t - 1]
            g_high[t] = max(g_high[t - 1], high[t])
            g_low[t] = min(g_low[t - 1], low[t])
            g_r2[t] = g_r2[t - 1] + r[t] * r[t]
    return gstart, g_open, g_high, g_low, g_r2


@njit(cache=True)
def window_sums(x, n):
    """Sum of ``x[max(0, t-n+1) .. t]`` in O(T) without subtracting anything.

    Blocks of ``n`` bars aligned to bar 0: a window is the suffix of the previous
    (complete) block plus the prefix of its own block, so each sum adds only the
    window's members (a window of zeros sums to exactly 0) and only bars <= t.
    """
    size = x.shape[0]
    pre = np.empty(size)
    suf = np.empty(size)
    for i in range(size):
        pre[i] = x[i] if i % n == 0 else pre[i - 1] + x[i]
    for i in range(size - 1, -1, -1):
        suf[i] = x[i] if (i % n == n - 1 or i == size - 1) else suf[i + 1] + x[i]
    out = np.empty(size)
    for t in range(size):
        lo = t - n + 1
        out[t] = pre[t] if (lo <= 0 or lo % n == 0) else suf[lo] + pre[t]
    return out


@njit(cache=True)
def true_range(high, low, close):
    """max(high - low, |high - prev close|, |low - prev close|); high - low on the first bar."""
    size = close.shape[0]
    out = np.empty(size)
    for t in range(size):
        r = high[t] - low[t]
        if t > 0:
            r = max(r, abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        out[t] = r
    return out


@njit(cache=True)
def adx(high, low, tr, n):
    """Wilder ADX in [0, 1]: DX = |+DI - -DI| / (+DI + -DI) smoothed with alpha 1/n."""
    size = high.shape[0]
    out = np.empty(size)
    alpha = 1.0 / n
    s_tr = 0.0
    s_p = 0.0
    s_m = 0.0
    a = 0.0
    for t in range(size):
        p = 0.0
        m = 0.0
        if t > 0:
            up = high[t] - high[t - 1]
            dn = low[t - 1] - low[t]
            if up > dn and up > 0.0:
                p = up
            if dn > up and dn > 0.0:
                m = dn
        if t == 0:
            s_tr, s_p, s_m = tr[0], p, m
        else:
            s_tr = s_tr + alpha * (tr[t] - s_tr)
            s_p = s_p + alpha * (p - s_p)
            s_m = s_m + alpha * (m - s_m)
        pdi = s_p / s_tr if s_tr != 0.0 else 0.0
        mdi = s_m / s_tr if s_tr != 0.0 else 0.0
        dx = abs(pdi - mdi) / (pdi + mdi) if pdi + mdi != 0.0 else 0.0
        a = dx if t == 0 else a + alpha * (dx - a)
        out[t] = a
    return out


@njit(cache=True)
def rolling_std_returns(r, n):
    """Population std of ``r`` over the window, from O(T) window sums of r and r^2 (for
    returns, whose mean is small next to their spread, so no cancellation); >= 0."""
    s1 = window_sums(r, n)
    s2 = window_sums(r * r, n)
    size = r.shape[0]
    out = np.empty(size)
    for t in range(size):
        m = min(t + 1, n)
        mean = s1[t] / m
        var = s2[t] / m - mean * mean
        out[t] = np.sqrt(var) if var > 0.0 else 0.0
    return out


@njit(cache=True)
def columns_to_rows(cols):
    """C-contiguous ``[T, n]`` from ``[n, T]``, in row blocks that stay in cache (a plain
    strided column write touches every cache line of the output n times)."""
    n, size = cols.shape
    out = np.empty((size, n))
    block = 512
    for start in range(0, size, block):
        stop = min(start + block, size)
        for j in range(n):
            for t in range(start, stop):
                out[t, j] = cols[j, t]
    return out
