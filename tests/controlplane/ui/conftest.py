"""One stack for every browser test: a control plane on SQLite, an agent with the process launcher and the hello
location, driven through Debian's chromium by Playwright (its own browser download is never used).

pytest-playwright's browser fixtures are session-scoped; here they live only as long as this package's tests:
Playwright's sync API keeps an event loop marked running on the main thread while it is started, and every
asyncio test after it would fail ("Runner.run() cannot be called from a running event loop")."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.conftest import require
from tests.support.agent import AgentProcess
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack

CHROMIUM = Path(os.environ.get("LONGSHOREMAN_CHROMIUM", "/usr/bin/chromium"))
# What this machine's chromium needs to start headless (no sandbox as root, no GPU, nothing fetched).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOW_TO_GET = "scripts/browser/ensure-chromium.sh (as root), or apt-get install chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at Debian's chromium."""
    if not CHROMIUM.exists():
        require(f"{CHROMIUM} is missing", "the web UI's browser tests", HOW_TO_GET)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright, started for this package's tests only (see the module's docstring)."""
    started = sync_playwright().start()
    yield started
    started.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright) -> BrowserType:
    """Chromium (the only browser these tests drive)."""
    return playwright.chromium


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args: dict[str, Any], browser_type: BrowserType) -> Callable[..., Browser]:
    """Launch Debian's chromium with this machine's arguments."""
    return lambda **kwargs: browser_type.launch(**{**browser_type_launch_args, **kwargs})


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    """One browser for the package; each test gets a fresh context (cookies) and page from pytest-playwright."""
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args(base_url: str) -> dict[str, Any]:
    """Every page's relative URLs go to the control plane."""
    return {"base_url": base_url}


@pytest.fixture(scope="package")
def control_plane(
    temporal_server: TemporalDevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """The browser tests' own control plane (SQLite: the pages read the same stores on either database)."""
    plane = ControlPlane.start(temporal_server.address, tmp_path_factory.mktemp("ui-controlplane"))
    yield plane
    plane.stop()


@pytest.fixture(scope="package")
def ui_stack(
    temporal_server: TemporalDevServer, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """An agent on a queue of its own with the hello location LOADED, shared by every browser test."""
    unique = uuid.uuid4().hex[:10]
    root = tmp_path_factory.mktemp("ui-agent")
    agent = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=control_plane.url,
        agent_token=control_plane.create_agent_token(f"ui-{unique}"),
        task_queue=f"queue-{unique}",
        state_dir=root / "state",
        log_file=root / "agent.log",
    ).start()
    with control_plane.client() as client:
        stack = Stack(client=client, agent=agent, queue=agent.task_queue, prefix=unique[:6])
        stack.add_location(stack.spec())
        yield stack
        stack.remove_all()
    agent.stop()
    agent.kill_leftovers()


@pytest.fixture(scope="package")
def base_url(control_plane: ControlPlane) -> str:
    """pytest-playwright's base URL: the control plane's."""
    return control_plane.url


def user_token(control_plane: ControlPlane, role: str) -> str:
    """A new user token of `role`."""
    with httpx.Client(
        base_url=control_plane.url, headers={"Authorization": f"Bearer {control_plane.admin_token}"}
    ) as c:
        response = c.post("/api/tokens", json={"kind": "admin", "role": role, "name": f"{role}-{uuid.uuid4().hex[:6]}"})
        response.raise_for_status()
        token: str = response.json()["token"]
        return token
