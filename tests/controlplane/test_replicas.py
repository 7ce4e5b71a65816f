"""Two control-plane processes on one database, behind no proxy: whichever replica a request reaches, it behaves
the same (starts, launches, idempotency keys, agent reports, waits). Concurrent redeploys: test_redeploy.py."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane import schema
from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.conftest import location_spec
from tests.support.agent import REPO_ROOT, AgentProcess, get_json, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.database import snapshot
from tests.support.postgres import PostgresCluster
from tests.support.run_queue import limit_path, out_of_queue, runs, set_limit, wait_out


@pytest.fixture(scope="module")
def replica(
    control_plane: ControlPlane, temporal_server: TemporalDevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A second control plane on the database of the session's."""
    plane = ControlPlane.start(
        temporal_server.address, tmp_path_factory.mktemp("replica"), database_url=control_plane.database_url
    )
    yield plane
    plane.stop()


Request = tuple[httpx.Client, str, str, dict[str, Any]]


def at_once(*requests: Request) -> list[httpx.Response]:
    """Send every (client, method, path, body) at the same moment (a thread each, released together); the answers."""
    barrier = threading.Barrier(len(requests))

    def send(request: Request) -> httpx.Response:
        client, method, path, body = request
        barrier.wait()
        return client.request(method, path, json=body)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def start_together(count: int, temporal: TemporalDevServer, database_url: str, root: Path) -> list[ControlPlane]:
    """`count` control planes started at the same moment on one database, with one admin token."""
    token = secrets.token_urlsafe(32)
    with ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(
                ControlPlane.start, temporal.address, root / f"plane-{i}", database_url=database_url, admin_token=token
            )
            for i in range(count)
        ]
        return [future.result() for future in futures]


def test_replicas_starting_together_on_an_empty_database_both_serve_it(
    temporal_server: TemporalDevServer, fresh_database_url: str, tmp_path: Path, unique: str
):
    planes = start_together(2, temporal_server, fresh_database_url, tmp_path)
    try:
        created = planes[0].client().post("/api/tokens", json={"kind": "admin", "name": f"made-on-a-{unique}"})
        seen = planes[1].client(created.json()["token"]).get("/api/tokens")
    finally:
        for plane in planes:
            plane.stop()

    assert seen.status_code == 200
    stored = snapshot(fresh_database_url)
    assert stored["longshoreman_schema_version"] == [{"version_num": schema.head_revision()}]
    # The one bootstrap token both were given, stored once, and the token made through the first replica.
    assert sorted(row["name"] for row in stored["tokens"]) == ["bootstrap", f"made-on-a-{unique}"]


def test_one_idempotency_key_sent_to_both_replicas_at_once_gives_one_run(
    control_plane: ControlPlane, replica: ControlPlane, loaded_location: str, unique: str
):
    clients = [control_plane.client(), replica.client()]
    for round_ in range(5):
        body = {"location": loaded_location, "job": "noop", "idempotency_key": f"both-{unique}-{round_}"}

        answers = at_once(*((client, "POST", "/api/runs", body) for client in clients))

        assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
        assert len({a.json()["run"]["id"] for a in answers}) == 1
    runs = clients[1].get("/api/runs", params={"location": loaded_location}).json()["runs"]
    assert len(runs) == 5


def test_a_location_added_through_both_replicas_at_once_exists_once(
    control_plane: ControlPlane, replica: ControlPlane, unique: str, queue: str
):
    clients = [control_plane.client(), replica.client()]
    for round_ in range(3):
        name = f"twice-{unique}-{round_}"

        answers = at_once(*((client, "POST", "/api/locations", location_spec(name, queue)) for client in clients))

        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        assert "already exists" in next(a for a in answers if a.status_code == 409).json()["detail"]
        assert clients[1].get(f"/api/locations/{name}").json()["status"] == "STARTING"


def test_agent_reports_racing_through_both_replicas_keep_the_newest(
    control_plane: ControlPlane,
    replica: ControlPlane,
    agent_token: str,
    launch: Callable[..., dict[str, Any]],
):
    agents = [control_plane.client(agent_token), replica.client(agent_token)]
    runs = [launch()["id"] for _ in range(8)]
    for run_id in runs:
        reports = [
            {"run_id": run_id, "status": status, "seq": seq, "attempt": 1}
            for seq, status in enumerate(("STARTING", "STARTED", "SUCCESS"), start=1)
        ]
        # The newest report first, on the other replica from the older ones: a lost update would store an older one.
        path = f"/api/agent/runs/{run_id}/report"

        answers = at_once(*((agents[i % 2], "PUT", path, report) for i, report in enumerate(reversed(reports))))

        assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    for run_id in runs:
        for plane in (control_plane, replica):
            assert plane.client().get(f"/api/runs/{run_id}").json()["status"] == "SUCCESS"


