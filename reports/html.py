"""HTML reports that work offline: ``index.html`` and ``<SYMBOL_DIR>/report.html`` per run.

plotly.js is written once per run to ``<run>/assets/plotly.min.js`` (from the installed
plotly package) and referenced relatively, never from a CDN. Every user-provided string is
escaped with `html.escape`; figure JSON lives in ``<script type="application/json">`` with
``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so no data can close the script element.
Table cells carry ``data-metric`` and ``data-value`` (raw number, ``inf`` or empty when
undefined) so tests and scripts can read values without parsing formatted text.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from reports import charts
from backtest.result_files import to_jsonable, write_json, write_text
from reports.metrics import format_breakeven, format_value
from reports.summary import build_summary, stitch
from reports.verdict import VerdictThresholds

ASSET_DIR = "assets"
PLOTLY_FILE = "plotly.min.js"

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1300px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f0f0f0;cursor:pointer}td.name,th.name{text-align:left}
.DEPLOY{color:#fff;background:#1a7f37}.PAPER{color:#000;background:#f2c744}.DROP{color:#fff;background:#b42318}
.INCONCLUSIVE{color:#fff;background:#6e7781}td.pass{color:#1a7f37}td.fail{color:#b42318;font-weight:bold}
.badge{padding:.1em .5em;border-radius:.3em;font-weight:bold}
.chart{width:100%;min-height:240px}.grid{display:grid;grid-template-columns:1fr 1fr;gap:.5em}
pre{background:#f7f7f7;padding:.5em;overflow:auto;max-height:300px}
"""

_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';
  var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
  function key(r){var c=r.cells[i],v=c.dataset.value;
   if(v===undefined)return c.textContent;if(v==='')return null;
   if(v==='inf')return Infinity;if(v==='-inf')return -Infinity;var n=parseFloat(v);return isNaN(n)?v:n;}
  rows.sort(function(a,b){var x=key(a),y=key(b);if(x===null)return 1;if(y===null)return -1;
   if(x<y)return asc?-1:1;if(x>y)return asc?1:-1;return 0;});
  rows.forEach(function(r){b.appendChild(r);});});});});
"""

_PLOT_JS = """
document.querySelectorAll('script.fig').forEach(function(s){
 var spec=JSON.parse(s.textContent),div=document.getElementById(s.dataset.target);
 Plotly.newPlot(div,spec.data,spec.layout,{responsive:true,displaylogo:false});});
