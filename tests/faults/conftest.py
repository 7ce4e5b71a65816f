"""Fixtures of the fault-injection suite: a fault environment per test on the session's Temporal and control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.control_plane import ControlPlane
from tests.support.faults.env import FaultEnv


@pytest.fixture(scope="session")
def strict_plane(
    temporal_server: TemporalDevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A control plane of the fault suite's own (fresh database), whose run tokens expire 1 s after the run ends."""
    plane = ControlPlane.start(
        temporal_server.address,
        tmp_path_factory.mktemp("strict-controlplane"),
        extra_env={"LONGSHOREMAN_RUN_TOKEN_GRACE_S": "1"},
    )
    yield plane
    plane.stop()


@pytest.fixture
def fault_env(
    temporal_server: TemporalDevServer, control_plane: ControlPlane, agent_token: str, tmp_path: Path, unique: str
) -> Iterator[FaultEnv]:
    """Agents on a queue of this test's own, sharing one state dir; everything they started is killed afterwards."""
    env = FaultEnv(temporal=temporal_server, plane=control_plane, agent_token=agent_token, root=tmp_path, prefix=unique)
    yield env
    env.close()
