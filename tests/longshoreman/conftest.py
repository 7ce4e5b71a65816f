"""Fixtures of the SDK tests."""

from __future__ import annotations

import pytest

from tests.longshoreman.run_target import RunFactory
from tests.support.control_plane import ControlPlane


@pytest.fixture
def new_run(control_plane: ControlPlane, agent_token: str, unique: str) -> RunFactory:
    """Creates runs (with run tokens) of a hello location on the session's control plane."""
    return RunFactory(control_plane, agent_token, unique)
