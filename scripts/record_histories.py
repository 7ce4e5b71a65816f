"""Record one workflow history per workflow path into tests/histories/, from real runs on a real stack.

    .venv/bin/python scripts/record_histories.py            # all scenarios (about two minutes)
    .venv/bin/python scripts/record_histories.py run_cancel  # only some

Starts a Temporal dev server, a control plane and an agent (as the tests do) with the TEST-ONLY key of
tests/histories/, drives each scenario through the REST API like a user (kills, cancels, agent restarts
included), then writes each workflow's history as JSON. Payloads are encrypted, so the files hold no secret;
worker identities (host names) are replaced by "recorder". Re-record only together with a workflow change
that is meant to break old histories (see the README, "Replay and workflow changes").
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from temporalio.client import Client, WorkflowExecutionStatus  # noqa: E402
from temporalio.common import SearchAttributePair, TypedSearchAttributes  # noqa: E402

from contracts import search_attributes as attributes  # noqa: E402
from contracts.agent import LocationState, RedeployRequest, RedeployResult  # noqa: E402
from contracts.locations import LocationSpec  # noqa: E402
from contracts.supervision_lease import AGENT_LEASE_WORKFLOW  # noqa: E402
from longshoreman.dev.temporal_server import TemporalDevServer  # noqa: E402
from runtime.converter import data_converter  # noqa: E402
from tests.support.agent import AgentProcess, wait_for  # noqa: E402
from tests.support.alert_receivers import WebhookReceiver  # noqa: E402
from tests.support.automations import AutomatedLocation  # noqa: E402
from tests.support.control_plane import ControlPlane  # noqa: E402
from tests.support.histories import SCENARIOS, SECRET_MARKER, history_file, recording_keyring  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

# Alert retries 1 s apart and the agent looked at every second, so the alert scenarios take seconds.
QUICK_ALERTS = {
    "LONGSHOREMAN_ALERT_RETRY_MAX_INTERVAL_S": "1",
    "LONGSHOREMAN_ALERT_SWEEP_INTERVAL_S": "1",
    "LONGSHOREMAN_ALERT_AGENT_CHECK_INTERVAL_S": "1",
}
Recorded = dict[str, tuple[str, str | None]]  # scenario -> (workflow id, Temporal run id or None for the latest)


def slow_start_module(root: Path) -> Path:
    """A module whose run workers take 30 s to start (for the start timeout)."""
    (root / "slowstart").mkdir(parents=True, exist_ok=True)
    (root / "slowstart" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import os, time
            from longshoreman import Definitions, job

            if os.environ.get("LONGSHOREMAN_RUN_ID"):
                time.sleep(30)

            @job
            def quick():
                print("ran")

            defs = Definitions(jobs=[quick])
            """
        )
    )
    return root


def record_runs(stack: Stack, code_dir: Path, recorded: Recorded) -> None:
    """Every RunWorkflow path on location hello-rec (which holds a secret in its env)."""
    hello = stack.add_location(stack.spec(env={"HELLO_SECRET": SECRET_MARKER}))

    def run(scenario: str, job: str, config: dict[str, Any] | None = None, **fields: Any) -> str:
        run_id = stack.launch(job, config, **fields)
        recorded[scenario] = (f"run:{run_id}", None)
        return run_id

    assert stack.wait_run(run("run_success", "greet", {"name": "docks"}))["status"] == "SUCCESS"
    assert stack.wait_run(run("run_failure", "fail"))["status"] == "FAILURE"

    cancel = run("run_cancel", "sleepy", {"seconds": 60})
    stack.wait_run(cancel, {"STARTED"})
    stack.client.post(f"/api/runs/{cancel}/cancel").raise_for_status()
    assert stack.wait_run(cancel)["status"] == "CANCELED"

    stack.add_location(stack.spec("slow", module="slowstart", working_dir=str(code_dir)))
    timeout = run("run_start_timeout", "quick", location="slow", start_timeout_s=1, cancel_grace_s=1)
    assert "start timeout" in stack.wait_run(timeout)["reason"]

    runtime = run("run_max_runtime", "sleepy", {"seconds": 60}, max_runtime_s=1.5, cancel_grace_s=1)
    assert "max runtime" in stack.wait_run(runtime)["reason"]

    retry = run("run_retry_infra_attempt_2", "sleepy", {"seconds": 2}, retry={"max_attempts": 2, "backoff_s": 0.5})
    stack.wait_run(retry, {"STARTED"})
    os.kill(stack.worker_pid(retry), signal.SIGKILL)  # an infrastructure failure: attempt 2 follows
    final = stack.wait_run(retry, timeout_s=40)
    assert final["status"] == "SUCCESS" and final["attempt"] == 2, final

    restart = run("run_agent_restart", "sleepy", {"seconds": 4})
    stack.wait_run(restart, {"STARTED"})
    stack.agent.stop()
    stack.agent.start()
    assert stack.wait_run(restart, timeout_s=40)["status"] == "SUCCESS"

    handed = run("run_supervision_handed_over", "sleepy", {"seconds": 5})
    stack.wait_run(handed, {"STARTED"})
    time.sleep(1.0)  # the agent's lease lists the watch within 0.3 s
    stack.agent.kill()  # its lease times out; the restarted agent hands the watch over by signal
    stack.agent.start()
    assert stack.wait_run(handed, timeout_s=40)["status"] == "SUCCESS"

    remove(stack, hello["name"])
    recorded["location_serving_runs_across_agent_restart"] = (f"location:{hello['name']}", None)


