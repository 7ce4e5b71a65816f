"""Fault 4: the control plane down while runs start and finish; it comes back on the same database and port."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.control_plane import ControlPlane
from tests.support.faults.env import FaultEnv
from tests.support.faults.plane_outage import ControlPlaneOutage


@pytest.fixture
def outage_env(temporal_server: TemporalDevServer, tmp_path: Path, unique: str) -> Iterator[FaultEnv]:
    """A control plane of this test's own (the session's must stay up), and an agent of it."""
    plane = ControlPlane.start(temporal_server.address, tmp_path / "controlplane")
    env = FaultEnv(
        temporal=temporal_server,
        plane=plane,
        agent_token=plane.create_agent_token("outage"),
        root=tmp_path,
        prefix=unique,
    )
    yield env
    env.close()
    plane.stop()


def test_metadata_sent_during_an_outage_arrives_once_when_the_control_plane_returns(outage_env: FaultEnv) -> None:
    scenario = ControlPlaneOutage(down_s=8)
    scenario.setup(outage_env)

    audit = scenario.trial(outage_env)

    assert audit.clean, f"{audit}\n{outage_env.agent_logs()}"
    assert [view["status"] for view in audit.views.values()] == ["SUCCESS"] * 4, audit.views
    for run_id in audit.views:
        events = outage_env.stack.events(run_id)
        assert len({(e["attempt"], e["seq"]) for e in events}) == len(events), events
        lifecycle = Counter(e["type"] for e in events if e["type"] in ("RUN_START", "JOB_START", "JOB_SUCCESS"))
        assert lifecycle == {"RUN_START": 1, "JOB_START": 1, "JOB_SUCCESS": 1}, events
