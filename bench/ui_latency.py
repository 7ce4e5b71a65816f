"""Web UI figures: a run's log line printed -> visible on its run page (p50), and the runs page's server time
with 10,000 runs in the database.

Starts its own dev stack (Temporal dev server, control plane on SQLite, one agent with the process launcher) in a
temporary state dir, deploys examples/hello and drives Debian's chromium headless (scripts/browser/):

1. For each of --runs runs of `sleepy` (one line a second), the run page is open while the run prints; a
   MutationObserver stamps each line as it is added to the page; latency = that stamp - the line's capture time
   in the run worker (the same machine's clock).
2. --rows finished runs are written straight into the database, then GET /runs (first page, 50 rows), a filtered
   page, a page 5,000 runs deep (its cursor) and the live refresh fragment are timed over loopback (median of
   --requests each; the client side of loopback is a few hundred microseconds of it).

    .venv/bin/python bench/ui_latency.py [--runs 3] [--seconds 10] [--rows 10000] [--requests 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contracts.api import LaunchRunResponse, LogList  # noqa: E402
from contracts.runs import RunRequest  # noqa: E402
from controlplane.database import Database  # noqa: E402
from controlplane.ids import new_run_id  # noqa: E402
from controlplane.tables import RunRow  # noqa: E402
from longshoreman.dev.stack import EXAMPLE_NAME, DevStack, DevStackConfig  # noqa: E402
from tests.controlplane.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# Installed before the page's own script: every line added to #logs gets the time it became part of the page.
OBSERVE = """
window.__seen = {};
window.__since = Date.now();
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver((changes) => {
    const now = Date.now();
    for (const change of changes) for (const node of change.addedNodes) {
      if (node.dataset && node.dataset.seq) window.__seen[node.dataset.seq] = now;
    }
  }).observe(document.getElementById("logs"), {childList: true});
});
"""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values`."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def log_latencies(stack: DevStack, runs: int, seconds: int) -> list[float]:
    """ms from each line's capture to its appearance on the open run page."""
    latencies: list[float] = []
    with sync_playwright() as playwright, stack.client() as client:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(base_url=stack.url)
        page.goto("/signin")
        page.fill("#token", stack.admin_token)
        page.click("#signin button[type=submit]")
        expect(page.locator("#who")).to_be_visible()
        page.add_init_script(OBSERVE)
        for n in range(runs):
            request = RunRequest(location=EXAMPLE_NAME, job="sleepy", config={"seconds": seconds})
            run_id = client.send("POST", "/api/runs", request, LaunchRunResponse).run.id
            page.goto(f"/runs/{run_id}")
            expect(page.locator("#run-status")).to_have_text("SUCCESS", timeout=(seconds + 60) * 1000)
            seen: dict[str, int] = page.evaluate("window.__seen")
            since_ms: int = page.evaluate("window.__since")
            for line in client.get(f"/api/runs/{run_id}/logs", LogList).lines:
                printed_ms = line.time.timestamp() * 1000
                if str(line.seq) in seen and printed_ms > since_ms + 500:  # printed while the page was open
                    latencies.append(seen[str(line.seq)] - printed_ms)
            print(f"  run {n + 1}/{runs}: {len(latencies)} lines so far", file=sys.stderr)
        browser.close()
    return latencies


def fill(database_url: str, rows: int) -> None:
    """`rows` finished runs of hello, one a second back from now, a tenth of them FAILURE, tagged bench=ui."""
    db = Database(database_url)
    now = datetime.now(UTC)
    rng = random.Random(16)
    request = RunRequest(location=EXAMPLE_NAME, job="greet").model_dump(mode="json")
    try:
        for start in range(0, rows, 1000):
            with db.write() as session:
                for i in range(start, min(rows, start + 1000)):
                    run_id = new_run_id()
                    created = now - timedelta(seconds=rows - i)
                    status = "FAILURE" if rng.random() < 0.1 else "SUCCESS"
                    session.add(
                        RunRow(
                            id=run_id,
                            location=EXAMPLE_NAME,
                            job=rng.choice(["greet", "sleepy", "count"]),
                            config={},
                            tags={"bench": "ui", "shard": str(i % 10)},
                            request=request,
                            status=status,
                            reason="exit code 1" if status == "FAILURE" else "",
                            start_timeout_s=120.0,
                            retry={"max_attempts": 1, "backoff_s": 2.0},
                            workflow_id=f"run:{run_id}",
                            queue="longshoreman",
                            created_at=created,
                            dequeued_at=created,
                            started_at=created + timedelta(milliseconds=300),
                            finished_at=created + timedelta(milliseconds=900),
                        )
                    )
    finally:
        db.dispose()


def page_times(stack: DevStack, requests: int) -> dict[str, float]:
    """Median ms of each page, over `requests` GETs."""
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=60.0) as http:
        cursor = None
        for _ in range(5):  # 5,000 runs deep, through the API's own cursor
            answer = http.get("/api/runs", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            cursor = answer["next_cursor"]
        pages = {
            "/runs (first page, 50 rows)": "/runs",
            "/runs?status=FAILURE": "/runs?status=FAILURE",
            "/runs?job=sleepy&tag=shard=3": "/runs?job=sleepy&tag=shard%3D3",
            "/runs, 5,000 runs deep (cursor)": f"/runs?cursor={cursor}",
            "/runs live refresh (rows only)": "/runs?fragment=rows",
        }
        figures = {}
        for name, path in pages.items():
            assert http.get(path).status_code == 200, path  # warm
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200 and "<tr" in response.text, path
            figures[name] = statistics.median(times)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="sleepy runs watched on their page (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="lines (one a second) each run prints (default 10)")
    parser.add_argument("--rows", type=int, default=10_000, help="runs written into the database (default 10000)")
    parser.add_argument("--requests", type=int, default=20, help="GETs of each page (default 20)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="longshoreman-bench-") as tmp:
        stack = DevStack(
            DevStackConfig(state_dir=Path(tmp), port=0, temporal_port=0, ui_port=0),
            say=lambda message: print(f"  {message}", file=sys.stderr),
        )
        with stack:
            stack.deploy_example()
            latencies = log_latencies(stack, args.runs, args.seconds)
            fill(stack.database_url, args.rows)
            pages = page_times(stack, args.requests)

    print(f"log line printed -> visible on the open run page, {len(latencies)} lines of {args.runs} runs")
    print(f"  p50  {percentile(latencies, 50):7.1f} ms")
    print(f"  p95  {percentile(latencies, 95):7.1f} ms")
    print(f"  max  {max(latencies):7.1f} ms")
    print(f"runs page with {args.rows} runs in the database (SQLite), median of {args.requests} GETs over loopback")
    for name, ms in pages.items():
        print(f"  {ms:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
