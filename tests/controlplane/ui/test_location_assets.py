"""A location page's assets: a Dagster location's (examples/dagster_etl, real dagster) grouped in a real browser, with
links between dependencies and Materialize through the launch form; an SDK location's empty state; escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from playwright.sync_api import Page, expect

from contracts.api import LocationView
from contracts.locations import AssetDefinition, Definitions, JobDefinition, LocationSpec, LocationStatus
from contracts.roles import Role
from controlplane.tokens import Principal
from controlplane.ui.access import PageUser
from controlplane.ui.asset_table import anchor, asset_groups
from controlplane.ui.rendering import templates
from tests.controlplane.ui.test_pages import sign_in
from tests.longshoreman.dagster.test_dagster_location import ETL
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack

DAGSTER_S = 90_000  # ms: a dagster run worker imports dagster first; this is the ceiling, not a figure


def test_a_dagster_locations_assets_are_grouped_linked_and_materialized_from_its_page(
    page: Page, ui_stack: Stack, control_plane: ControlPlane
) -> None:
    name = f"etl-{ui_stack.prefix}"
    ui_stack.add_location(ui_stack.spec("etl", module=ETL, framework="dagster", startup_timeout_s=60))
    sign_in(page, control_plane.admin_token, f"/locations/{name}")

    groups = page.locator("table.assets")
    expect(groups).to_have_count(2)
    assert [groups.nth(i).get_attribute("data-group") for i in range(2)] == ["broken", "etl"]
    etl = page.locator('table.assets[data-group="etl"] tbody tr')
    expect(etl).to_have_count(3)
    assert [etl.nth(i).get_attribute("data-asset") for i in range(3)] == ["daily_report", "order_totals", "raw_orders"]
    expect(page.locator('table.assets[data-group="broken"] tbody tr')).to_have_attribute("data-asset", "broken_asset")

    raw = page.locator("#asset-raw_orders")
    expect(raw).to_contain_text("Raw orders, as extracted.")
    expect(raw.locator('td[data-label="Owners"]')).to_have_text("team:data")
    expect(raw.locator('td[data-label="Kinds"]')).to_have_text("python")
    expect(raw.locator('td[data-label="Jobs"]')).to_have_text("etl_job, orders_job")  # not the implicit asset job
    totals = page.locator("#asset-order_totals")
    expect(totals.locator('td[data-label="Checks"]')).to_have_text("total_is_positive")
    # The dependency is a link to its row: following it lands on raw_orders.
    totals.locator("a.dep", has_text="raw_orders").click()
    expect(page).to_have_url(re.compile(r"#asset-raw_orders$"))
    assert page.evaluate("document.querySelector(':target').dataset.asset") == "raw_orders"
    # A partitioned asset has no Materialize (the launch page asks for no partition); the others do.
    expect(page.locator("#asset-daily_report a.materialize")).to_have_count(0)

    raw.locator("a.materialize").click()
    expect(page.locator("#launch-assets")).to_contain_text("raw_orders")
    page.click("#launch-button")
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]+$"))
    expect(page.locator("#run-status")).to_have_text("SUCCESS", timeout=DAGSTER_S)
    run = ui_stack.run(page.url.rsplit("/", 1)[1])
    assert run["tags"]["longshoreman.dagster/assets"] == '["raw_orders"]'
    materialized = [e["message"] for e in ui_stack.events(run["id"]) if e["type"] == "ASSET_MATERIALIZATION"]
    assert len(materialized) == 1 and "raw_orders" in materialized[0]


def test_an_sdk_location_page_says_it_has_no_assets(ui_stack: Stack, control_plane: ControlPlane) -> None:
    name = f"hello-{ui_stack.prefix}"
    page = httpx.get(
        f"{control_plane.url}/locations/{name}", headers={"Authorization": f"Bearer {control_plane.admin_token}"}
    )
    assert page.status_code == 200
    assert 'id="no-assets"' in page.text and "assets come from Dagster code locations" in page.text
    assert 'table class="cards assets"' not in page.text and "Materialize" not in page.text


def test_asset_fields_from_user_code_are_escaped_and_anchors_stay_apart() -> None:
    evil = '<img src=x onerror="alert(1)">'
    definitions = Definitions(
        framework="dagster",
        assets=[
            AssetDefinition(key="a/b", group=evil, description=evil, owners=[evil], kinds=[evil], checks=[evil]),
            AssetDefinition(key="a_b", deps=["a/b", evil]),
        ],
        jobs=[JobDefinition(name="__ASSET_JOB", assets=["a/b", "a_b"]), JobDefinition(name=evil, assets=["a/b"])],
        asset_job="__ASSET_JOB",
    )
    assert anchor("a/b") != anchor("a_b") == "asset-a_b"
    spec = LocationSpec(name="etl", module="m", agent_queue="q")
    view = LocationView(
        name="etl",
        spec=spec,
        status=LocationStatus.LOADED,
        generation=1,
        definitions=definitions,
        workflow_id="w",
        updated_at=datetime.now(UTC),
    )
    user = PageUser(principal=Principal(token_id="t", kind="admin", role=Role.admin, name="t"))
    html = templates.get_template("location.html").render(
        user=user,
        can=user.can,
        path="/locations/etl",
        query="",
        location=view,
        asset_groups=asset_groups("etl", definitions),
        events=[],
    )
    assert "<img" not in html and "&lt;img src=x" in html
    assert f'href="#{anchor("a/b")}"' in html and f'id="{anchor("a/b")}"' in html
    assert "/launch?location=etl&amp;job=__ASSET_JOB&amp;assets=a%2Fb" in html
