"""Object bodies and settings of the kubernetes launcher: quantities, per-run overrides, names, wiring."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from activities.launchers.kubernetes import manifests
from activities.launchers.kubernetes.launcher import KubernetesLauncher
from agent.launchers import build_launchers
from agent.settings import AgentSettings
from contracts.kubernetes import KubernetesOptions, KubernetesRunOverrides, Toleration


@pytest.mark.parametrize(
    ("memory", "quantity"),
    [("512Mi", "512Mi"), ("1g", "1G"), ("512m", "512M"), ("1.5G", "1.5G"), ("64k", "64k"), ("2048", "2048")],
)
def test_docker_style_memory_becomes_a_kubernetes_quantity(memory: str, quantity: str) -> None:
    assert manifests.memory_quantity(memory) == quantity


def test_cpus_become_whole_cores_or_millicores() -> None:
    assert [manifests.cpu_quantity(c) for c in (2, 0.5, 1.25)] == ["2", "500m", "1250m"]


def test_run_overrides_replace_fields_and_add_annotations_and_labels() -> None:
    location = KubernetesOptions(
        namespace="batch",
        service_account="loc",
        node_selector={"pool": "a"},
        tolerations=[Toleration(key="a", operator="Exists")],
        annotations={"team": "data"},
        labels={"cost": "1"},
    )
    run = KubernetesRunOverrides(node_selector={"pool": "gpu"}, annotations={"run": "x"}, labels={"prio": "hi"})
    merged = manifests.effective_options(location, run)
    assert merged.node_selector == {"pool": "gpu"} and merged.service_account == "loc"
    assert merged.namespace == "batch" and merged.tolerations == location.tolerations
    assert merged.annotations == {"team": "data", "run": "x"} and merged.labels == {"cost": "1", "prio": "hi"}
    assert manifests.effective_options(location, None) == location


def test_the_agents_own_labels_cannot_be_set_by_a_location() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        KubernetesOptions(labels={"longshoreman.io/agent": "someone-else"})


def test_a_location_name_starting_with_a_digit_gets_a_dns_safe_object_name() -> None:
    assert manifests.object_name("9lives-g1-i1") == "ls-9lives-g1-i1"
    assert manifests.object_name("sales-g1-i1") == "sales-g1-i1"


async def test_the_agent_builds_the_kubernetes_launcher_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGSHOREMAN_LAUNCHERS", '["process", "kubernetes"]')
    monkeypatch.setenv("LONGSHOREMAN_KUBERNETES__API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LONGSHOREMAN_KUBERNETES__NAMESPACE", "longshoreman")
    monkeypatch.setenv("LONGSHOREMAN_KUBERNETES__EXTRA_NAMESPACES", '["batch"]')
    monkeypatch.setenv("LONGSHOREMAN_PLAINTEXT_PAYLOADS", "true")
    settings = AgentSettings()
    launcher = build_launchers(settings, control_plane=None).get("kubernetes")  # type: ignore[arg-type]
    assert isinstance(launcher, KubernetesLauncher)
    assert launcher.settings.namespaces() == ["longshoreman", "batch"]
    await launcher.aclose()
