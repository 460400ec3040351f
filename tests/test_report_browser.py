"""The reports in a real headless Chromium: no console errors, every chart drawn, table
values equal to summary.json, links work. Screenshots go to a temp dir (path printed)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest

from reports.html import build_reports
from tests.report_fixtures import HOSTILE, make_run

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DRAWN = """() => Array.from(document.querySelectorAll('.chart')).every(
  d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog opened: {d.message}"), d.dismiss()))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url, wait_until="load")
    return page, errors


def test_index_and_symbol_pages_render(browser, tmp_path):
    run = make_run(tmp_path / "run", n_folds=2, bars=120)
    build_reports(run)
    summary = json.loads((run / "summary.json").read_text())
    shots = Path(tempfile.mkdtemp(prefix="report-screens-"))
    print(f"screenshots in {shots}")

    page, errors = open_page(browser, (run / "index.html").as_uri())
    page.wait_for_function(DRAWN, timeout=15_000)
    # the PF chart labels the hostile symbol as literal text
    assert HOSTILE in page.inner_text('[data-chart="index-pf"]')
    assert HOSTILE in page.inner_text('[data-chart="index-equity"]')  # stitched equity, one line per symbol
    rows = page.eval_on_selector_all(
        "#symbols tbody tr",
        "rs => rs.map(r => [r.dataset.symbol, Object.fromEntries(Array.from(r.querySelectorAll('td[data-value]'))"
        ".map(c => [c.dataset.metric, c.dataset.value]))])")
    assert {s for s, _ in rows} == {s["symbol"] for s in summary["symbols"]}
    by_symbol = {s["symbol"]: s for s in summary["symbols"]}
    for sym, cells in rows:
        m = by_symbol[sym]["metrics"]
        assert cells["verdict"] == by_symbol[sym]["verdict"]
        for key in ("pf", "consistency", "max_drawdown", "trades"):
            want = m[key]
            if want is None or want == "inf":
                assert cells[key] == ("" if want is None else "inf")
            else:
                assert math.isclose(float(cells[key]), want, rel_tol=1e-12)
    # the hostile name is shown as text, and no alert dialog opened
    assert page.locator("#symbols a", has_text=HOSTILE).count() == 1
    # sorting by PF orders the finite values
    page.click('th[data-col="pf"]')
    vals = page.eval_on_selector_all('#symbols td[data-metric="pf"]', "cs => cs.map(c => c.dataset.value)")
    finite = [float(v) for v in vals if v not in ("", "inf")]
    assert finite == sorted(finite)
    page.screenshot(path=str(shots / "index.png"), full_page=True)

    page.click("#symbols a >> nth=0")
    page.wait_for_load_state("load")
    assert page.url.endswith("/report.html")
    page.wait_for_function(DRAWN, timeout=15_000)
    n_charts = page.eval_on_selector_all(".js-plotly-plot", "ds => ds.length")
    assert n_charts == 8 + 2 * 2  # 8 result charts + 2 training charts per fold
    assert page.inner_text("#verdict") in ("DEPLOY", "PAPER", "DROP", "INCONCLUSIVE")
    outcomes = page.eval_on_selector_all("#criteria tbody tr", "rs => rs.map(r => r.dataset.passed)")
    assert len(outcomes) == 14 and set(outcomes) <= {"0", "1"}
    page.screenshot(path=str(shots / "symbol.png"), full_page=True)

    hostile = run / by_symbol[HOSTILE]["dir"] / "report.html"
    page2, errors2 = open_page(browser, hostile.as_uri())
    page2.wait_for_function(DRAWN, timeout=15_000)
    assert page2.inner_text("#symbol") == HOSTILE
    assert errors == [] and errors2 == []
