"""Bad input: schemathesis against the control plane's OpenAPI schema, served by a real control-plane process.

Every response must be a documented status (2xx/4xx, never a 5xx) with the documented body, and nothing
half-written may be left: every location and run stored has its workflow in Temporal.

LONGSHOREMAN_FUZZ_EXAMPLES sets the examples per operation (default 8 here; `bench/chaos.py --fuzz N` runs longer).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Err
from temporalio.client import Client
from temporalio.service import RPCError

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.control_plane import ControlPlane

EXAMPLES = int(os.environ.get("LONGSHOREMAN_FUZZ_EXAMPLES", "8"))


@schemathesis.check
def no_internal_error(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Never a 500 (a bug); a 503 only for what it is documented for: Temporal or the location's agent unavailable.

    (The fuzzed control plane has no agent, so a redeploy of a location it created waits for one in vain.)"""
    if response.status_code < 500:
        return
    detail = str(response.json().get("detail", "")) if response.status_code == 503 else ""
    if not ("Temporal" in detail or "is an agent serving task queue" in detail):
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")


CHECKS = [
    no_internal_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_plane(temporal_server: TemporalDevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of this module's own: whatever the fuzzer creates stays out of the other tests' way."""
    # Redeploys wait for an agent that never comes: 1 s, not 15, keeps the run short.
    plane = ControlPlane.start(
        temporal_server.address,
        tmp_path_factory.mktemp("fuzz-controlplane"),
        extra_env={"LONGSHOREMAN_TEMPORAL_UPDATE_TIMEOUT_S": "1"},
    )
    yield plane
    plane.stop()


def test_every_answer_is_documented_and_never_a_server_error(fuzz_plane: ControlPlane) -> None:
    # Driven through hypothesis directly (schemathesis' pytest plugin does not support this pytest): one property
    # per operation, failures collected so that one run reports every operation that misbehaves.
    schema = schemathesis.openapi.from_url(f"{fuzz_plane.url}/openapi.json")
    admin = {"Authorization": f"Bearer {fuzz_plane.admin_token}"}
    agent = {"Authorization": f"Bearer {fuzz_plane.create_agent_token('fuzz')}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        # Each endpoint with the token kind it is meant for: the fuzzer should get past authentication.
        headers = agent if operation.path.startswith("/api/agent/") else admin
        for mode in GenerationMode:
            try:
                fuzz(operation, mode, fuzz_plane.url, headers)
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as err:
                failures.append(f"{operation.label} ({mode.value}): {str(err)[:1500]}")
    assert not failures, "\n\n".join(failures)


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, url: str, headers: dict[str, str]) -> None:
    """EXAMPLES generated requests to one operation; raises on the first answer that breaks a check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

    answers_as_documented()


def test_nothing_half_written_after_fuzzing(fuzz_plane: ControlPlane, temporal_server: TemporalDevServer) -> None:
    with fuzz_plane.client() as admin:
        locations = admin.get("/api/locations").json()["locations"]
        runs = admin.get("/api/runs", params={"limit": 1000}).json()["runs"]
    # A run waiting in the run queue (the fuzzer may have set limits) has no workflow yet, by design.
    workflow_ids = [view["workflow_id"] for view in locations + runs if view.get("queue_position") is None]

    async def missing() -> list[str]:
        client = await Client.connect(temporal_server.address)
        gone = []
        for workflow_id in workflow_ids:
            try:
                await client.get_workflow_handle(workflow_id).describe()
            except RPCError:
                gone.append(workflow_id)
        return gone

    assert asyncio.run(missing()) == [], "stored without a workflow: the create was not undone"
    database = Path(fuzz_plane.database_url.removeprefix("sqlite:///"))
    assert database.exists() and "Traceback" not in fuzz_plane.log_file.read_text(errors="replace")
