"""HTML reports: offline plotly, escaping, values matching summary.json, the CLI command."""

from __future__ import annotations

import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.html import build_reports, safe_json
from backtest.result_files import safe_name, write_json
from reports.summary import NotARunDirError, load_manifest
from tests.report_fixtures import HOSTILE, make_run
from walkforward.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = make_run(tmp_path_factory.mktemp("run") / "run", n_folds=3, bars=120)
    build_reports(d)
    return d


def pages(run_dir: Path) -> list[Path]:
    return [run_dir / "index.html"] + sorted(run_dir.glob("*/report.html"))


class Cells(HTMLParser):
    """data-metric/data-value cells per data-symbol row of the index table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.current: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-symbol" in a:
            self.current = a["data-symbol"]
            self.rows[self.current] = {}
        if tag == "td" and self.current and "data-value" in a:
            self.rows[self.current][a["data-metric"]] = a["data-value"]


def test_plotly_stored_once_and_referenced_offline(run_dir):
    js = list(run_dir.rglob("*.js"))
    assert js == [run_dir / "assets" / "plotly.min.js"]
    assert js[0].stat().st_size > 1_000_000
    for p in pages(run_dir):
        text = p.read_text()
        srcs = re.findall(r'<script src="([^"]+)"', text)
        assert len(srcs) == 1 and not srcs[0].startswith(("http", "//"))
        assert (p.parent / srcs[0]).resolve() == js[0].resolve()
        assert "cdn." not in text


def test_hostile_symbol_is_text_in_every_page(run_dir):
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for p in pages(run_dir):
        text = p.read_text()
        assert HOSTILE not in text, p
        assert "alert(1)</" not in text, p
    assert escaped in (run_dir / "index.html").read_text()
    own = run_dir / safe_name(HOSTILE) / "report.html"
    assert f'<h1 id="symbol">{escaped}</h1>' in own.read_text()


def test_script_json_cannot_close_the_script():
    text = safe_json({"name": "</script><script>alert(1)</script>", "x": [math.inf, 1.0]})
    assert "</" not in text and "<" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_index_values_match_summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    parser = Cells()
    parser.feed((run_dir / "index.html").read_text())
    assert set(parser.rows) == {s["symbol"] for s in summary["symbols"]}
    for s in summary["symbols"]:
        row = parser.rows[s["symbol"]]
        assert row["verdict"] == s["verdict"]
        for key in ("pf", "skew", "consistency", "sharpe", "max_drawdown", "trades", "net_return"):
            want = s["metrics"][key]
            got = row[key]
            if want is None:
                assert got == ""
            elif want == "inf":
                assert got == "inf"
            else:
                assert float(got) == pytest.approx(want, rel=1e-12), key


def test_summary_is_strict_json_with_required_keys(run_dir):
    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    summary = json.loads((run_dir / "summary.json").read_text(), parse_constant=no_constants)
    s = summary["symbols"][0]
    for key in ("symbol", "dir", "pf", "skew", "consistency", "verdict", "reasons", "metrics", "fold_metrics"):
        assert key in s
    # folds and symbols are not trials: one configuration was tried on this data
    assert len(s["fold_metrics"]) == 3 and summary["n_trials"] == 1 and "1 configuration" in summary["n_trials_basis"]
    assert 0.0 <= s["consistency"] <= 1.0


def test_symbol_pages_have_every_chart(run_dir):
    text = (run_dir / "AAPL" / "report.html").read_text()
    for name in ("equity", "drawdown", "fold-pf", "trade-returns", "costs", "actions", "timing-null", "random",
                 "training-0", "training-2"):
        assert f'data-chart="{name}"' in text, name
    assert 'id="verdict"' in text and 'data-metric="pdt_rejections"' in text
    assert "buy and hold at the 20% position cap" in text and "average exposure (" in text
    index = (run_dir / "index.html").read_text()
    assert 'data-chart="index-equity"' in index and 'data-chart="index-pf"' in index


def test_criteria_table_tops_every_symbol_page_and_matches_summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for s in summary["symbols"]:
        text = (run_dir / s["dir"] / "report.html").read_text()
        table = text[text.index('<table id="criteria"'):]
        assert text.index('id="criteria"') < text.index('id="metrics"')  # at the top, before the metrics
        rows = re.findall(r'data-level="(\w+)" data-criterion="(\w+)" data-passed="(\d)"', table)
        assert [(lv, n, p == "1") for lv, n, p in rows] == [(c["level"], c["name"], c["passed"])
                                                           for c in s["criteria"]]
        assert len(rows) == 3 + 5 + 6


def test_names_come_from_json_not_directories(tmp_path):
    d = make_run(tmp_path / "run", symbols=("MSFT",), n_folds=2, bars=60)
    (d / "MSFT").rename(d / "dir_0")
    manifest = load_manifest(d)
    manifest["symbols"][0]["dir"] = "dir_0"
    write_json(d / "manifest.json", manifest)
    build_reports(d)
    summary = json.loads((d / "summary.json").read_text())
    assert [s["symbol"] for s in summary["symbols"]] == ["MSFT"]
    assert '<h1 id="symbol">MSFT</h1>' in (d / "dir_0" / "report.html").read_text()


def test_cli_report_rebuilds_and_rejects_non_run_dirs(tmp_path, capsys):
    d = make_run(tmp_path / "run", symbols=("SPY",), n_folds=2, bars=60)
    assert main(["report", str(d), "-q"]) == 0
    asset = d / "assets" / "plotly.min.js"
    mtime = asset.stat().st_mtime_ns
    (d / "index.html").unlink()
    assert main(["report", str(d), "-q"]) == 0
    assert (d / "index.html").is_file() and asset.stat().st_mtime_ns == mtime  # not rewritten
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    with pytest.raises(NotARunDirError):
        build_reports(tmp_path)


def test_safe_dir_names_do_not_collide():
    names = {safe_name(s) for s in ("BRK/B", "BRK.B", "BRK_B", HOSTILE, "..", "")}
    assert len(names) == 6
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) and not n.startswith(".") for n in names)
    assert shutil.os.sep not in "".join(names)


def test_symbol_without_trades_shows_undefined(tmp_path):
    import pandas as pd

    d = make_run(tmp_path / "run", symbols=("FLAT",), n_folds=2, bars=40)
    for k in (0, 1):
        f = d / "FLAT" / f"fold_{k}"
        pd.read_csv(f / "trades.csv").iloc[:0].to_csv(f / "trades.csv", index=False)
        e = pd.read_csv(f / "equity.csv").assign(equity=1000.0, position=0.0)
        e.to_csv(f / "equity.csv", index=False)
    build_reports(d)
    s = json.loads((d / "summary.json").read_text())["symbols"][0]
    assert s["pf"] is None and s["skew"] is None and s["consistency"] == 0.0
    assert s["verdict"] == "INCONCLUSIVE" and any("closed round trips 0 < 30" in r for r in s["reasons"])
    assert any("profit factor undefined (no closed trades)" in r for r in s["not_paper"])
    assert 'data-metric="pf" data-value="">undefined<' in (d / "FLAT" / "report.html").read_text()


def test_decimation_keeps_extremes():
    import numpy as np

    from reports.charts import decimate

    y = np.sin(np.linspace(0, 60, 50_000)) + np.linspace(0, 1, 50_000)
    y[12_345] = -5.0
    idx = decimate(y, 1000)
    assert idx.size <= 1002 and idx[0] == 0 and idx[-1] == y.size - 1
    assert 12_345 in idx and int(np.argmax(y)) in idx
    assert np.array_equal(decimate(y[:500], 1000), np.arange(500))


@pytest.mark.parametrize("bad", ["../outside", "a/b", "..", ""])
def test_manifest_dirs_must_stay_inside_the_run(tmp_path, bad):
    from backtest.errors import DataError

    d = make_run(tmp_path / "run", symbols=("SPY",), n_folds=1, bars=30)
    manifest = load_manifest(d)
    manifest["symbols"][0]["dir"] = bad
    write_json(d / "manifest.json", manifest)
    with pytest.raises(DataError, match="plain directory name"):
        build_reports(d)


def test_cost_sensitivity_table_matches_summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for s in summary["symbols"]:
        cs = s["metrics"]["cost_sensitivity"]
        assert cs["multiples"] == [0.0, 0.5, 1.0, 2.0]
        assert cs["net_return"][2] == pytest.approx(s["metrics"]["net_return"], rel=1e-9)
        page = (run_dir / s["dir"] / "report.html").read_text()
        table = page[page.index('<table id="cost-sensitivity"'):]
        for m, v in zip(cs["multiples"], cs["net_return"]):
            got = re.search(rf'data-metric="net_return_{m:g}x" data-value="([^"]*)"', table).group(1)
            assert float(got) == pytest.approx(v, rel=1e-12)
        assert "Breakeven cost multiple" in page


def test_breakeven_has_one_rendering_in_terminal_index_and_symbol_page():
    """The issue: '>8x' in the terminal, 'undefined' in index.html, 'above 8.000x' on the symbol
    page for the same number. All three now come from `reports.metrics.format_breakeven`."""
    from reports.html import _cost_table, metric_cell
    from reports.metrics import format_breakeven
    from walkforward.orchestrator import breakeven_text

    costs = {"multiples": [0.0, 1.0], "net_return": [0.1, 0.05], "pf": [2.0, 1.5], "breakeven_multiple": None,
             "breakeven_above": 8.0, "method": "m"}
    m = {"breakeven_cost_multiple": None, "breakeven_cost_above": 8.0}
    assert breakeven_text(costs) == ">8x"
    assert "&gt;8x</td>" in metric_cell("breakeven_cost_multiple", None, "breakeven", m)
    assert ">&gt;8x</span>" in _cost_table(costs)
    two = {**costs, "breakeven_multiple": 2.3104, "breakeven_above": None}
    assert breakeven_text(two) == "2.31x" and ">2.31x</span>" in _cost_table(two)
    assert ">2.31x</td>" in metric_cell("breakeven_cost_multiple", 2.3104, "breakeven", {})
    assert format_breakeven(0.0) == "0.00x" and format_breakeven(None) == breakeven_text(None) == "undefined"