def test_runs_launched_through_either_replica_run_and_each_replica_sees_them_end(
    control_plane: ControlPlane, replica: ControlPlane, temporal_server: TemporalDevServer, unique: str, tmp_path: Path
):
    queue = f"replicas-{unique}"
    agent = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=replica.url,  # the agent and its run workers report to one replica only
        agent_token=control_plane.create_agent_token(f"replicas-{unique}", queues=[queue]),
        task_queue=queue,
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
    ).start()
    planes = [control_plane, replica]
    name = f"both-{unique}"
    try:
        spec = location_spec(name, queue, launcher="process", working_dir=str(REPO_ROOT), startup_timeout_s=30)
        assert control_plane.client().post("/api/locations", json=spec).status_code == 201
        for plane in planes:
            with plane.client() as client:
                wait_for(lambda c=client: get_json(c, f"/api/locations/{name}")["status"] == "LOADED", 30, "LOADED")
        for i in range(4):
            launching, waiting = planes[i % 2], planes[(i + 1) % 2]
            body = {"location": name, "job": "greet", "config": {"name": f"replica-{i}"}}
            run_id = launching.client().post("/api/runs", json=body).json()["run"]["id"]

            final = waiting.client().get(f"/api/runs/{run_id}/wait", params={"timeout_s": 30}).json()

            assert final["status"] == "SUCCESS", f"{final}\n{agent.log_tail()}"
            lines = launching.client().get(f"/api/runs/{run_id}/logs").json()["lines"]
            assert [line["line"] for line in lines] == [f"hello, replica-{i}"]
    finally:
        control_plane.client().delete(f"/api/locations/{name}")
        agent.stop()
        agent.kill_leftovers()


@pytest.fixture
def postgres_replicas(
    postgres_cluster: PostgresCluster, temporal_server: TemporalDevServer, tmp_path: Path
) -> Iterator[tuple[ControlPlane, ControlPlane]]:
    """Two control planes on a new PostgreSQL database; the second's waits never re-read their run by themselves."""
    url = postgres_cluster.create_database("waits")
    first = ControlPlane.start(temporal_server.address, tmp_path / "a", database_url=url)
    second = ControlPlane.start(
        temporal_server.address,
        tmp_path / "b",
        database_url=url,
        extra_env={"LONGSHOREMAN_RUN_WAIT_RECHECK_S": "3600"},
    )
    yield first, second
    second.stop()
    first.stop()


async def test_a_run_finished_through_one_replica_is_seen_at_once_by_a_wait_on_the_other(
    postgres_replicas: tuple[ControlPlane, ControlPlane], unique: str
):
    first, second = postgres_replicas
    queue = f"waits-{unique}"
    agent_api = first.client(first.create_agent_token(queues=[queue]))
    name = f"waits-{unique}"
    assert first.client().post("/api/locations", json=location_spec(name, queue)).status_code == 201
    report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": [{"name": "noop"}]}}
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}
    headers = {"Authorization": f"Bearer {second.admin_token}"}
    # Far less than the wait's own timeout: an answer in time can only come from the replicas' notice.
    async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=20.0) as waiting:
        for round_ in range(3):
            run_id = first.client().post("/api/runs", json={"location": name, "job": "noop"}).json()["run"]["id"]
            wait = asyncio.create_task(waiting.get(f"/api/runs/{run_id}/wait", params={"timeout_s": 60}))
            await asyncio.sleep(0.5)  # the wait has read the live run and sleeps
            assert not wait.done()
            finished = {"run_id": run_id, "status": "SUCCESS", "seq": 1, "attempt": 1}

            applied = await asyncio.to_thread(agent_api.put, f"/api/agent/runs/{run_id}/report", json=finished)

            assert applied.json() == {"applied": True}
            answer = await wait
            assert (answer.status_code, answer.json()["status"]) == (200, "SUCCESS"), f"round {round_}: {answer.text}"


def test_two_replicas_never_hand_out_more_slots_than_a_limit(
    control_plane: ControlPlane, replica: ControlPlane, agent_token: str, loaded_location: str, queue: str
):
    clients = [control_plane.client(), replica.client()]
    agents = [control_plane.client(agent_token), replica.client(agent_token)]
    scope = f"queue:{queue}"
    set_limit(clients[0], scope, 3)
    most: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        with replica.client() as client:
            while not sampling.is_set():
                most.append(len(out_of_queue(client, location=loaded_location)))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        body = {"location": loaded_location, "job": "noop"}
        launched = at_once(*((clients[i % 2], "POST", "/api/runs", body) for i in range(12)))
        assert all(answer.status_code == 201 for answer in launched), [a.text for a in launched]
        seen: set[str] = set()
        finished = 0
        while finished < 12:
            out = wait_out(clients[finished % 2], min(3, 12 - finished), location=loaded_location)
            seen.update(run["id"] for run in out)
            # Every slot freed at the same moment, through both replicas: each dequeues for itself.
            ends = [
                (
                    agents[i % 2],
                    "PUT",
                    f"/api/agent/runs/{run['id']}/report",
                    {"run_id": run["id"], "status": "SUCCESS", "seq": 1},
                )
                for i, run in enumerate(out)
            ]
            assert all(answer.status_code == 200 for answer in at_once(*ends))
            finished += len(out)
    finally:
        sampling.set()
        sampler.join()
        clients[0].delete(limit_path(scope))

    assert len(seen) == 12 and max(most) == 3, (len(seen), max(most))
    assert all(run["status"] == "SUCCESS" for run in runs(clients[1], location=loaded_location))