AUTOMATED = """
from longshoreman import Definitions, RunRequest, SensorResult, SkipReason, job, schedule, sensor

@job
def count(context):
    print("n =", context.config.get("n"))

@schedule(job=count, every_s=1)
def every_second(context):
    return {"n": context.scheduled_time.second}

@schedule(job=count, every_s=2, overlap="skip", config={"n": -1})
def one_at_a_time(context):
    return None

@sensor(job=count, minimum_interval_s=1)
def counter(context):
    done = int(context.cursor or 0)
    if done >= 2:
        return SkipReason("counted to 2")
    return SensorResult([RunRequest(config={"n": done + 1}, run_key=str(done + 1))], cursor=str(done + 1))

defs = Definitions(jobs=[count], schedules=[every_second, one_at_a_time], sensors=[counter])
"""


def record_automations(stack: Stack, code_dir: Path, recorded: Recorded) -> None:
    """A schedule tick (and one that waits for its run: overlap `skip`), a sensor's ticks, a backfill."""
    location = AutomatedLocation.add(stack, code_dir, AUTOMATED)
    for name in ("every_second", "one_at_a_time"):
        tick = location.wait_ticks(name, 1, outcome="SUCCESS")[0]
        location.set_status(name, "STOPPED")
        assert stack.wait_run(tick["run_ids"][0])["status"] == "SUCCESS"
        scenario = "schedule_tick" if name == "every_second" else "schedule_tick_waiting_for_its_run"
        recorded[scenario] = (tick["tick_id"], None)
    location.wait_ticks("counter", 3)
    location.set_status("counter", "STOPPED")
    recorded["sensor_ticks_then_stopped"] = (f"sensor:{location.name}:counter", None)
    answer = stack.client.post(
        f"{location.path('every_second')}/backfills",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:02Z", "rate_per_s": 10},
    )
    answer.raise_for_status()
    backfill_id = answer.json()["id"]
    wait_for(
        lambda: any(
            b["id"] == backfill_id and b["status"] == "COMPLETED"
            for b in stack.client.get(f"{location.path('every_second')}/backfills").json()["backfills"]
        ),
        30,
        "the backfill",
    )
    recorded["backfill"] = (f"backfill:{backfill_id}", None)
    remove(stack, location.name)


