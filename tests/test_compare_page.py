"""The comparison page: user strings (run directory names) escaped, strict JSON, and in a real
headless Chromium every chart drawn with no console error (skipped without Chromium)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from walkforward.commands.compare import compare
from walkforward.ledger import TrialRecord

HOSTILE = "<img src=x onerror=alert(1)>&run"  # no '"': reports.charts.label shows it as &quot; (left to its owner)


def _records(n_bars: int = 900) -> list[TrialRecord]:
    rng = np.random.default_rng(4)
    times = (np.arange(n_bars, dtype=np.int64) + 19_000 * 96) * 900 * 10**9  # 15-minute bars in 2022
    out = []
    for k, name in enumerate(("plain", HOSTILE, "edge")):
        r = rng.standard_normal(n_bars) * 0.002 + (0.0006 if name == "edge" else 0.0)
        out.append(TrialRecord(symbol="SM<b>PA", data_hash="ab" * 32, tests=((100, 400), (500, 1100)),
                               fingerprint=f"{k}" * 64, run_dir=f"/runs/{name}", kind="evaluate", verdict="DROP",
                               metrics={"net_return": float(np.prod(1 + r) - 1), "pf": float("inf"), "trades": 7},
                               bars_per_year=6552.0, times=times, returns=r))
    return out


def test_page_escapes_names_and_writes_strict_json(tmp_path):
    from reports.compare_page import write_compare

    result, arrays = compare(_records(), blocks=8, bootstrap=200, seed=0)
    result.update(source="run directories", ledger=None)
    page = write_compare(tmp_path, result, arrays)
    text = page.read_text()
    assert HOSTILE not in text and "<b>PA" not in text and "&lt;img src=x" in text
    data = json.loads((tmp_path / "compare.json").read_text())  # strict: inf written as "inf"
    assert data["symbols"][0]["runs"][0]["metrics"]["pf"] == "inf"
    assert data["symbols"][0]["best"] == "edge" and data["symbols"][0]["pbo"]["n_combinations"] == 70
    assert (tmp_path / "assets" / "plotly.min.js").is_file()


@pytest.mark.browser
def test_page_renders_in_chromium(tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("/usr/bin/chromium not found")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from reports.compare_page import write_compare

    result, arrays = compare(_records(), blocks=8, bootstrap=200, seed=0)
    result.update(source="run directories", ledger=None)
    page_path = write_compare(tmp_path, result, arrays)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--headless",
                                                                          "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_function("() => Array.from(document.querySelectorAll('.chart')).every("
                               "d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))",
                               timeout=15_000)
        assert HOSTILE in page.inner_text('[data-chart="equity-0"]')  # the name shown as text in the legend
        assert page.locator("table.runs tbody tr").count() == 3
        pbo = float(page.get_attribute("p.pbo", "data-value"))
        browser.close()
    assert not errors, errors
    assert pbo == pytest.approx(result["symbols"][0]["pbo"]["pbo"])
