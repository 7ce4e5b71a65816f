"""A Dagster project's definitions as ours: jobs with their config schema, assets, schedules and sensors.

The code server serves `DagsterCatalog` exactly as it serves an SDK module's Definitions: `to_dict()` is the
location's contracts.locations.Definitions JSON; `schedule(name)` and `sensor(name)` evaluate ticks.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from longshoreman.dagster.automations import DagsterSchedule, DagsterSensor, _Instance
from longshoreman.dagster.config_schema import job_config_schema
from longshoreman.dagster.loader import LoadedDefinitions

# Partition keys listed in the definitions (so the control plane checks --partition at launch) up to this many;
# beyond, or when they depend on time or the instance, the run worker checks with Dagster.
MAX_LISTED_PARTITIONS = 1000


class DagsterCatalog:
    """What a code server offers for a Dagster Definitions object."""

    def __init__(self, loaded: LoadedDefinitions) -> None:
        self.loaded = loaded
        defs = loaded.definitions
        self._jobs = sorted(defs.resolve_all_job_defs(), key=lambda job: job.name)
        self._by_name = {job.name: job for job in self._jobs}
        instance = _Instance()
        repository = defs.get_repository_def()
        self._schedules = {s.name: DagsterSchedule(defs, s, instance) for s in repository.schedule_defs}
        self._sensors = {s.name: DagsterSensor(defs, s, instance) for s in repository.sensor_defs}

    def schedule(self, name: str) -> DagsterSchedule | None:
        """The schedule called `name`, or None."""
        return self._schedules.get(name)

    def sensor(self, name: str) -> DagsterSensor | None:
        """The sensor called `name`, or None."""
        return self._sensors.get(name)

    def check_config(
        self, name: str, config: dict[str, Any], assets: list[str] | None = None, partition: str | None = None
    ) -> list[str] | None:
        """Dagster's own messages on `config` for job `name` ([] if valid), or None if there is no such job.

        The same check as the run worker's (`dagster.validate_run_config` on the whole job): it sees what the JSON
        schema of the definitions cannot say (an Int given 2.0, a resource's or a pydantic Config's own rules)."""
        job = self._by_name.get(name)
        if job is None:
            return None
        return config_errors(job, config)

    def to_dict(self) -> dict[str, Any]:
        """The definitions as contracts.locations.Definitions JSON."""
        defs = self.loaded.definitions
        implicit = defs.resolve_implicit_global_asset_job_def() if defs.resolve_all_asset_keys() else None
        return {
            "framework": "dagster",
            "jobs": [describe_job(job) for job in self._jobs],
            "assets": describe_assets(defs),
            "asset_job": implicit.name if implicit is not None else None,
            "schedules": [s.to_dict() for s in self._schedules.values()],
            "sensors": [s.to_dict() for s in self._sensors.values()],
        }


def describe_job(job: dg.JobDefinition) -> dict[str, Any]:
    """One job as contracts.locations.JobDefinition JSON."""
    partitions = job.partitions_def
    keys: list[str] | None = None
    if isinstance(partitions, dg.StaticPartitionsDefinition):
        listed = partitions.get_partition_keys()
        keys = list(listed) if len(listed) <= MAX_LISTED_PARTITIONS else None
    description = job.description or ""
    if job.name.startswith("__ASSET_JOB") and not description:
        description = "Materialize any selection of the location's assets (Dagster's implicit asset job)."
    return {
        "name": job.name,
        "description": description,
        "config_schema": job_config_schema(job),
        "assets": sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys),
        "partitioned": partitions is not None,
        "partition_keys": keys,
        "validates_config": True,
    }


def config_errors(job: dg.JobDefinition, config: dict[str, Any]) -> list[str]:
    """Dagster's messages on `config` for `job`, or [] if Dagster accepts it."""
    try:
        dg.validate_run_config(job, config)
    except dg.DagsterInvalidConfigError as exc:
        return [error.message for error in exc.errors] or [str(exc)]
    return []


def describe_assets(defs: dg.Definitions) -> list[dict[str, Any]]:
    """Every asset: key, group, dependencies, description, owners, kinds, partitioned, checks."""
    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check_key in graph.asset_check_keys:
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(check_key.name)
    described = []
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        key = spec.key.to_user_string()
        described.append(
            {
                "key": key,
                "group": spec.group_name,
                "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
                "description": spec.description or "",
                "owners": list(spec.owners),
                "kinds": sorted(spec.kinds),
                "partitioned": spec.partitions_def is not None,
                "checks": sorted(checks.get(key, [])),
            }
        )
    return described
