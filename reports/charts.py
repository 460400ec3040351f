"""Plotly figure specs (plain dicts: ``{"data": [...], "layout": {...}}``) for the report pages.

Plain dicts rather than ``plotly.graph_objects`` keep page building fast (no validation of
every attribute) and the JSON small; the pages draw them with ``Plotly.newPlot``.
"""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from reports.metrics import drawdown

_BASE_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 40, "b": 40}, "height": 320,
                "legend": {"orientation": "h", "y": -0.2}, "template": None}


def _layout(title: str, **kw: Any) -> dict[str, Any]:
    return {**_BASE_LAYOUT, "title": {"text": title}, **kw}


def label(text: Any) -> str:
    """A user string as a plotly label: plotly parses a subset of HTML in labels, and decodes
    entities, so escaping shows the text literally and no tag or link gets through."""
    return html.escape(str(text), quote=False)  # plotly decodes &lt; &gt; &amp; but shows &quot; literally


def _times(ts: pd.Series) -> list[str]:
    return [t.isoformat() for t in pd.to_datetime(ts, utc=True)]


def _finite(xs: Sequence[Any]) -> list[float | None]:
    return [float(x) if x is not None and math.isfinite(float(x)) else None for x in xs]


#: Above this many bars a line chart keeps each bucket's min and max only (pages stay small
#: and fast; peaks and troughs, hence drawdowns, stay visible).
MAX_POINTS = 4000


def decimate(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices keeping the first, last, and per-bucket min and max of y (vectorised)."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    size = -(-n // buckets)
    pad = np.full(buckets * size, np.nan)
    pad[:n] = np.where(np.isfinite(y), y, np.nan)
    rows = pad.reshape(buckets, size)
    valid = ~np.all(np.isnan(rows), axis=1)
    base = np.arange(buckets)[valid] * size
    lo = base + np.nanargmin(rows[valid], axis=1)
    hi = base + np.nanargmax(rows[valid], axis=1)
    return np.unique(np.concatenate(([0, n - 1], lo, hi)))


def equity_chart(equity: pd.DataFrame, bh: np.ndarray | None, bounds: Sequence[int],
                 matched: np.ndarray | None = None, bh_label: str = "buy and hold",
                 matched_label: str = "buy and hold at the model's average exposure") -> dict:
    """Stitched out-of-sample equity against buy and hold at the position cap and buy and hold
    matched to the model's exposure, test folds shaded alternately."""
    x = _times(equity["timestamp"])
    eq = equity["equity"].to_numpy(np.float64)
    idx = decimate(eq)
    for other in (bh, matched):
        if other is not None:
            idx = np.union1d(idx, decimate(np.asarray(other)))
    xs = [x[i] for i in idx]
    data = [{"type": "scatter", "mode": "lines", "name": "model (out of sample)", "x": xs,
             "y": _finite(eq[idx])}]
    for curve, name, dash in ((bh, bh_label, "dot"), (matched, matched_label, "dash")):
        if curve is not None:
            data.append({"type": "scatter", "mode": "lines", "name": label(name), "x": xs,
                         "y": _finite(np.asarray(curve)[idx]), "line": {"dash": dash}})
    shapes = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if b > a:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": x[a], "x1": x[b - 1],
                           "y0": 0, "y1": 1, "line": {"width": 0}, "layer": "below",
                           "fillcolor": "rgba(80,120,200,0.08)" if k % 2 == 0 else "rgba(200,160,80,0.08)"})
    return {"data": data, "layout": _layout("Equity: model vs buy and hold (folds shaded)", shapes=shapes,
                                            yaxis={"title": {"text": "equity"}})}


def drawdown_chart(equity: pd.DataFrame, initial_equity: float) -> dict:
    dd = drawdown(equity["equity"].to_numpy(np.float64), initial_equity)
    idx = decimate(dd)
    x = _times(equity["timestamp"].iloc[idx])
    return {"data": [{"type": "scatter", "mode": "lines", "fill": "tozeroy", "name": "drawdown",
                      "x": x, "y": _finite(-100.0 * dd[idx])}],
            "layout": _layout("Drawdown (%)", height=240, yaxis={"title": {"text": "%"}})}


def fold_pf_chart(folds: Sequence[Mapping[str, Any]]) -> dict:
    """Profit factor per fold; infinite PF drawn at the top of the axis and labelled."""
    pfs = [f["metrics"]["pf"] for f in folds]
    finite = [p for p in pfs if p is not None and math.isfinite(p)]
    cap = max(finite + [2.0]) * 1.2
    y = [None if p is None else (cap if math.isinf(p) else p) for p in pfs]
    text = ["undefined" if p is None else ("inf" if math.isinf(p) else f"{p:.2f}") for p in pfs]
    return {"data": [{"type": "bar", "name": "PF", "x": [f"fold {f['fold']}" for f in folds], "y": y,
                      "text": text, "textposition": "auto"}],
            "layout": _layout("Profit factor per test fold", height=260,
                              shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                                       "line": {"dash": "dash", "color": "gray"}}])}


def trade_hist_chart(trades: pd.DataFrame, skew: float | None) -> dict:
    r = 100.0 * trades["return"].to_numpy(np.float64)
    s = "undefined" if skew is None else f"{skew:.3f}"
    return {"data": [{"type": "histogram", "name": "trades", "x": _finite(r), "nbinsx": 40}],
            "layout": _layout(f"Trade net returns (%), {r.size} trades, skew {s}", height=260)}