"""

#: (key in metrics, column title, display kind) for the index table and metric tables.
INDEX_COLUMNS = (
    ("pf", "PF", "num"), ("skew", "Skew", "num"), ("consistency", "Consistency", "pct"),
    ("sharpe", "Sharpe", "num"), ("max_drawdown", "Max DD", "pct"), ("trades", "Trades", "int"),
    ("net_return", "Net return", "pct"), ("buy_and_hold_net_return", "B&H at cap", "pct"),
    ("excess_vs_bh_matched", "Excess vs exposure-matched B&H", "pct"), ("excess_p", "Excess p-value", "num"),
    ("timing_null_p", "Timing-null p-value", "num"), ("dsr", "Deflated Sharpe", "num"),
    ("breakeven_cost_multiple", "Breakeven cost multiple", "breakeven"),
)
METRIC_ROWS = (
    ("pf", "Profit factor", "num"), ("pf_ci_low", "PF 95% CI low", "num"), ("pf_ci_high", "PF 95% CI high", "num"),
    ("skew", "Skew (trade returns)", "num"), ("skew_bar", "Skew (bar returns)", "num"),
    ("consistency", "Consistency", "pct"), ("net_return", "Net return", "pct"),
    ("buy_and_hold_net_return", "Buy & hold at the position cap: net return", "pct"),
    ("exposure_avg", "Average signed exposure (share of equity in the market, negative when short)", "pct"),
    ("bh_matched_net_return", "Buy & hold at the average exposure: net return", "pct"),
    ("excess_vs_bh_matched", "Excess over exposure-matched buy & hold", "pct"),
    ("excess_t", "Excess t-statistic (Newey-West)", "num"), ("excess_p", "Excess p-value (one-sided)", "num"),
    ("timing_null_p", "Timing-null p-value", "num"), ("timing_null_percentile", "Timing-null percentile", "num"),
    ("timing_null_median", "Timing-null median net return", "pct"), ("timing_null_draws", "Timing-null draws", "int"),
    ("cagr", "Annualised return", "pct"),
    ("sharpe", "Sharpe (annualised)", "num"), ("sortino", "Sortino (annualised)", "num"),
    ("psr", "Probabilistic Sharpe", "num"), ("dsr", "Deflated Sharpe", "num"), ("n_trials", "DSR trials", "int"),
    ("max_drawdown", "Max drawdown", "pct"), ("max_drawdown_bars", "Max drawdown duration (bars)", "int"),
    ("calmar", "Calmar", "num"), ("trades", "Trades", "int"), ("win_rate", "Win rate", "pct"),
    ("expectancy", "Expectancy (per trade)", "num"), ("avg_win", "Average win", "num"),
    ("avg_loss", "Average loss", "num"), ("exposure", "Bars in the market", "pct"), ("turnover", "Turnover", "num"),
    ("pdt_rejections", "PDT rejections", "int"), ("random_percentile", "Random-policy percentile", "num"),
    ("random_p_value", "Random-policy p-value", "num"),
    ("random_p95", "Random-policy net return to beat (p <= 0.05)", "pct"), ("folds", "Test folds", "int"),
)
FOLD_COLUMNS = (("pf", "PF", "num"), ("skew", "Skew", "num"), ("net_return", "Net return", "pct"),
                ("sharpe", "Sharpe", "num"), ("max_drawdown", "Max DD", "pct"), ("trades", "Trades", "int"),
                ("win_rate", "Win rate", "pct"), ("pdt_rejections", "PDT rej.", "int"),
                ("exposure_avg", "Avg exposure", "pct"), ("excess_vs_bh_matched", "vs matched B&H", "pct"),
                ("timing_null_p", "Timing-null p", "num"), ("random_percentile", "Random pct", "num"),
                ("breakeven_cost_multiple", "Breakeven cost x", "breakeven"))

esc = html.escape


def safe_json(obj: Any) -> str:
    """JSON that can sit inside a <script> element: no '<', '>' or '&' survives literally."""
    text = json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _value_attr(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x)) if isinstance(x, float) else str(x)


#: How the symbol page says the test folds started (`walkforward.fold_carry`).
_FOLD_START = {"carry": " as one account (the position carries from one test fold into the next; only the last is "
                        "closed at its end)",
               "flat": ", each started flat and closed at its last bar"}


def metric_cell(key: str, value: Any, kind: str, m: Mapping[str, Any] | None = None) -> str:
    """One table cell; the breakeven cost multiple (``kind`` "breakeven") is shown by
    `reports.metrics.format_breakeven` with ``m``'s ``breakeven_cost_above``."""
    if kind == "breakeven":
        above = (m or {}).get("breakeven_cost_above")
        return (f'<td data-metric="{esc(key)}" data-value="{esc(_value_attr(value if above is None else math.inf))}">'
                f"{esc(format_breakeven(value, above))}</td>")
    return (f'<td data-metric="{esc(key)}" data-value="{esc(_value_attr(value))}">'
            f"{esc(format_value(value, kind))}</td>")


def _page(title: str, body: str, plotly_src: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{_CSS}</style>"
            f'<script src="{esc(plotly_src)}"></script></head>\n<body>\n{body}\n'
            f"<script>{_SORT_JS}{_PLOT_JS}</script></body></html>\n")


class _Figures:
    """Collects chart divs and their JSON specs for one page."""

    def __init__(self) -> None:
        self.n = 0

    def div(self, spec: Mapping[str, Any], name: str) -> str:
        self.n += 1
        fid = f"chart-{self.n}"
        return (f'<div class="chart" id="{fid}" data-chart="{esc(name)}"></div>'
                f'<script type="application/json" class="fig" data-target="{fid}">{safe_json(spec)}</script>')


def write_plotly_asset(run_dir: Path) -> Path:
    """plotly.js from the installed package, once per run (rewritten only if it changed)."""
    from plotly.offline import get_plotlyjs

    path = Path(run_dir) / ASSET_DIR / PLOTLY_FILE
    js = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(js.encode("utf-8")):
        write_text(path, js)
    return path


