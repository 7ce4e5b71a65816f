"""The web UI in a real browser: sign in, launch from the form, follow the logs live, cancel, validation next to
the field, a viewer's page and API, the session cookie, sign-out."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.controlplane.ui.conftest import user_token
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack

LIVE_S = 30_000  # ms: a run of the process launcher starts in a second or two; this is the ceiling, not a figure


def sign_in(page: Page, token: str, then: str = "/") -> None:
    """Sign in through the form (the browser is sent to /signin first)."""
    page.goto(then)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("#token", token)
    page.click("#signin button[type=submit]")
    expect(page.locator("#who")).to_be_visible()


def open_launch_form(page: Page, stack: Stack, job: str) -> None:
    """The launch page of `job` of the stack's hello location."""
    page.goto(f"/launch?location=hello-{stack.prefix}&job={job}")
    expect(page.locator("#launch")).to_be_visible()


def test_launch_greet_from_the_form_and_see_its_log_line_and_success(
    page: Page, ui_stack: Stack, control_plane: ControlPlane
) -> None:
    sign_in(page, control_plane.admin_token, "/runs")
    open_launch_form(page, ui_stack, "greet")
    expect(page.locator("#cfg-name")).to_have_value("world")  # the schema's default
    page.fill("#cfg-name", "browser")
    page.fill("#tags", "team=ui")
    page.click("#launch-button")

    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]+$"))
    expect(page.locator("#logs")).to_contain_text("hello, browser", timeout=LIVE_S)
    expect(page.locator("#run-status")).to_have_text("SUCCESS", timeout=LIVE_S)
    expect(page.locator("#events")).to_contain_text("GREETED")
    expect(page.locator("#cancel")).to_be_hidden()
    run_id = page.url.rsplit("/", 1)[1]
    run = ui_stack.run(run_id)
    assert run["config"] == {"name": "browser"} and run["tags"] == {"team": "ui"}
    # The launch is in the audit log, with who made it.
    page.goto("/audit?action=run.launched")
    expect(page.locator("#audit")).to_contain_text(run_id)


def test_sleepy_logs_arrive_while_it_runs_and_cancel_ends_it(
    page: Page, ui_stack: Stack, control_plane: ControlPlane
) -> None:
    sign_in(page, control_plane.admin_token, "/")
    open_launch_form(page, ui_stack, "sleepy")
    page.fill("#cfg-seconds", "60")
    page.click("#launch-button")
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]+$"))

    # Lines printed after the page was opened arrive on it: the stream is live, not a snapshot.
    expect(page.locator("#logs")).to_contain_text("sleepy: 2/60 s", timeout=LIVE_S)
    expect(page.locator("#run-status")).to_have_text("STARTED")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    expect(page.locator("#run-status")).to_have_text("CANCELED", timeout=LIVE_S)
    expect(page.locator("#cancel")).to_be_hidden()
    assert ui_stack.run(page.url.rsplit("/", 1)[1])["status"] == "CANCELED"


def test_a_wrong_config_value_shows_the_apis_message_next_to_its_field(
    page: Page, ui_stack: Stack, control_plane: ControlPlane
) -> None:
    sign_in(page, control_plane.admin_token, "/")
    open_launch_form(page, ui_stack, "sleepy")
    page.fill("#cfg-seconds", "-1")
    page.click("#launch-button")

    message = page.locator('.field[data-field="seconds"] .field-error')
    expect(message).to_contain_text("-1 is less than the minimum of 0")
    expect(page).to_have_url(re.compile(r"/launch\?"))  # nothing launched: still on the form


