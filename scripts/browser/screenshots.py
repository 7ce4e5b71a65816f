"""Screenshots of the web UI's main pages into docs/ui/, from a running control plane (e.g. `longshoreman dev`).

    .venv/bin/python scripts/browser/screenshots.py --credentials .longshoreman/credentials.json

It signs in with the credentials file's admin token, launches `greet` and `sleepy` of the location `hello` so the
pages have something to show, and saves one PNG per page (and the runs list at phone width)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.controlplane.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def launch(page: Page, job: str, **fields: str) -> str:
    """Launch `job` of hello through the form; returns the run page's URL."""
    page.goto(f"/launch?location=hello&job={job}")
    for name, value in fields.items():
        page.fill(f"#cfg-{name}", value)
    page.click("#launch-button")
    page.wait_for_url("**/runs/*")
    return page.url


def main() -> None:
    """Sign in, make a few runs, save the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=Path, default=Path(".longshoreman/credentials.json"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui")
    args = parser.parse_args()
    creds = json.loads(args.credentials.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(base_url=creds["url"], viewport=DESKTOP)
        page.goto("/signin")
        page.fill("#token", creds["token"])
        page.click("#signin button[type=submit]")
        expect(page.locator("#who")).to_be_visible()
        greet = launch(page, "greet", name="screenshots")
        expect(page.locator("#run-status")).to_have_text("SUCCESS", timeout=30_000)
        sleepy = launch(page, "sleepy", seconds="20")
        expect(page.locator("#logs")).to_contain_text("sleepy: 3/20 s", timeout=30_000)
        page.screenshot(path=args.out / "run-live.png", full_page=True)
        page.goto(greet)
        expect(page.locator("#run-status")).to_have_text("SUCCESS")
        page.screenshot(path=args.out / "run.png", full_page=True)
        shots = {
            "overview": "/",
            "runs": "/runs",
            "launch": "/launch?location=hello&job=sleepy",
            "location": "/locations/hello",
            "automations": "/automations",
            "queue": "/queue",
            "audit": "/audit",
        }
        for name, path in shots.items():
            page.goto(path)
            page.screenshot(path=args.out / f"{name}.png", full_page=True)
        phone = browser.new_page(base_url=creds["url"], viewport=PHONE)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(sleepy)
        phone.screenshot(path=args.out / "run-phone.png", full_page=False)
        phone.goto("/runs")
        phone.screenshot(path=args.out / "runs-phone.png", full_page=False)
        browser.close()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