def _verdict_block(s: Mapping[str, Any]) -> str:
    """Verdict badge, what keeps it from the next level, and every criterion with its value,
    threshold and outcome (the same table summary.json and the terminal show)."""
    reasons = "".join(f"<li>{esc(r)}</li>" for r in s["reasons"]) or "<li>all DEPLOY criteria met</li>"
    rows = []
    for c in s.get("criteria", []):
        value = c["value"]
        kind = c["kind"] if c["kind"] in ("pct", "int") else "num"
        shown = (f"[{format_value(value[0])}, {format_value(value[1])}]" if isinstance(value, list)
                 else format_value(value, kind))
        threshold = "" if c["threshold"] is None else format_value(c["threshold"], kind)
        outcome = "pass" if c["passed"] else "fail"
        rows.append(f'<tr data-level="{esc(c["level"])}" data-criterion="{esc(c["name"])}" data-passed="'
                    f'{int(c["passed"])}"><td class="name">{esc(c["level"])}</td><td class="name">{esc(c["label"])}'
                    f'</td><td>{esc(shown)}</td><td>{esc(c["op"])} {esc(threshold)}</td>'
                    f'<td class="{outcome}">{outcome}</td></tr>')
    table = ('<table id="criteria"><thead><tr><th class="name">Level</th><th class="name">Criterion</th>'
             '<th>Value</th><th>Needed</th><th>Outcome</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")
    note = ("<p>INCONCLUSIVE when an evidence row fails; DEPLOY when every evidence and deploy row passes; "
            "PAPER when every paper row passes; else DROP. Timing null: the model's own positions "
            "(episodes from entry to exit) moved in time; p-values are one-sided.</p>")
    return (f'<h2>Verdict: <span id="verdict" class="badge {esc(s["verdict"])}" data-verdict="{esc(s["verdict"])}">'
            f'{esc(s["verdict"])}</span></h2><ul id="verdict-reasons">{reasons}</ul>{table}{note}')


def _training_block(t: Mapping[str, Any] | None) -> str:
    """Beside the verdict: how the models were trained, whether training learned (in words)
    and each fold's selected checkpoint in sample, on validation and on test."""
    if not t:
        return ""
    notes = "".join(f"<li>{esc(n)}</li>" for n in t.get("notes") or [])
    learned = ('<p id="training-notes-head"><strong>Training may not have learned:</strong></p>'
               f'<ul id="training-notes">{notes}</ul>') if notes else '<p id="training-notes-head">No sign that training failed to learn.</p>'
    rows = []
    for f in t.get("folds") or []:
        cells = "".join(f"<td>{esc(format_value((f.get(seg) or {}).get(k)))}</td>"
                        for seg in ("train", "val", "test") for k in ("pf", "sharpe"))
        rows.append(f'<tr data-fold="{esc(str(f.get("fold")))}"><td class="name">{esc(str(f.get("fold")))}</td>{cells}</tr>')
    table = ('<table id="in-sample"><thead><tr><th class="name">Fold</th><th>Train PF</th><th>Train Sharpe</th>'
             '<th>Val PF</th><th>Val Sharpe</th><th>Test PF</th><th>Test Sharpe</th></tr></thead><tbody>'
             + "".join(rows) + "</tbody></table>")
    return (f'<h2>Training</h2><p id="training-setup">Mode {esc(str(t.get("mode")))}, reward '
            f'{esc(str(t.get("reward")))}.</p>{learned}{table}<p>The selected checkpoint of each fold backtested '
            "on its own training bars, its validation bars and its test bars: an in-sample PF far above the test's "
            "is memorisation.</p>")


def index_html(summary: Mapping[str, Any], manifest: Mapping[str, Any],
               loaded: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> str:
    """The run's index page: sortable table of the key evidence per symbol, every symbol's
    stitched out-of-sample equity, run config, data provenance. ``loaded``: symbol dir ->
    fold results (for the equity chart)."""
    head = "".join(f'<th data-col="{k}">{esc(t)}</th>' for k, t, _ in INDEX_COLUMNS)
    rows = []
    for s in summary["symbols"]:
        m = s["metrics"]
        cells = "".join(metric_cell(k, m.get(k), kind, m) for k, _, kind in INDEX_COLUMNS)
        href = esc(quote(s["dir"]) + "/report.html")
        rows.append(f'<tr data-symbol="{esc(s["symbol"])}"><td class="name" data-metric="symbol">'
                    f'<a href="{href}">{esc(s["symbol"])}</a></td>'
                    f'<td data-metric="verdict" data-value="{esc(s["verdict"])}"><span class="badge '
                    f'{esc(s["verdict"])}">{esc(s["verdict"])}</span></td>{cells}</tr>')
    prov = "".join(_provenance_row(e) for e in manifest.get("symbols", []))
    th = ", ".join(f"{esc(k)}={esc(str(v) if isinstance(v, int) else format_value(v))}"
                   for k, v in summary["thresholds"].items())
    init = float(summary["initial_equity"])
    curves = []
    for s in summary["symbols"]:
        st = stitch((loaded or {}).get(s["dir"]) or [], init)
        curves.append((s["symbol"], st["equity"]["timestamp"], st["equity"]["equity"].to_numpy(), init))
    fig = _Figures()
    basis = summary.get("n_trials_basis") or ""
    body = (
        "<h1>Walk-forward run</h1>"
        f'<p>{len(summary["symbols"])} symbols; deflated Sharpe trials: <span id="n-trials">{summary["n_trials"]}'
        f"</span>{': ' + esc(basis) if basis else ''}; verdict thresholds: {th}</p>"
        '<table id="symbols" class="sortable"><thead><tr><th class="name" data-col="symbol">Symbol</th>'
        f'<th data-col="verdict">Verdict</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "<p>Click a column title to sort. PF = profit factor over closed round trips (partial exits of one position "
        "count as one trade) net of costs; "
        "consistency = share of test folds with positive net P&amp;L; B&amp;H at cap = buy and hold at the "
        "account's position cap; exposure-matched B&amp;H = buy and hold at the model's average share of equity "
        "in the market (excess p-value: Newey-West, one-sided); timing null = the model's own positions moved "
        "in time (p-value one-sided).</p>"
        + fig.div(charts.index_equity_chart(curves), "index-equity")
        + fig.div(charts.index_pf_chart(summary["symbols"]), "index-pf")
        + "<h2>Run configuration</h2>"
        f'<pre id="run-config">{esc(json.dumps(to_jsonable(summary["run"]), indent=1, default=str))}</pre>'
        '<h2>Data provenance</h2><table id="provenance"><thead><tr><th class="name">Symbol</th>'
        '<th class="name">Asset class</th><th class="name">Timeframe</th><th>Bars</th><th class="name">First bar</th>'
        '<th class="name">Last bar</th><th class="name">Source</th><th class="name">SHA-256</th></tr></thead>'
        f"<tbody>{prov}</tbody></table>"
    )
    return _page("Walk-forward run", body, f"{ASSET_DIR}/{PLOTLY_FILE}")


def _provenance_row(entry: Mapping[str, Any]) -> str:
    """One symbol of the manifest: what data the run saw (hash shortened, full in the tooltip)."""
    data = entry.get("data") or {}
    sha = str(data.get("sha256") or "")
    cells = [entry.get("symbol"), entry.get("asset_class"), entry.get("timeframe")]
    text = "".join(f'<td class="name">{esc(str(v))}</td>' for v in cells)
    text += f'<td>{esc(format_value(data.get("bars"), "int"))}</td>'
    text += "".join(f'<td class="name">{esc(str(data.get(k) or ""))}</td>' for k in ("start", "end", "source"))
    return f'<tr>{text}<td class="name" title="{esc(sha)}"><code>{esc(sha[:12])}</code></td></tr>'


def _fold_table(folds: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{esc(t)}</th>" for _, t, _ in FOLD_COLUMNS)
    rows = "".join(
        f'<tr data-fold="{f["fold"]}"><td class="name">{f["fold"]}</td><td class="name">{esc(str(f["test_start"]))}'
        f' to {esc(str(f["test_end"]))}</td>'
        + "".join(metric_cell(k, f["metrics"].get(k), kind, f["metrics"]) for k, _, kind in FOLD_COLUMNS)
        + metric_cell("buy_and_hold_net_return", f.get("buy_and_hold_net_return"), "pct") + "</tr>"
        for f in folds)
    return (f'<table id="folds" class="sortable"><thead><tr><th class="name">Fold</th><th class="name">Test period'
            f"</th>{head}<th>B&amp;H at cap</th></tr></thead><tbody>{rows}</tbody></table>")


def _cost_table(costs: Mapping[str, Any] | None) -> str:
    """Net return and PF of the stitched folds at each cost multiple, and the breakeven."""
    if not costs:
        return "<p>No cost sensitivity in these fold results (written by an older version).</p>"
    head = "".join(f"<th>{format_value(m)}x</th>" for m in costs["multiples"])
    net = "".join(metric_cell(f"net_return_{m:g}x", v, "pct") for m, v in zip(costs["multiples"], costs["net_return"]))
    pf = "".join(metric_cell(f"pf_{m:g}x", v, "num") for m, v in zip(costs["multiples"], costs["pf"]))
    above = costs.get("breakeven_above")
    be = (f'<span data-metric="breakeven_cost_multiple" data-value="'
          f'{esc(_value_attr(costs["breakeven_multiple"] if above is None else math.inf))}">'
          f'{esc(format_breakeven(costs["breakeven_multiple"], above))}</span>'
          + (" (still profitable at the largest multiple tried)" if above is not None else ""))
    return (f'<table id="cost-sensitivity"><thead><tr><th class="name">All costs times</th>{head}</tr></thead>'
            f'<tbody><tr><td class="name">Net return</td>{net}</tr><tr><td class="name">Profit factor</td>{pf}</tr>'
            f"</tbody></table><p>Breakeven cost multiple: {be}. Each multiple re-runs the decisions with every "
            f"cost (slippage, spread, impact, commission) scaled; {esc(costs.get('method', ''))}.</p>")


def symbol_html(s: Mapping[str, Any], folds_raw: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    """One symbol's page: verdict, metrics, equity, drawdown, folds, trades, costs, training."""
    m = s["metrics"]
    init = float(summary["initial_equity"])
    st = stitch(folds_raw, init)
    fig = _Figures()
    metrics = "".join(f'<tr><td class="name">{esc(t)}</td>{metric_cell(k, m.get(k), kind)}</tr>'
                      for k, t, kind in METRIC_ROWS)
    trained = [f for f in folds_raw if f.get("training_log")]
    training = "".join(
        f"<h3>Fold {int(f['fold'])}</h3><div class=\"grid\">"
        + "".join(fig.div(c, f"training-{int(f['fold'])}")
                  for c in charts.training_charts(int(f["fold"]), f.get("training_log") or [],
                                                  f.get("validation_history") or []))
        + "</div>" for f in trained) or "<p>No training: the decisions came from an actions file " \
        "(<code>walkforward evaluate</code>).</p>"
    cap = m.get("buy_and_hold_cap")
    bh_label = f"buy and hold at the {cap:.0%} position cap" if isinstance(cap, float) else "buy and hold at the cap"
    matched_label = f"buy and hold at the model's average exposure ({format_value(m.get('exposure_avg'), 'pct')})"
    body = (
        f'<p><a href="../index.html">&larr; all symbols</a></p><h1 id="symbol">{esc(s["symbol"])}</h1>'
        f'<p>{esc(str(s.get("asset_class")))}, {esc(str(s.get("timeframe")))}, {len(folds_raw)} test folds'
        f'{_FOLD_START.get(s.get("fold_start"), "")}</p>'
        + _verdict_block(s) + _training_block(s.get("training"))
        + f'<h2>Metrics (stitched out-of-sample)</h2><table id="metrics"><tbody>{metrics}</tbody></table>'
        + (f'<p id="n-trials-basis">Deflated Sharpe trials: {esc(str(s["n_trials_basis"]))}</p>'
           if s.get("n_trials_basis") else "")
        + "<h2>Cost sensitivity</h2>" + _cost_table(m.get("cost_sensitivity"))
        + fig.div(charts.equity_chart(st["equity"], st["buy_and_hold"], st["bounds"], st["bh_matched"],
                                      bh_label, matched_label), "equity")
        + fig.div(charts.drawdown_chart(st["equity"], init), "drawdown")
        + "<h2>Test folds</h2>" + _fold_table(s["fold_metrics"])
        + '<div class="grid">' + fig.div(charts.fold_pf_chart(s["fold_metrics"]), "fold-pf")
        + fig.div(charts.trade_hist_chart(st["trades"], m.get("skew")), "trade-returns")
        + fig.div(charts.cost_chart(m["costs"]), "costs")
        + fig.div(charts.action_chart(m["action_shares"]), "actions")
        + fig.div(charts.timing_null_chart(st["timing_null_net_returns"], m["net_return"], m.get("timing_null_p")),
                  "timing-null")
        + fig.div(charts.random_chart(st["random_net_returns"], m["net_return"], m.get("random_percentile")),
                  "random") + "</div>"
        + f'<p id="pdt">PDT rejections: <span data-metric="pdt_rejections">{int(m["pdt_rejections"])}</span></p>'
        + "<h2>Training curves</h2>" + training
    )
    return _page(f"{s['symbol']}: walk-forward report", body, f"../{ASSET_DIR}/{PLOTLY_FILE}")


def build_reports(run_dir: Path, thresholds: VerdictThresholds | None = None) -> list[Path]:
    """Recompute ``summary.json`` from stored fold results and rewrite every HTML page."""
    from reports.summary import load_manifest

    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    summary, loaded = build_summary(run_dir, thresholds)
    write_json(run_dir / "summary.json", summary)
    write_plotly_asset(run_dir)
    written = [run_dir / "index.html"]
    write_text(written[0], index_html(summary, manifest, loaded))
    for s in summary["symbols"]:
        path = run_dir / s["dir"] / "report.html"
        write_text(path, symbol_html(s, loaded[s["dir"]], summary))
        written.append(path)
    return written