def record_alerts(stack: Stack, recorded: Recorded) -> None:
    """A run-failure alert to a webhook that is down for the first attempt and up for the second; the agent's watch."""
    location = stack.add_location(stack.spec("alerting"))
    receiver = WebhookReceiver()
    policy = {
        "name": "rec-failures",
        "events": ["run_failure"],
        "filters": {"locations": [location["name"]]},
        "channels": [receiver.channel()],
    }
    stack.client.post("/api/alerts/policies", json=policy).raise_for_status()

    def records(outcome: str) -> list[Any]:
        answer = stack.client.get("/api/alerts/history", params={"subject": run_id, "limit": 100})
        answer.raise_for_status()
        return [r for r in answer.json()["deliveries"] if r["outcome"] == outcome]

    run_id = stack.launch("fail", location="alerting")
    assert stack.wait_run(run_id)["status"] == "FAILURE"
    wait_for(lambda: records("failed"), 30, "a failed delivery attempt (the receiver is down)")
    receiver.up()
    try:
        wait_for(lambda: records("delivered"), 30, "the delivery once the receiver is up")
    finally:
        receiver.down()
    stack.client.delete("/api/alerts/policies/rec-failures").raise_for_status()
    recorded["alert_delivered_after_a_failed_attempt"] = (f"alert:rec-failures:run-failure:{run_id}", None)
    agents = stack.client.get("/api/agents").json()["agents"]
    recorded["agent_watch"] = (f"agent-watch:{agents[0]['name']}", None)
    remove(stack, location["name"])


def remove(stack: Stack, name: str) -> None:
    """Remove a location and wait until its workflow has finished."""
    stack.client.delete(f"/api/locations/{name}").raise_for_status()
    stack.wait_location(name, {"STOPPED"})


def record_locations(stack: Stack, recorded: Recorded) -> None:
    """CodeLocationWorkflow paths driven through the API."""
    crash = stack.add_location(stack.spec("crash"))
    os.kill(stack.server_pid(crash["server"]), signal.SIGKILL)
    wait_for(
        lambda: (view := stack.location(crash["name"]))["status"] == "LOADED" and view["server"] != crash["server"],
        30,
        "a restarted server",
    )
    remove(stack, crash["name"])
    recorded["location_crash_restart"] = (f"location:{crash['name']}", None)

    broken = stack.spec("broken", module="examples.hello.no_such_module")
    stack.add_location(broken, wait_loaded=False)
    wait_for(lambda: "attempt 2 failed" in stack.location(broken["name"])["message"], 30, "the second failed start")
    remove(stack, broken["name"])
    recorded["location_crash_loop"] = (f"location:{broken['name']}", None)

    redeploy = stack.add_location(stack.spec("redeploy"))
    body = {"spec": stack.spec("redeploy", env={"HELLO_GREETING": "ahoy"})}
    stack.client.post(f"/api/locations/{redeploy['name']}/redeploy", json=body).raise_for_status()
    stack.wait_location(redeploy["name"], {"LOADED"}, generation=2)
    remove(stack, redeploy["name"])
    recorded["location_redeploy"] = (f"location:{redeploy['name']}", None)

    halt = stack.spec("halt", working_dir="/nonexistent/code")
    stack.add_location(halt, wait_loaded=False)
    stack.wait_location(halt["name"], {"ERROR"})
    fixed = {"spec": stack.spec("halt")}
    stack.client.post(f"/api/locations/{halt['name']}/redeploy", json=fixed).raise_for_status()
    stack.wait_location(halt["name"], {"LOADED"}, generation=2)
    remove(stack, halt["name"])
    recorded["location_halted_then_redeploy"] = (f"location:{halt['name']}", None)

    stop = stack.add_location(stack.spec("stop"))
    remove(stack, stop["name"])
    recorded["location_stop"] = (f"location:{stop['name']}", None)


async def record_continue_as_new(stack: Stack, client: Client, recorded: Recorded) -> None:
    """A location whose history passes the limit: the first run continues as new, the second one is stopped."""
    spec = LocationSpec.model_validate(stack.spec("can", supervision={"max_history_events": 100}))
    state = LocationState(spec=spec)
    search = TypedSearchAttributes(
        [
            SearchAttributePair(attributes.LOCATION, spec.name),
            SearchAttributePair(attributes.LOCATION_STATUS, "STARTING"),
            SearchAttributePair(attributes.AGENT, spec.agent_queue),
        ]
    )
    workflow_id = f"location:{spec.name}"
    handle = await client.start_workflow(
        "CodeLocationWorkflow", state, id=workflow_id, task_queue=stack.queue, search_attributes=search
    )
    first_run = handle.result_run_id
    for _ in range(6):
        await handle.execute_update("redeploy", RedeployRequest(spec=spec), result_type=RedeployResult)
    latest = client.get_workflow_handle(workflow_id, result_type=LocationState)
    deadline = time.monotonic() + 30
    while (await latest.describe()).run_id == first_run:
        if time.monotonic() > deadline:
            raise RuntimeError("the location workflow did not continue as new")
        await asyncio.sleep(0.2)
    second_run = (await latest.describe()).run_id
    await asyncio.sleep(1.0)  # let the new run settle into supervision
    await latest.signal("stop")
    await latest.result()
    recorded["location_continue_as_new_first_run"] = (workflow_id, first_run)
    recorded["location_continue_as_new_second_run"] = (workflow_id, second_run)


