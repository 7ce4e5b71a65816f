"""The run queue through the real API, with a pretend agent reporting runs' ends: limits per queue, per tag value and
per pool, priority then first come, the queue's messages, cancel and timeout of waiting runs, limits changed while
runs wait, and bad input. Real agents: tests/workflows/test_run_queue.py; two replicas: test_replicas.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.conftest import add_loaded
from tests.support.control_plane import ControlPlane
from tests.support.run_queue import (
    limit_path,
    limit_view,
    out_of_queue,
    report,
    runs,
    set_limit,
    wait_out,
    waiting,
    workflow_exists,
)

Launch = Callable[..., dict[str, Any]]


@pytest.fixture
def limits(api: httpx.Client) -> Iterator[list[str]]:
    """Scopes this test sets; removed afterwards (the control plane is shared)."""
    scopes: list[str] = []
    yield scopes
    for scope in scopes:
        api.delete(limit_path(scope))


def limited(api: httpx.Client, limits: list[str], scope: str, max_concurrent: int) -> dict[str, Any]:
    """Set a limit this test owns."""
    limits.append(scope)
    return set_limit(api, scope, max_concurrent)


@pytest.fixture
def pooled_location(api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str) -> tuple[str, str]:
    """A location whose job `load` declares the pool `wh-<unique>` (and `noop` none); (location, pool)."""
    pool = f"wh-{unique}"
    name = add_loaded(api, agent_api, f"pool-{unique}", queue, [{"name": "load", "pool": pool}, {"name": "noop"}])
    return name, pool


async def test_limit_2_with_10_runs_lets_out_2_at_a_time_by_priority_then_first_come(
    api: httpx.Client,
    agent_api: httpx.Client,
    temporal_client: Client,
    launch: Launch,
    loaded_location: str,
    queue: str,
    limits: list[str],
):
    limited(api, limits, f"queue:{queue}", 2)
    priorities = [0, 0, 3, 0, 3, 1, 0, 0, 1, 0]
    launched = [launch(tags={"longshoreman/priority": str(p), "n": str(i)}) for i, p in enumerate(priorities)]
    ids = [run["id"] for run in launched]
    expected = [ids[i] for i in (0, 1, 2, 4, 5, 8, 3, 6, 7, 9)]  # the first two had room; then priority, then FIFO

    assert [run["queue_position"] for run in launched[:2]] == [None, None]
    queued = waiting(api, location=loaded_location)
    assert [run["id"] for run in queued] == expected[2:]
    assert [run["queue_position"] for run in queued] == list(range(1, 9))
    assert queued[0]["message"] == f"waiting: queue '{queue}' 2/2 in use; 0 runs ahead"
    assert queued[1]["message"] == f"waiting: queue '{queue}' 2/2 in use; 1 run ahead"
    assert queued[7]["message"] == f"waiting: queue '{queue}' 2/2 in use; 7 runs ahead"
    assert queued[0]["priority"] == 3 and queued[0]["dequeued_at"] is None
    assert not await workflow_exists(temporal_client, queued[0]["id"]), "a waiting run has no workflow"
    assert await workflow_exists(temporal_client, ids[0])
    assert limit_view(api, f"queue:{queue}") | {"updated_at": None} == {
        "scope": f"queue:{queue}",
        "max_concurrent": 2,
        "in_use": 2,
        "waiting": 8,
        "in_use_by_value": None,
        "updated_at": None,
    }

    order: list[str] = []
    for finished in range(len(ids)):
        out = wait_out(api, min(2, len(ids) - finished), location=loaded_location)
        order.extend(run["id"] for run in out if run["id"] not in order)
        report(agent_api, out[0]["id"])  # the oldest ends: its slot goes to the next in the queue

    assert order == expected
    assert all(run["status"] == "SUCCESS" for run in runs(api, location=loaded_location))
    assert limit_view(api, f"queue:{queue}")["in_use"] == 0  # type: ignore[index]


def test_a_per_value_tag_limit_runs_one_per_value(
    api: httpx.Client, agent_api: httpx.Client, launch: Launch, loaded_location: str, unique: str, limits: list[str]
):
    key = f"table-{unique}"
    limited(api, limits, f"tag:{key}=*", 1)
    orders_1, users_1, orders_2, untagged = (
        launch(tags={key: "orders"}),
        launch(tags={key: "users"}),
        launch(tags={key: "orders"}),
        launch(),
    )

    assert {run["id"] for run in out_of_queue(api, location=loaded_location)} == {
        orders_1["id"],
        users_1["id"],
        untagged["id"],
    }
    assert orders_2["message"] == f"waiting: tag {key}=orders 1/1 in use; 0 runs ahead"
    view = limit_view(api, f"tag:{key}=*")
    assert (view or {}).get("in_use_by_value") == {"orders": 1, "users": 1}

    report(agent_api, users_1["id"])  # another value's end frees nothing for orders
    assert api.get(f"/api/runs/{orders_2['id']}").json()["queue_position"] == 1
    report(agent_api, orders_1["id"])
    wait_out(api, 2, location=loaded_location)
    assert api.get(f"/api/runs/{orders_2['id']}").json()["dequeued_at"] is not None


def test_a_pool_declared_by_the_job_is_limited(
    api: httpx.Client, agent_api: httpx.Client, pooled_location: tuple[str, str], limits: list[str]
):
    name, pool = pooled_location
    limited(api, limits, f"pool:{pool}", 1)

    def start(job: str) -> dict[str, Any]:
        response = api.post("/api/runs", json={"location": name, "job": job})
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()["run"]
        return run

    first, second, other = start("load"), start("load"), start("noop")

    assert (first["pool"], other["pool"]) == (pool, None)
    assert second["message"] == f"waiting: pool {pool} 1/1 in use; 0 runs ahead"
    assert other["dequeued_at"] is not None  # not in the pool: not held back
    report(agent_api, first["id"], status="FAILURE")  # any final status frees the slot
    wait_out(api, 2, location=name)
    assert api.get(f"/api/runs/{second['id']}").json()["queue_position"] is None


async def test_cancel_of_a_waiting_run_ends_it_and_it_is_never_launched(
    api: httpx.Client,
    async_api: httpx.AsyncClient,
    temporal_client: Client,
    launch: Launch,
    queue: str,
    limits: list[str],
):
    limited(api, limits, f"queue:{queue}", 0)
    run = launch()
    assert run["queue_position"] == 1

    canceled = await async_api.post(f"/api/runs/{run['id']}/cancel")

    assert canceled.status_code == 202, canceled.text
    assert canceled.json()["status"] == "CANCELED"
    assert "never launched" in canceled.json()["reason"]
    set_limit(api, f"queue:{queue}", 5)  # room again: a canceled run stays canceled
    assert (await async_api.get(f"/api/runs/{run['id']}")).json()["status"] == "CANCELED"
    assert not await workflow_exists(temporal_client, run["id"])
    assert (await async_api.post(f"/api/runs/{run['id']}/cancel")).status_code == 409


def test_a_waiting_run_past_its_queued_timeout_fails_saying_what_it_waited_for(
    api: httpx.Client, launch: Launch, queue: str, limits: list[str]
):
    limited(api, limits, f"queue:{queue}", 0)
    run = launch(queued_timeout_s=1)

    final = api.get(f"/api/runs/{run['id']}/wait", params={"timeout_s": 15}).json()

    assert final["status"] == "FAILURE"
    assert final["reason"] == (
        f"queued timeout: the run did not start within 1 s (waiting: queue '{queue}' 0/0 in use; 0 runs ahead)"
    )
    assert final["dequeued_at"] is None


def test_limits_changed_while_runs_wait_take_effect_at_once(
    api: httpx.Client, agent_api: httpx.Client, launch: Launch, loaded_location: str, queue: str, limits: list[str]
):
    scope = f"queue:{queue}"
    limited(api, limits, scope, 1)
    ids = [launch()["id"] for _ in range(5)]
    assert len(out_of_queue(api, location=loaded_location)) == 1

    set_limit(api, scope, 3)  # raised: two more leave before the answer
    assert len(out_of_queue(api, location=loaded_location)) == 3

    set_limit(api, scope, 1)  # lowered: nobody is stopped, nobody new leaves until fewer than 1 hold a slot
    assert len(out_of_queue(api, location=loaded_location)) == 3
    report(agent_api, out_of_queue(api, location=loaded_location)[0]["id"])
    assert len(out_of_queue(api, location=loaded_location)) == 2
    assert len(waiting(api, location=loaded_location)) == 2

    assert api.delete(limit_path(scope)).status_code == 204  # removed: the rest leave at once
    assert len(out_of_queue(api, location=loaded_location)) == 4
    assert waiting(api, location=loaded_location) == []
    assert len(ids) == 5


def test_a_new_limit_counts_the_runs_already_running(
    api: httpx.Client, agent_api: httpx.Client, launch: Launch, loaded_location: str, queue: str, limits: list[str]
):
    running = [launch()["id"] for _ in range(2)]  # no limit yet: out at once

    view = limited(api, limits, f"queue:{queue}", 2)

    assert (view["in_use"], view["waiting"]) == (2, 0)
    late = launch()
    assert late["queue_position"] == 1
    report(agent_api, running[0])
    wait_out(api, 2, location=loaded_location)
    assert api.get(f"/api/runs/{late['id']}").json()["dequeued_at"] is not None


def test_bad_limits_are_422_naming_the_field_and_store_nothing(
    api: httpx.Client, launch: Launch, pooled_location: tuple[str, str], unique: str
):
    _, pool = pooled_location
    cases = [
        (f"queue:q-{unique}", {"max_concurrent": -1}, "max_concurrent"),
        (f"queue:q-{unique}", {"max_concurrent": 1.5}, "max_concurrent"),
        (f"queue:q-{unique}", {"max_concurrent": "3"}, "max_concurrent"),
        (f"queue:q-{unique}", {}, "max_concurrent"),
        ("tag:longshoreman/priority", {"max_concurrent": 1}, "scope: tags under 'longshoreman/' are"),
        (
            f"pool:nope-{unique}",
            {"max_concurrent": 1},
            f"scope: no job of any code location declares pool 'nope-{unique}'",
        ),
        (f"galaxy:{unique}", {"max_concurrent": 1}, "scope: unknown limit scope"),
        ("tag:=x", {"max_concurrent": 1}, "scope: tag: a tag key is needed"),
    ]
    for scope, body, named in cases:
        response = api.put(limit_path(scope), json=body)
        assert response.status_code == 422, (scope, body, response.text)
        assert named in response.json()["detail"], response.text
    sync = api.put("/api/limits", json={"limits": {f"pool:{pool}": 1, "tag:longshoreman/x": 2}})
    assert sync.status_code == 422 and "limits.tag:longshoreman/x" in sync.json()["detail"], sync.text
    sync = api.put("/api/limits", json={"limits": {f"pool:{pool}": 1, f"pool:nope-{unique}": 2}})
    assert sync.status_code == 422 and f"limits.pool:nope-{unique}: no job" in sync.json()["detail"], sync.text
    scopes = {limit["scope"] for limit in api.get("/api/limits").json()["limits"]}
    assert not {s for s in scopes if unique in s}, scopes
    assert api.delete(limit_path(f"queue:q-{unique}")).status_code == 404

    for priority in ("high", "1.5", "", "99999999999"):
        body = {"location": pooled_location[0], "job": "noop", "tags": {"longshoreman/priority": priority}}
        response = api.post("/api/runs", json=body)
        assert response.status_code == 422, response.text
        assert "tags" in response.json()["detail"] and "longshoreman/priority" in response.json()["detail"]
    assert runs(api, location=pooled_location[0]) == []


def test_reexecute_launches_a_linked_run_with_the_same_job_config_and_tags(
    api: httpx.Client, launch: Launch, loaded_location: str
):
    parent = launch("greet", config={"name": "Ada"}, tags={"team": "data", "longshoreman/priority": "2"})

    same = api.post(f"/api/runs/{parent['id']}/reexecute")
    changed = api.post(
        f"/api/runs/{parent['id']}/reexecute", json={"config": {"name": "Grace"}, "tags": {"team": "ml", "x": "1"}}
    )

    assert (same.status_code, changed.status_code) == (201, 201), (same.text, changed.text)
    same_run, changed_run = same.json()["run"], changed.json()["run"]
    assert (same_run["job"], same_run["config"], same_run["tags"]) == (parent["job"], parent["config"], parent["tags"])
    assert same_run["parent_run_id"] == parent["id"] and same_run["priority"] == 2
    assert changed_run["config"] == {"name": "Grace"}
    assert changed_run["tags"] == {"team": "ml", "longshoreman/priority": "2", "x": "1"}
    children = api.get("/api/runs", params={"parent": parent["id"]}).json()["runs"]
    assert [run["id"] for run in children] == [changed_run["id"], same_run["id"]]
    grandchild = api.post(f"/api/runs/{same_run['id']}/reexecute").json()["run"]
    assert grandchild["parent_run_id"] == same_run["id"]

    bad = api.post(f"/api/runs/{parent['id']}/reexecute", json={"config": {"name": 3}})
    assert bad.status_code == 422 and "is not of type 'string'" in bad.json()["detail"]
    assert api.post("/api/runs/nope/reexecute").status_code == 404
    assert len(runs(api, location=loaded_location)) == 4


def test_runs_are_listed_by_tags_job_status_and_time_a_page_at_a_time(
    api: httpx.Client, agent_api: httpx.Client, launch: Launch, loaded_location: str, unique: str
):
    made = [launch(tags={"team": "data" if i % 2 else "ml", "batch": unique}) for i in range(5)]
    greet = launch("greet", config={"name": "x"}, tags={"batch": unique})
    report(agent_api, made[0]["id"])

    def ids(**params: Any) -> list[str]:
        return [run["id"] for run in runs(api, location=loaded_location, **params)]

    assert ids(tag=[f"batch={unique}", "team=data"]) == [made[3]["id"], made[1]["id"]]
    assert ids(tag="team") == [run["id"] for run in reversed(made)]
    assert ids(job="greet") == [greet["id"]]
    assert ids(status=["SUCCESS"]) == [made[0]["id"]]
    assert set(ids(status=["SUCCESS", "QUEUED"])) == {run["id"] for run in [*made, greet]}
    middle = made[2]["created_at"]
    assert ids(created_after=middle, created_before=greet["created_at"]) == [
        made[4]["id"],
        made[3]["id"],
        made[2]["id"],
    ]

    pages: list[list[str]] = []
    cursor = None
    while True:
        answer = api.get(
            "/api/runs", params={"location": loaded_location, "limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        pages.append([run["id"] for run in answer["runs"]])
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 2]
    assert [run_id for page in pages for run_id in page] == ids()

    bad = api.get("/api/runs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert api.get("/api/runs", params={"tag": "=x"}).status_code == 422


def test_a_deployment_wide_limit_holds_its_queue_across_a_kill_of_the_control_plane(
    temporal_server: TemporalDevServer, fresh_database_url: str, tmp_path: Path, unique: str
):
    # Its own control plane: a deployment-wide limit would hold back every other test's runs.
    plane = ControlPlane.start(temporal_server.address, tmp_path / "plane", database_url=fresh_database_url)
    try:
        api, agent_api = plane.client(), plane.client(plane.create_agent_token())
        name = add_loaded(api, agent_api, f"all-{unique}", f"all-{unique}")
        set_limit(api, "deployment", 1)
        first, second = (api.post("/api/runs", json={"location": name, "job": "noop"}).json()["run"] for _ in "ab")
        assert second["message"] == "waiting: the deployment-wide limit 1/1 in use; 0 runs ahead"

        plane.kill()
        plane.restart()

        assert api.get(f"/api/runs/{second['id']}").json()["queue_position"] == 1  # the queue is in the database
        report(agent_api, first["id"])
        wait_out(api, 1, location=name)
        assert out_of_queue(api, location=name)[0]["id"] == second["id"]
    finally:
        plane.stop()
