"""Report benchmark: build a 20-symbol run's pages, then time page loads in headless Chromium.

Goal: index and every symbol page drawn (all charts have SVG) in < 3 s each. Peer: the
same stitched equity chart written by plotly's own ``plotly.io.write_html`` (plotly.js from a
file beside it), loaded in the same browser; the ratio says what our extra charts cost.

    python -m benchmarks.bench_report [--symbols 20] [--folds 5] [--bars 1600]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DRAWN = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).length > 0 &&
  Array.from(document.querySelectorAll('.js-plotly-plot')).every(d => d.querySelector('svg.main-svg'))"""


def _load(page, path: Path, charts: bool) -> float:
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    if charts:
        page.wait_for_function(DRAWN, timeout=60_000)
    return time.perf_counter() - t0


def _peer_page(run: Path, symbol_dir: str, out: Path) -> Path:
    """The equity chart alone, via plotly.io.write_html (the plain plotly way)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from reports.summary import build_summary, stitch

    summary, loaded = build_summary(run)
    st = stitch(loaded[symbol_dir], summary["initial_equity"])
    fig = go.Figure([go.Scatter(x=st["equity"]["timestamp"], y=st["equity"]["equity"], name="model"),
                     go.Scatter(x=st["equity"]["timestamp"], y=st["buy_and_hold"], name="buy and hold")])
    path = out / "peer.html"
    pio.write_html(fig, str(path), include_plotlyjs="directory", full_html=True)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--bars", type=int, default=1600, help="test bars per fold")
    a = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from reports.html import build_reports
    from tests.report_fixtures import HOSTILE, make_run

    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    symbols = [f"SYM{i:02d}" for i in range(a.symbols - 1)] + [HOSTILE]
    t0 = time.perf_counter()
    run = make_run(tmp / "run", symbols=symbols, n_folds=a.folds, bars=a.bars)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    pages = build_reports(run)
    t_build = time.perf_counter() - t0
    sizes = [p.stat().st_size for p in pages[1:]]
    print(f"run: {a.symbols} symbols x {a.folds} folds x {a.bars} bars in {tmp}")
    print(f"generate synthetic results: {t_gen:.2f} s; build_reports (summary + {len(pages)} pages): "
          f"{t_build:.2f} s ({t_build / len(pages) * 1000:.0f} ms/page)")
    print(f"symbol page size: median {statistics.median(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _load(page, pages[0], charts=True)  # warm the browser's file cache once
        t_index = _load(page, pages[0], charts=True)
        t_sym = [_load(page, sp, charts=True) for sp in pages[1:]]
        peer = _peer_page(run, pages[1].parent.name, tmp)
        t_peer = statistics.median([_load(page, peer, charts=True) for _ in range(3)])
        browser.close()
    ok = max([t_index] + t_sym) < 3.0
    print(f"index.html load to chart drawn: {t_index:.3f} s")
    print(f"symbol pages ({len(t_sym)}), load to all charts drawn: median {statistics.median(t_sym):.3f} s, "
          f"max {max(t_sym):.3f} s")
    print(f"peer plotly.io.write_html equity-only page: median {t_peer:.3f} s; "
          f"ratio ours/peer (median symbol page) {statistics.median(t_sym) / t_peer:.2f}x")
    print(f"goal < 3 s per page: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