def test_a_viewer_sees_no_launch_or_cancel_and_the_api_refuses_it(
    page: Page, ui_stack: Stack, control_plane: ControlPlane
) -> None:
    run_id = ui_stack.launch("greet", {"name": "viewer"})
    sign_in(page, user_token(control_plane, "viewer"), f"/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("SUCCESS", timeout=LIVE_S)
    expect(page.locator("#cancel")).to_have_count(0)
    expect(page.locator("#reexecute")).to_have_count(0)
    page.goto("/runs")
    expect(page.get_by_role("link", name="Launch a run")).to_have_count(0)
    expect(page.locator("header nav")).not_to_contain_text("Launch")
    expect(page.locator("header nav")).not_to_contain_text("Tokens")

    # The page hides the button; the API refuses the launch anyway, naming the missing role.
    answer = page.evaluate(
        """async (location) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch("/api/runs", {method: "POST", headers: {"Content-Type": "application/json",
                "X-CSRF-Token": csrf}, body: JSON.stringify({location, job: "greet"})});
            return {status: r.status, detail: (await r.json()).detail};
        }""",
        f"hello-{ui_stack.prefix}",
    )
    assert answer["status"] == 403 and "role 'launcher' is required" in answer["detail"], answer


def test_the_session_cookie_is_httponly_and_sign_out_ends_the_session(
    page: Page, context: BrowserContext, control_plane: ControlPlane
) -> None:
    sign_in(page, control_plane.admin_token, "/locations")
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    session = cookies["longshoreman_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict", session
    assert control_plane.admin_token not in session["value"]
    assert "longshoreman_session" not in page.evaluate("document.cookie")  # scripts cannot read it
    assert control_plane.admin_token not in page.evaluate(
        "JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"
    )

    page.click("#signout")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.goto("/runs")
    expect(page).to_have_url(re.compile(r"/signin\?next=/runs"))
    # The old cookie is dead on the server, not only forgotten by the browser.
    replay = httpx.get(f"{control_plane.url}/api/runs", cookies={"longshoreman_session": session["value"]})
    assert replay.status_code == 401


def test_an_admin_creates_and_revokes_a_token_on_the_tokens_page(
    page: Page, control_plane: ControlPlane, ui_stack: Stack
) -> None:
    sign_in(page, control_plane.admin_token, "/tokens")
    page.fill('#new-token [name="name"]', "made-in-the-browser")
    page.select_option('#new-token [name="role"]', "launcher")
    page.click("#new-token button[type=submit]")
    secret = page.locator("#new-secret code")
    expect(secret).not_to_be_empty()
    token = secret.inner_text()
    with control_plane.client(token) as made:
        assert made.get("/api/runs").status_code == 200  # the secret shown once is a working launcher token
    page.reload()
    row = page.locator("tr", has_text="made-in-the-browser")
    expect(row).to_contain_text("launcher")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="made-in-the-browser")).not_to_contain_text("Revoke")
    with control_plane.client(token) as revoked:
        assert revoked.get("/api/runs").status_code == 401
    page.goto("/audit?action=token.")
    expect(page.locator("#audit")).to_contain_text("token.revoked")


def test_redeploy_asks_first_and_a_phone_sees_cards(page: Page, control_plane: ControlPlane, ui_stack: Stack) -> None:
    name = f"hello-{ui_stack.prefix}"
    generation = ui_stack.location(name)["generation"]
    sign_in(page, control_plane.admin_token, f"/locations/{name}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#redeploy")
    assert ui_stack.location(name)["generation"] == generation  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#redeploy")
    ui_stack.wait_location(name, {"LOADED"}, generation=generation + 1)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/runs")
    expect(page.locator("table.cards thead")).to_be_hidden()  # each row is a card of label: value lines
    label = page.evaluate("getComputedStyle(document.querySelector('#run-rows td'), '::before').content")
    assert label == '"Run"', label
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone


def test_a_schedule_is_started_and_stopped_from_its_page(
    page: Page, control_plane: ControlPlane, ui_stack: Stack
) -> None:
    automation = f"hello-{ui_stack.prefix}/hourly_greeting"
    sign_in(page, control_plane.admin_token, f"/automations/{automation}")
    expect(page.locator("h1")).to_contain_text("STOPPED")  # the example's default status
    page.get_by_role("button", name="Start").click()
    expect(page.locator("h1")).to_contain_text("RUNNING")
    assert ui_stack.client.get(f"/api/automations/{automation}").json()["status"] == "RUNNING"
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("h1")).to_contain_text("STOPPED")
    page.goto("/audit?action=automation.")
    expect(page.locator("#audit")).to_contain_text("automation.started")
    expect(page.locator("#audit")).to_contain_text("automation.stopped")
