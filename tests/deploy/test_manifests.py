"""deploy/kubernetes: the manifests parse, fit together, and the Role grants exactly what the launcher calls.

"What the launcher calls" is taken from the launcher itself, twice: from the requests it makes against the
API server emulator while it goes through every one of its operations, and from the client methods its
source code names. A call the Role lacks would fail in a real cluster; a grant the launcher never uses is
privilege it should not have.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.launchers.base import LaunchError, Phase
from activities.launchers.kubernetes import manifests
from activities.launchers.kubernetes.api import USER_AGENT
from activities.launchers.kubernetes.launcher import KubernetesLauncher
from agent.settings import AgentSettings
from contracts.agent import LaunchRunInput
from contracts.locations import LocationSpec
from tests.support.kube import NAMESPACE, Call, Cluster, KubeServer, launcher_settings, running

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
LAUNCHER_SOURCE = ROOT / "activities" / "launchers" / "kubernetes"
Permission = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object in deploy/kubernetes by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[(doc["kind"], doc.get("metadata", {}).get("name", ""))] = doc
    return found


def granted() -> set[Permission]:
    role = documents()[("Role", "longshoreman-agent")]
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def permission(call: Call) -> Permission:
    """The RBAC permission one request needs: /api[s]/<group>/<version>/namespaces/<ns>/<plural>[/<name>[/<sub>]]."""
    parts = call.path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    assert rest[0] == "namespaces", f"cluster-wide request {call.path}: the agent must stay in its namespaces"
    plural, named, sub = rest[2], len(rest) > 3, rest[4:]
    resource = "/".join([plural, *sub])
    if call.method == "GET":
        verb = "watch" if call.params.get("watch") == "true" else "get" if named else "list"
    else:
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[call.method]
        if call.method == "DELETE" and not named:
            verb = "deletecollection"
    return group, resource, verb


def test_the_manifests_parse_and_fit_together() -> None:
    docs = documents()
    assert set(docs) == {
        ("Namespace", "longshoreman"),
        ("ServiceAccount", "longshoreman-agent"),
        ("Role", "longshoreman-agent"),
        ("RoleBinding", "longshoreman-agent"),
        ("ConfigMap", "longshoreman-agent"),
        ("Deployment", "longshoreman-agent"),
    }
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in DEPLOY.glob("*.yaml") if p.stem != "kustomization"
    )
    binding = docs[("RoleBinding", "longshoreman-agent")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "longshoreman-agent"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "longshoreman-agent"}]
    pod = docs[("Deployment", "longshoreman-agent")]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "longshoreman-agent"
    agent = pod["containers"][0]
    assert agent["command"] == ["python", "-m", "agent"]
    assert {"configMapRef": {"name": "longshoreman-agent"}} in agent["envFrom"]
    mounts = {m["mountPath"] for m in agent["volumeMounts"]}
    config = docs[("ConfigMap", "longshoreman-agent")]["data"]
    assert config["LONGSHOREMAN_STATE_DIR"] in mounts  # the root filesystem is read-only


def test_the_configmap_is_valid_agent_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in documents()[("ConfigMap", "longshoreman-agent")]["data"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LONGSHOREMAN_KUBERNETES__NAMESPACE", "longshoreman")  # from the downward API
    settings = AgentSettings()
    assert settings.launchers == ["kubernetes"]
    assert settings.kubernetes.agent_name == "longshoreman-agent" and settings.kubernetes.namespace == "longshoreman"


def test_every_client_method_the_launcher_names_is_granted() -> None:
    groups = {"core": "", "apps": "apps", "batch": "batch"}
    verbs = {"create": "create", "read": "get", "list": "list", "patch": "patch", "delete": "delete"}
    named: set[Permission] = set()
    for path in LAUNCHER_SOURCE.glob("*.py"):
        for api, verb, kind in re.findall(r"\.(core|apps|batch)\.(\w+?)_namespaced_(\w+)", path.read_text()):
            resource = "pods/log" if kind == "pod_log" else kind.replace("_", "") + "s"
            named.add((groups[api], resource, verbs[verb]))
    assert named and named <= granted(), named - granted()


async def test_the_role_grants_exactly_the_requests_the_launcher_makes(
    kube: KubeServer, unique: str, tmp_path: Path
) -> None:
    cluster = Cluster(kube.url, NAMESPACE)
    launcher = KubernetesLauncher(launcher_settings(kube), control_plane_url="http://cp:8000")
    try:
        await every_operation(launcher, cluster, kube, unique)
    finally:
        await launcher.aclose()
        cluster.close()
    made = {permission(call) for call in kube.calls() if call.user_agent == USER_AGENT}
    assert made == granted(), f"missing from the Role: {made - granted()}; never used: {granted() - made}"


async def every_operation(launcher: KubernetesLauncher, cluster: Cluster, kube: KubeServer, run_id: str) -> None:
    """Each launcher operation once, including adoption on 409, cancel, refusal, log tail and the sweep."""
    spec = LocationSpec(name="sales", launcher="kubernetes", module="sales.defs", image="sales:1")
    server = await launcher.launch_server(spec, 1, 1)
    await launcher.launch_server(spec, 1, 1)  # 409 Conflict: adopt
    await launcher.wait_server_end(server, 0.2)
    await until(lambda: sum(c.params.get("watch") == "true" for c in kube.calls()) >= 4)
    await launcher.log_tail(server.name)
    await launcher.stop_server(server, 1)

    request = LaunchRunInput(run_id=run_id, attempt=1, job="daily", location=spec)

    async def token() -> str:
        return "token"

    worker = await launcher.launch_worker(request, token)
    job = cluster.job(worker.name)
    assert job is not None
    pod = cluster.create_pod(job)
    cluster.pod_status(pod, running(manifests.WORKER_CONTAINER))
    assert (await launcher.wait_worker(worker, frozenset({Phase.RUNNING}), 10)).phase is Phase.RUNNING
    kube.serve_log(NAMESPACE, pod, "working\n")
    assert await launcher.log_tail(worker.name) == "working\n"
    await launcher.stop_worker(run_id, 1, 1)
    with pytest.raises(LaunchError):
        await launcher.launch_worker(request, token)

    old: Any = manifests.stop_marker(
        "run-old-a1", NAMESPACE, "old", 1, "agent-a", datetime.now(UTC) - timedelta(days=30)
    )
    cluster.core.create_namespaced_config_map(NAMESPACE, old)
    assert await launcher.sweep_stop_markers() == 1


async def until(check: Callable[[], bool], timeout_s: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
