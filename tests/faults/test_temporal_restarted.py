"""Fault 5: the Temporal server stopped and restarted (same SQLite file, same port) while runs are in flight."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.control_plane import ControlPlane
from tests.support.faults.env import FaultEnv
from tests.support.faults.temporal_restart import TemporalRestart


@pytest.fixture
def own_temporal_env(tmp_path: Path, unique: str) -> Iterator[FaultEnv]:
    """A Temporal dev server, control plane and agent of this test's own (the session's server must stay up)."""
    temporal = TemporalDevServer.headless_in(tmp_path).start()
    plane = ControlPlane.start(temporal.address, tmp_path / "controlplane")
    env = FaultEnv(
        temporal=temporal, plane=plane, agent_token=plane.create_agent_token("t"), root=tmp_path, prefix=unique
    )
    yield env
    env.close()
    plane.stop()
    temporal.stop()


def test_runs_in_flight_survive_a_temporal_restart_without_loss_or_relaunch(own_temporal_env: FaultEnv) -> None:
    scenario = TemporalRestart(down_s=4)
    scenario.setup(own_temporal_env)

    audit = scenario.trial(own_temporal_env)

    assert audit.clean, f"{audit}\n{own_temporal_env.agent_logs()}"
    assert [view["status"] for view in audit.views.values()] == ["SUCCESS"] * 3, audit.views
    assert not audit.problems, audit.problems  # and the code server kept serving, same instance
    status, detail, added = scenario.refused
    assert status == 503 and detail.startswith("the run was not launched"), scenario.refused
    assert added == 0, "a launch Temporal could not take must leave no run behind"
