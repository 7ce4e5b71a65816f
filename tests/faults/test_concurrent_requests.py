"""Fault 8: duplicate and concurrent requests — one idempotency key from many clients, redeploys at once,
a cancel racing the run's completion."""

from __future__ import annotations

from pathlib import Path

from tests.support.faults.cancel_race import CancelRacingCompletion
from tests.support.faults.duplicates import SameKeyAtOnce, at_once
from tests.support.faults.env import FaultEnv


def test_a_cancel_racing_completion_ends_in_one_consistent_status(fault_env: FaultEnv) -> None:
    scenario = CancelRacingCompletion(rounds=2)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert not audit.problems, audit.problems


def test_one_idempotency_key_from_many_clients_at_once_gives_one_run(fault_env: FaultEnv) -> None:
    scenario = SameKeyAtOnce(clients=6)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    codes = sorted(r.status_code for r in scenario.responses)
    assert codes == [200] * 5 + [201], [(r.status_code, r.text) for r in scenario.responses]
    assert audit.clean, audit  # one run, launched once, SUCCESS
    assert [view["status"] for view in audit.views.values()] == ["SUCCESS"]
    runs = fault_env.client.get("/api/runs", params={"location": scenario.location}).json()["runs"]
    assert len(runs) == 1


def test_two_redeploys_at_once_are_applied_one_after_the_other(fault_env: FaultEnv) -> None:
    name = fault_env.stack.add_location(fault_env.spec())["name"]
    clients = [fault_env.plane.client() for _ in range(2)]
    specs = [fault_env.spec(env={"HELLO_GREETING": greeting}) for greeting in ("ahoy", "howdy")]

    responses = at_once(2, lambda i: clients[i].post(f"/api/locations/{name}/redeploy", json={"spec": specs[i]}))

    accepted = [i for i, r in enumerate(responses) if r.status_code == 202]
    for r in responses:
        assert r.status_code in (202, 409), r.text
        if r.status_code == 409:
            assert "redeploy" in r.json()["detail"], r.text
    # Each accepted redeploy is a generation of its own; the last one accepted is what serves in the end.
    generation = 1 + len(accepted)
    view = fault_env.stack.wait_location(name, {"LOADED"}, timeout_s=60, generation=generation)
    events = fault_env.client.get(f"/api/locations/{name}/events").json()["events"]
    loaded = [e["generation"] for e in events if e["status"] == "LOADED"]
    assert loaded == list(range(1, generation + 1)), events
    assert view["spec"]["env"] in [specs[i]["env"] for i in accepted]
    # The spec the control plane shows is the one the serving code server was started with.
    pid = fault_env.stack.server_pid(view["server"])
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    assert environ["HELLO_GREETING"] == view["spec"]["env"]["HELLO_GREETING"], (environ, view["spec"])
