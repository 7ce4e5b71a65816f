"""What the kubernetes launcher runs, read from its watch cache, for the orphan sweep (launchers/orphans.py)."""

from __future__ import annotations

from activities.launchers.kubernetes import manifests
from activities.launchers.kubernetes.watcher import WatchCache
from activities.launchers.orphans import Managed
from contracts.handles import code_server_name


def managed(cache: WatchCache) -> list[Managed]:
    """Every code-server Deployment and every unfinished run Job of this agent."""
    found: list[Managed] = []
    for _namespace, deployment in cache.owners("Deployment"):
        labels = deployment["metadata"].get("labels") or {}
        location, instance = labels.get(manifests.LOCATION, ""), int(labels.get(manifests.INSTANCE, 0))
        name = code_server_name(location, int(labels.get(manifests.GENERATION, 0)), instance)
        found.append(Managed("server", name, manifests.created_at(deployment), location=location, instance=instance))
    for _namespace, job in cache.owners("Job"):
        status = job.get("status") or {}
        if status.get("succeeded") or status.get("failed") or status.get("completionTime"):
            continue
        labels = job["metadata"].get("labels") or {}
        run_id, attempt = labels.get(manifests.RUN_ID, ""), int(labels.get(manifests.ATTEMPT, 0))
        found.append(
            Managed("worker", job["metadata"]["name"], manifests.created_at(job), run_id=run_id, attempt=attempt)
        )
    return found


def server_objects(cache: WatchCache, item: Managed) -> list[tuple[str, str]]:
    """(namespace, Deployment name) of one code-server instance."""
    found = []
    for namespace, deployment in cache.owners("Deployment"):
        labels = deployment["metadata"].get("labels") or {}
        if labels.get(manifests.LOCATION) == item.location and int(labels.get(manifests.INSTANCE, 0)) == item.instance:
            found.append((namespace, str(deployment["metadata"]["name"])))
    return found
