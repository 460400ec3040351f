"""The comparison page (``compare.html``) of `walkforward compare`: runs on the same data side by side.

Per symbol: the key metrics of every run (sortable), the best run's Sharpe difference to
each other run with its bootstrap p-value, the probability of backtest overfitting with the
histogram of its CSCV logits, the in-sample vs out-of-sample Sharpe of each split's winner,
and every run's out-of-sample equity on the common bars. The numbers come from
`reports.compare` (methods in its docstring). Offline like the run pages: plotly.js is
written once to ``<out>/assets/plotly.min.js`` (`reports.html.write_plotly_asset`), user
strings are escaped (`html.escape` in HTML, `reports.charts.label` in charts), figure JSON
sits in ``<script type="application/json">`` with ``<>&`` escaped (`reports.html.safe_json`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from reports.charts import MAX_POINTS, _layout, _finite, decimate, label
from reports.html import ASSET_DIR, PLOTLY_FILE, _Figures, _page, esc, metric_cell, write_plotly_asset
from backtest.result_files import to_jsonable, write_json, write_text
from reports.metrics import format_value

PAGE = "compare.html"
DATA = "compare.json"

#: (metric key, column title, display kind) of the side-by-side table.
RUN_COLUMNS = (
    ("sharpe_common", "Sharpe (common bars)", "num"), ("net_return", "Net return", "pct"), ("pf", "PF", "num"),
    ("max_drawdown", "Max DD", "pct"), ("trades", "Trades", "int"), ("consistency", "Consistency", "pct"),
    ("skew", "Skew", "num"), ("excess_p", "Excess p", "num"), ("timing_null_p", "Timing-null p", "num"),
    ("dsr", "Deflated Sharpe", "num"), ("n_trials", "DSR trials", "int"),
)
DIFF_COLUMNS = (("diff", "Sharpe difference (best - run)", "num"), ("ci_low", "95% low", "num"),
                ("ci_high", "95% high", "num"), ("p_value", "p-value", "num"), ("p_holm", "p (Holm)", "num"),
                ("bars", "Bars", "int"), ("block", "Block", "int"))


def _times(ns: np.ndarray) -> list[str]:
    return [t.isoformat() for t in pd.to_datetime(np.asarray(ns, dtype=np.int64), utc=True)]


def equity_overlay_chart(labels: Sequence[str], times: np.ndarray, returns: np.ndarray, best: int | None) -> dict:
    """Every run's growth (%) on the common bars, the best run drawn thicker."""
    growth = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64), axis=0) - 1.0 if len(times) else np.zeros((0, 0))
    idx = np.zeros(0, dtype=np.int64)
    for j in range(growth.shape[1] if growth.ndim == 2 else 0):
        idx = np.union1d(idx, decimate(growth[:, j], MAX_POINTS // max(1, growth.shape[1])))
    x = _times(np.asarray(times)[idx]) if idx.size else []
    data = [{"type": "scatter", "mode": "lines", "name": label(name), "x": x, "y": _finite(100.0 * growth[idx, j]),
             "line": {"width": 3 if j == best else 1.5}} for j, name in enumerate(labels)]
    return {"data": data, "layout": _layout("Out-of-sample growth (%) on the common bars", height=340,
                                            yaxis={"title": {"text": "%"}})}


def logit_chart(logits: Sequence[float], pbo: float) -> dict:
    """Histogram of the CSCV logits; the share left of 0 is the PBO."""
    line = {"type": "line", "xref": "x", "yref": "paper", "x0": 0, "x1": 0, "y0": 0, "y1": 1,
            "line": {"color": "crimson", "width": 2, "dash": "dash"}}
    return {"data": [{"type": "histogram", "name": "logit", "x": _finite(logits), "nbinsx": 40}],
            "layout": _layout(f"CSCV logits: PBO = {pbo:.3f} (share left of 0)", height=280, shapes=[line],
                              xaxis={"title": {"text": "logit of relative rank out of sample"}})}


def degradation_chart(is_sharpe: Sequence[float], oos_sharpe: Sequence[float]) -> dict:
    """The winner's in-sample vs out-of-sample per-bar Sharpe in every split."""
    return {"data": [{"type": "scattergl", "mode": "markers", "name": "split", "x": _finite(is_sharpe),
                      "y": _finite(oos_sharpe), "marker": {"size": 4, "opacity": 0.4}}],
            "layout": _layout("In-sample winner: Sharpe in sample vs out of sample (per bar)", height=280,
                              xaxis={"title": {"text": "in sample"}}, yaxis={"title": {"text": "out of sample"}})}


def _runs_table(sym: Mapping[str, Any]) -> str:
    head = "".join(f'<th data-col="{k}">{esc(t)}</th>' for k, t, _ in RUN_COLUMNS)
    rows = []
    for r in sym["runs"]:
        m = {**r["metrics"], "sharpe_common": r.get("sharpe_common")}
        cells = "".join(metric_cell(k, m.get(k), kind) for k, _, kind in RUN_COLUMNS)
        best = ' <b>(best)</b>' if r.get("best") else ""
        verdict = esc(str(r.get("verdict")))
        rows.append(f'<tr data-run="{esc(r["label"])}"><td class="name" title="{esc(r["run_dir"])}">'
                    f'{esc(r["label"])}{best}</td><td class="name"><code>{esc(r["fingerprint"][:12])}</code></td>'
                    f'<td data-metric="verdict" data-value="{verdict}"><span class="badge {verdict}">{verdict}'
                    f"</span></td>{cells}</tr>")
    return (f'<table class="sortable runs"><thead><tr><th class="name">Run</th><th class="name">Configuration</th>'
            f'<th>Verdict</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _diff_table(sym: Mapping[str, Any]) -> str:
    if not sym["differences"]:
        return "<p>No other run to set against the best.</p>"
    head = "".join(f"<th>{esc(t)}</th>" for _, t, _ in DIFF_COLUMNS)
    rows = "".join(
        f'<tr data-run="{esc(d["label"])}"><td class="name">{esc(d["label"])}</td>'
        + "".join(metric_cell(k, d.get(k), kind) for k, _, kind in DIFF_COLUMNS)
        + f'<td class="name">{esc(d.get("note") or "")}</td></tr>' for d in sym["differences"])
    return (f'<table class="sortable differences"><thead><tr><th class="name">Run</th>{head}<th class="name">Note</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _pbo_block(sym: Mapping[str, Any], fig: _Figures) -> str:
    p = sym.get("pbo")
    if not p:
        return f'<p class="pbo" data-value="">PBO not computed: {esc(sym.get("pbo_note") or "")}.</p>'
    slope = p.get("degradation_slope")
    text = (f'<p class="pbo" data-metric="pbo" data-value="{p["pbo"]!r}">Probability of backtest overfitting: '
            f'<b>{format_value(p["pbo"])}</b> over {p["n_configurations"]} distinct configurations, '
            f'{p["n_blocks"]} blocks, {p["n_combinations"]} in-sample/out-of-sample splits of {p["bars"]} bars. '
            f'The in-sample winner lost money out of sample in {format_value(p["prob_oos_loss"], "pct")} of splits; '
            f'slope of its out-of-sample on in-sample Sharpe: {esc(format_value(slope))}.</p>')
    return text + '<div class="grid">' + fig.div(logit_chart(p["logits"], p["pbo"]), "pbo-logits") \
        + fig.div(degradation_chart(p["is_sharpe"], p["oos_sharpe"]), "pbo-degradation") + "</div>"


def compare_html(result: Mapping[str, Any], arrays: Mapping[str, Mapping[str, Any]]) -> str:
    """The page for a `walkforward compare` result; ``arrays``: symbol -> ``{times, returns}``
    on the common bars (for the equity overlay)."""
    fig = _Figures()
    sections = []
    for sym in result["symbols"]:
        arr = arrays.get(sym["symbol"]) or {}
        labels = [r["label"] for r in sym["runs"]]
        best = next((j for j, r in enumerate(sym["runs"]) if r.get("best")), None)
        chart = fig.div(equity_overlay_chart(labels, arr.get("times", np.zeros(0)), arr.get("returns", np.zeros((0, 0))),
                                             best), f"equity-{len(sections)}")
        sections.append(
            f'<section data-symbol="{esc(sym["symbol"])}"><h2>{esc(sym["symbol"])}</h2>'
            f'<p>{len(sym["runs"])} runs on {format_value(sym["bars"], "int")} common out-of-sample bars; data '
            f'<code title="{esc(sym["data_hash"])}">{esc(sym["data_hash"][:12])}</code>, {len(sym["tests"])} test '
            f"segments.</p>{_runs_table(sym)}<h3>Best run against each other run</h3>{_diff_table(sym)}"
            f"<p>Sharpe ratios annualised; difference and interval by a studentised circular block bootstrap of "
            f"paired bar returns (two-sided p-value; Holm adjusts for the number of comparisons, but not for "
            f"having picked the best, which the PBO below measures).</p>"
            f"<h3>Probability of backtest overfitting</h3>{_pbo_block(sym, fig)}{chart}</section>")
    skipped = "".join(f"<li>{esc(s)}</li>" for s in result.get("skipped", []))
    body = ("<h1>Configurations compared on the same data</h1>"
            f"<p>Source: {esc(result['source'])}{' ' + esc(str(result.get('ledger'))) if result.get('ledger') else ''}"
            f"; bootstrap resamples {result['bootstrap']}, seed {result['seed']}, CSCV blocks {result['blocks']}.</p>"
            + "".join(sections) + (f"<h2>Not compared</h2><ul>{skipped}</ul>" if skipped else ""))
    return _page("Walk-forward comparison", body, f"{ASSET_DIR}/{PLOTLY_FILE}")


def write_compare(out: str | Path, result: Mapping[str, Any], arrays: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``compare.html``, ``compare.json`` and the plotly asset under ``out``; returns the page."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_plotly_asset(out)
    write_json(out / DATA, result)
    page = out / PAGE
    write_text(page, compare_html(result, arrays))
    return page


__all__ = ["DATA", "PAGE", "compare_html", "degradation_chart", "equity_overlay_chart", "logit_chart", "write_compare"]
