"""What the ecs launcher runs, read from its cache, for the orphan sweep (launchers/orphans.py)."""

from __future__ import annotations

from activities.launchers.ecs import definitions
from activities.launchers.ecs.watcher import TaskCache
from activities.launchers.orphans import Managed
from contracts.handles import parse_code_server_name, parse_run_worker_name


def managed(cache: TaskCache, agent: str) -> list[Managed]:
    """Every code-server service and every unfinished run task of this agent."""
    found: list[Managed] = []
    for service_name, service in cache.services.items():
        name = service_name.removeprefix(f"{agent}-")
        parsed = parse_code_server_name(name)
        if parsed is None:
            continue
        location, _generation, instance = parsed
        created = definitions.created_at(service.get("createdAt"))
        found.append(Managed("server", name, created, location=location, instance=instance))
    for task in cache.tasks.values():
        tags = definitions.tag_map(task.get("tags"))
        if tags.get(definitions.KIND) != "worker" or task.get("lastStatus") == "STOPPED":
            continue
        worker = parse_run_worker_name(tags.get(definitions.NAME, ""))
        if worker is None:
            continue
        created = definitions.created_at(task.get("createdAt"))
        found.append(Managed("worker", tags[definitions.NAME], created, run_id=worker[0], attempt=worker[1]))
    return found