def cost_chart(costs: Mapping[str, float]) -> dict:
    keys = [k for k in costs if k != "total"]
    return {"data": [{"type": "bar", "name": "cost", "x": keys, "y": _finite([costs[k] for k in keys])}],
            "layout": _layout(f"Costs by component (total {costs.get('total', 0.0):.2f})", height=260)}


def action_chart(shares: Mapping[str, float]) -> dict:
    return {"data": [{"type": "bar", "name": "share", "x": [label(k) for k in shares],
                      "y": _finite([100.0 * v for v in shares.values()])}],
            "layout": _layout("Action shares (% of bars)", height=260)}


def null_chart(draws: np.ndarray, model_ret: float, title: str, name: str) -> dict:
    """Histogram of a null's stitched net returns with the model's net return as a line."""
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": 100 * model_ret, "x1": 100 * model_ret,
               "y0": 0, "y1": 1, "line": {"color": "crimson", "width": 3}}]
    return {"data": [{"type": "histogram", "name": name, "x": _finite(100.0 * np.asarray(draws)), "nbinsx": 40}],
            "layout": _layout(title, height=260, shapes=shapes)}


def random_chart(random_rets: np.ndarray, model_ret: float, pct: float | None) -> dict:
    p = "undefined" if pct is None else f"{pct:.1f}"
    return null_chart(random_rets, model_ret, f"Net return (%) vs random policy: model at percentile {p}",
                      "random policy")


def timing_null_chart(draws: np.ndarray, model_ret: float, p_value: float | None) -> dict:
    p = "undefined" if p_value is None else f"{p_value:.3f}"
    return null_chart(draws, model_ret, f"Net return (%) vs timing null (own exposure moved in time): p = {p}",
                      "timing null")


def training_charts(fold: int, log: Sequence[Mapping], val: Sequence[Mapping]) -> list[dict]:
    """Validation PF and return over updates; losses, entropy and explained variance."""
    vu = [v.get("update") for v in val]
    vdata = [{"type": "scatter", "mode": "lines+markers", "name": "validation PF", "x": vu,
              "y": _finite([v.get("pf") for v in val])},
             {"type": "scatter", "mode": "lines+markers", "name": "validation net return (%)", "x": vu,
              "y": _finite([100 * v["net_return"] if v.get("net_return") is not None else None for v in val]),
              "yaxis": "y2"}]
    lu = [r.get("update") for r in log]
    tdata = [{"type": "scatter", "mode": "lines", "name": k, "x": lu, "y": _finite([r.get(k) for r in log])}
             for k in ("policy_loss", "value_loss", "entropy", "explained_variance")
             if any(r.get(k) is not None for r in log)]
    return [
        {"data": vdata, "layout": _layout(f"Fold {fold}: validation over updates", height=260,
                                          legend={"orientation": "h", "y": -0.25},
                                          margin={**_BASE_LAYOUT["margin"], "r": 60},  # room for the y2 ticks
                                          yaxis={"title": {"text": "PF"}},
                                          yaxis2={"overlaying": "y", "side": "right",
                                                  "title": {"text": "net return (%)"}})},
        {"data": tdata, "layout": _layout(f"Fold {fold}: training losses", height=260,
                                          legend={"orientation": "h", "y": -0.25})},
    ]


VERDICT_COLORS = {"DEPLOY": "#1a7f37", "PAPER": "#d4a017", "DROP": "#b42318", "INCONCLUSIVE": "#6e7781"}


def index_equity_chart(curves: Sequence[tuple[str, pd.Series, np.ndarray, float]]) -> dict:
    """Every symbol's stitched out-of-sample equity as growth of its initial equity (%)."""
    data = []
    for symbol, times, eq, init in curves:
        eq = np.asarray(eq, dtype=np.float64)
        if eq.size == 0:
            continue
        idx = decimate(eq, MAX_POINTS // 2)
        x = _times(times.iloc[idx])
        data.append({"type": "scatter", "mode": "lines", "name": label(symbol), "x": x,
                     "y": _finite(100.0 * (eq[idx] / init - 1.0))})
    return {"data": data, "layout": _layout("Stitched out-of-sample equity: growth (%) per symbol", height=340,
                                            yaxis={"title": {"text": "%"}})}


def index_pf_chart(symbols: Sequence[Mapping[str, Any]]) -> dict:
    """PF per symbol coloured by verdict; infinite PF drawn at the top and labelled."""
    pfs = [s["metrics"]["pf"] for s in symbols]
    finite = [p for p in pfs if p is not None and math.isfinite(p)]
    cap = max(finite + [2.0]) * 1.2
    return {"data": [{"type": "bar", "name": "PF", "x": [label(s["symbol"]) for s in symbols],
                      "y": [None if p is None else (cap if math.isinf(p) else p) for p in pfs],
                      "text": ["undefined" if p is None else ("inf" if math.isinf(p) else f"{p:.2f}") for p in pfs],
                      "textposition": "auto",
                      "marker": {"color": [VERDICT_COLORS.get(s["verdict"], "gray") for s in symbols]}}],
            "layout": _layout("Profit factor by symbol (colour = verdict)", height=300,
                              shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                                       "line": {"dash": "dash", "color": "gray"}}])}
