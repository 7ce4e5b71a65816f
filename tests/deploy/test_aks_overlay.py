"""deploy/azure/aks: the AKS overlay applies to the base manifests and gives a valid agent on Azure.

The overlay is rendered here as kustomize would (strategic-merge patches: maps merge, lists of named items merge
by name, the image transformer renames the image), so the test needs no kustomize binary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.settings import AgentSettings
from contracts.compute_logs import ComputeLogs

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "azure" / "aks"
Doc = dict[str, Any]


def merge(base: Any, patch: Any) -> Any:
    """A strategic merge of `patch` into `base` (the subset of its rules these manifests use)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {key: merge(base[key], value) if key in base else value for key, value in (base | patch).items()}
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in base):
        merged = {item["name"]: item for item in base}
        for item in patch:
            merged[item["name"]] = merge(merged[item["name"]], item) if item["name"] in merged else item
        return list(merged.values())
    return patch


def load(directory: Path) -> dict[tuple[str, str], Doc]:
    """Every object a kustomization makes, by (kind, name)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: dict[tuple[str, str], Doc] = {}
    for resource in kustomization["resources"]:
        path = (directory / resource).resolve()
        if path.is_dir():
            objects |= load(path)
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    for patch in kustomization.get("patches", []):
        doc = yaml.safe_load((directory / patch["path"]).read_text())
        key = (doc["kind"], doc["metadata"]["name"])
        assert key in objects, f"{patch['path']} patches {key}, which the base does not have"
        objects[key] = merge(objects[key], doc)
    for image in kustomization.get("images", []):
        for doc in objects.values():
            for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
    return objects


def test_the_overlay_runs_the_agent_from_acr_with_workload_identity_and_key_vault_secrets() -> None:
    objects = load(OVERLAY)
    pod = objects[("Deployment", "longshoreman-agent")]["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    account = objects[("ServiceAccount", "longshoreman-agent")]
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "longshoreman-agent" and spec["imagePullSecrets"] == [{"name": "acr-pull"}]
    [agent] = spec["containers"]
    assert agent["image"].startswith("<registry>.azurecr.io/longshoreman:")
    assert {m["name"] for m in agent["volumeMounts"]} == {"state", "tmp", "key-vault"}  # base mounts kept
    [vault] = [v for v in spec["volumes"] if v["name"] == "key-vault"]
    provider = objects[("SecretProviderClass", vault["csi"]["volumeAttributes"]["secretProviderClass"])]
    [synced] = provider["spec"]["secretObjects"]
    # The Secret the CSI driver keeps in step is the one the agent reads its env from.
    assert {"secretRef": {"name": synced["secretName"]}} in agent["envFrom"]
    assert {item["key"] for item in synced["data"]} == {"LONGSHOREMAN_AGENT_TOKEN", "LONGSHOREMAN_ENCRYPTION_KEYS"}
    listed = yaml.safe_load(provider["spec"]["parameters"]["objects"])["array"]
    assert {yaml.safe_load(o)["objectName"] for o in listed} == {item["objectName"] for item in synced["data"]}


def test_the_overlays_settings_keep_compute_logs_in_blob_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(OVERLAY)[("ConfigMap", "longshoreman-agent")]["data"]
    for key, value in config.items():
        monkeypatch.setenv(key, value.replace("<storage-account>", "lsdata"))
    monkeypatch.setenv("LONGSHOREMAN_PLAINTEXT_PAYLOADS", "true")
    settings = AgentSettings()
    assert settings.launchers == ["kubernetes"]  # the base's settings are still there
    destination = settings.compute_logs.destination()
    assert destination == ComputeLogs(
        store="azure-blob",
        url="azure-blob://compute-logs/longshoreman?account_url=https%3A%2F%2Flsdata.blob.core.windows.net",
        forwarded=False,
    )