async def record_handed_over_lease(client: Client, recorded: Recorded) -> None:
    """The lease of the agent killed in run_supervision_handed_over: timed out, its watch handed over."""
    async for execution in client.list_workflows(f"WorkflowType = '{AGENT_LEASE_WORKFLOW}'"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        if execution.status == WorkflowExecutionStatus.COMPLETED and (await handle.result()).get("signaled"):
            recorded["agent_lease_handed_over"] = (execution.id, execution.run_id)
            return
    raise RuntimeError("no agent lease handed a watch over")


def scrub(value: Any) -> Any:
    """Replace worker/client identities (pid@hostname) so the files say nothing about the recording machine."""
    if isinstance(value, dict):
        return {key: ("recorder" if key == "identity" else scrub(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


async def write_histories(client: Client, recorded: Recorded, wanted: set[str]) -> None:
    """Fetch each recorded workflow's history and write it to tests/histories/<scenario>.json."""
    for scenario, (workflow_id, run_id) in sorted(recorded.items()):
        if scenario not in wanted:
            continue
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        text = json.dumps(scrub(json.loads(history.to_json())), indent=1, sort_keys=True) + "\n"
        if SECRET_MARKER in text:
            raise RuntimeError(f"{scenario}: the secret appears in the history: payloads were not encrypted")
        history_file(scenario).write_text(text)
        print(f"wrote {history_file(scenario).relative_to(REPO_ROOT)} ({len(history.events)} events)")


def main(argv: list[str]) -> int:
    """Record the scenarios named in argv (default: all)."""
    wanted = set(argv) or set(SCENARIOS)
    unknown = wanted - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    keys = recording_keyring()
    with tempfile.TemporaryDirectory(prefix="record-histories-") as tmp:
        root = Path(tmp)
        temporal = TemporalDevServer(
            db_file=root / "temporal.db", headless=True, search_attributes=attributes.dev_server_flags()
        ).start()
        plane = ControlPlane.start(
            temporal.address, root / "controlplane", extra_env=QUICK_ALERTS, encryption_keys=keys.format()
        )
        agent_token = plane.create_agent_token("recorder")
        agent = AgentProcess(
            temporal_address=temporal.address,
            control_plane_url=plane.url,
            agent_token=agent_token,
            task_queue="recorder",
            state_dir=root / "agent",
            log_file=root / "agent.log",
            encryption_keys=keys.format(),
        ).start()
        try:
            with plane.client() as http:
                stack = Stack(client=http, agent=agent, queue=agent.task_queue, prefix="rec")
                recorded: Recorded = {}
                steps: list[Callable[[], None]] = [
                    lambda: record_runs(stack, slow_start_module(root / "code"), recorded),
                    lambda: record_locations(stack, recorded),
                    lambda: record_automations(stack, root / "automated", recorded),
                    lambda: record_alerts(stack, recorded),
                ]
                for step in steps:
                    step()

                async def finish() -> None:
                    client = await Client.connect(temporal.address, data_converter=data_converter(keys))
                    await record_continue_as_new(stack, client, recorded)
                    await record_handed_over_lease(client, recorded)
                    await write_histories(client, recorded, wanted)

                asyncio.run(finish())
        except BaseException:
            print(f"agent log tail:\n{agent.log_tail()}", file=sys.stderr)
            raise
        finally:
            agent.stop()
            agent.kill_leftovers()
            plane.stop()
            temporal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
