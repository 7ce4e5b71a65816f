"""Fixtures of the kubernetes launcher tests: the launcher under test and the test's hand on the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from activities.launchers.kubernetes.launcher import KubernetesLauncher
from tests.support.kube import NAMESPACE, Cluster, KubeServer, launcher_settings

CONTROL_PLANE = "http://control-plane.longshoreman:8000"


@pytest.fixture
def cluster(kube: KubeServer) -> Iterator[Cluster]:
    """The controllers kmock lacks, played by the test through the API."""
    hand = Cluster(kube.url, NAMESPACE)
    yield hand
    hand.close()


@pytest.fixture
async def make_launcher(kube: KubeServer) -> AsyncIterator[Callable[..., KubernetesLauncher]]:
    """Build launchers on the emulator (each one is a fresh agent); all are closed afterwards."""
    made: list[KubernetesLauncher] = []

    def make(**overrides: Any) -> KubernetesLauncher:
        launcher = KubernetesLauncher(launcher_settings(kube, **overrides), control_plane_url=CONTROL_PLANE)
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        await launcher.aclose()
