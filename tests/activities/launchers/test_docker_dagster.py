"""A Dagster location on the docker launcher: the code server and each run worker are containers of an image with
dagster installed (longshoreman-dagster:dev, built offline by scripts/docker/build-images.sh)."""

from __future__ import annotations

import json

from tests.support.docker_stack import DAGSTER_IMAGE, DockerStack


def test_a_dagster_asset_job_runs_in_its_own_container(docker_stack: DockerStack) -> None:
    spec = docker_stack.spec(
        "etl", module="examples.dagster_etl.definitions", framework="dagster", image=DAGSTER_IMAGE, startup_timeout_s=60
    )
    view = docker_stack.add_location(spec)
    assert {asset["key"] for asset in view["definitions"]["assets"]} >= {"raw_orders", "order_totals"}

    run = docker_stack.wait_run(docker_stack.launch("etl_job", location="etl"), timeout_s=90)

    assert run["status"] == "SUCCESS", run["reason"]
    materialized = [
        json.loads(event["message"])["asset"]
        for event in docker_stack.events(run["id"])
        if event["type"] == "ASSET_MATERIALIZATION"
    ]
    assert materialized == ["raw_orders", "order_totals"]
    assert "extracted 5 orders" in docker_stack.logs(run["id"])
    container = docker_stack.worker(run["id"])
    assert "LONGSHOREMAN_RUN_FRAMEWORK=dagster" in container.attrs["Config"]["Env"]
    assert container.attrs["Config"]["Image"] == DAGSTER_IMAGE
