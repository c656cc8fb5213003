"""Dashboard: how soon the instances page shows its first rows on a store of N instances (default
1,000,000), in headless Chromium (Debian's `chromium`, driven by Playwright) against a real
`wf serve`. Figures (medians of RUNS fresh page loads, each in a new browser context):
first contentful paint, and the moment the first row of the table is in the page (both from
navigation start, as the browser measures them).

    python bench/dashboard.py [N] [RUNS]
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cli import wf_store
from common import report

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
BIN = Path(sys.executable).parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FIRST_ROW = "#instances tbody tr[data-id]"


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        report("dashboard", skipped="no chromium (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    db = wf_store(N)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([str(BIN / "wf"), "--db", str(db), "serve", "--port", str(port), "--grpc-port", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("wf serve did not start")
            time.sleep(0.05)
        fcp, first_row = [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
            for _ in range(RUNS + 1):  # the first load warms the server's caches and is not counted
                context = browser.new_context(viewport={"width": 1280, "height": 860})
                page = context.new_page()
                page.goto(url)
                page.wait_for_selector(FIRST_ROW, timeout=30_000)
                row_ms = page.evaluate("performance.getEntriesByName('wf:view')[0].startTime")
                paint = page.evaluate(
                    "(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
                fcp.append(paint)
                first_row.append(row_ms)
                context.close()
            browser.close()
        fcp, first_row = fcp[1:], first_row[1:]
        report("dashboard", instances=N, runs=RUNS,
               first_contentful_paint_ms=round(statistics.median([x for x in fcp if x is not None] or [0]), 1),
               first_rows_ms=round(statistics.median(first_row), 1),
               first_rows_ms_range=[round(min(first_row), 1), round(max(first_row), 1)],
               target_first_rows_ms=300)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
