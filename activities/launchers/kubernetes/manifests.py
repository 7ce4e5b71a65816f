"""The bodies of what the kubernetes launcher creates: Deployment + Service per code server, Job per run attempt.

Plain JSON dicts in the API's own camelCase, so what a test reads back from the API server is exactly what
was built here. Every object carries the labels below; the launcher finds its objects by them (and by
name), never by anything it keeps in memory.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from activities.launchers.base import run_worker_env
from activities.launchers.kubernetes.settings import KubernetesLauncherSettings
from contracts.agent import LaunchRunInput
from contracts.code_server_protocol import PORT_VAR, code_server_command
from contracts.kubernetes import KubernetesOptions, KubernetesRunOverrides
from contracts.locations import LocationSpec
from contracts.run_protocol import TOKEN_VAR, RunWorkerEnv, run_worker_command

Body = dict[str, Any]

MANAGED_BY = "longshoreman.io/managed-by"
AGENT = "longshoreman.io/agent"
NAME = "longshoreman.io/name"  # the launcher's idempotency key: code_server_name() or run_worker_name()
COMPONENT = "longshoreman.io/component"
LOCATION = "longshoreman.io/location"
GENERATION = "longshoreman.io/generation"
INSTANCE = "longshoreman.io/instance"
RUN_ID = "longshoreman.io/run-id"
ATTEMPT = "longshoreman.io/attempt"
STOPPED_AT = "longshoreman.io/stopped-at"
MANAGER = "longshoreman"

CODE_SERVER, RUN_WORKER, STOP_MARKER = "code-server", "run-worker", "stop-marker"
SERVER_CONTAINER, WORKER_CONTAINER = "code-server", "run"
TERMINATION_LOG = "/dev/termination-log"
PULL_POLICIES = {"always": "Always", "if-not-present": "IfNotPresent", "never": "Never"}
# Docker-style memory suffixes to Kubernetes quantities ("512m" is 512 MB to docker, 0.512 bytes to Kubernetes).
MEMORY_SUFFIXES = {
    "": "",
    "k": "k",
    "K": "k",
    "m": "M",
    "M": "M",
    "g": "G",
    "G": "G",
    "Ki": "Ki",
    "Mi": "Mi",
    "Gi": "Gi",
}


def object_name(name: str) -> str:
    """The Kubernetes name of a server or worker: Service names must start with a letter, location names need not."""
    return name if name[:1].isalpha() else f"ls-{name}"


def marker_name(worker: str) -> str:
    """Name of the ConfigMap that records 'this attempt was stopped: never launch it'."""
    return f"{worker}-stop"


def selector(agent: str) -> str:
    """Label selector of everything one agent manages (servers may ignore it: the cache filters again)."""
    return f"{MANAGED_BY}={MANAGER},{AGENT}={agent}"


def is_ours(obj: Body, agent: str) -> bool:
    """Whether an object carries this agent's labels."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGER and labels.get(AGENT) == agent


def server_labels(spec: LocationSpec, generation: int, instance: int, name: str, agent: str) -> dict[str, str]:
    """Labels of a code server's Deployment, Service and pods."""
    return {
        MANAGED_BY: MANAGER,
        AGENT: agent,
        COMPONENT: CODE_SERVER,
        NAME: name,
        LOCATION: spec.name,
        GENERATION: str(generation),
        INSTANCE: str(instance),
    }


def worker_labels(request: LaunchRunInput, name: str, agent: str) -> dict[str, str]:
    """Labels of a run worker's Job, pod and token Secret."""
    return {
        MANAGED_BY: MANAGER,
        AGENT: agent,
        COMPONENT: RUN_WORKER,
        NAME: name,
        LOCATION: request.location.name,
        RUN_ID: request.run_id,
        ATTEMPT: str(request.attempt),
    }


def effective_options(options: KubernetesOptions, overrides: KubernetesRunOverrides | None) -> KubernetesOptions:
    """The location's options with a run's overrides applied (set fields replace; annotations and labels add)."""
    if overrides is None:
        return options
    update = {
        key: value
        for key, value in overrides.model_dump(exclude_none=True, exclude={"cpu", "memory"}).items()
        if key not in ("annotations", "labels")
    }
    update["annotations"] = options.annotations | (overrides.annotations or {})
    update["labels"] = options.labels | (overrides.labels or {})
    merged = options.model_dump() | update
    return KubernetesOptions.model_validate(merged)


def cpu_quantity(cpu: float) -> str:
    """CPUs as a Kubernetes quantity: 2 → '2', 0.5 → '500m'."""
    return str(int(cpu)) if float(cpu).is_integer() else f"{round(cpu * 1000)}m"


def memory_quantity(memory: str) -> str:
    """A spec's memory ('512Mi', '1g', '512m') as a Kubernetes quantity ('512Mi', '1G', '512M')."""
    number = memory.rstrip("KMGikmg")
    return number + MEMORY_SUFFIXES[memory[len(number) :]]


def resources(cpu: float | None, memory: str | None) -> Body:
    """Requests = limits: a run gets what it asked for and cannot take more."""
    amounts: dict[str, str] = {}
    if cpu is not None:
        amounts["cpu"] = cpu_quantity(cpu)
    if memory is not None:
        amounts["memory"] = memory_quantity(memory)
    return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


def _env(values: dict[str, str]) -> list[Body]:
    return [{"name": key, "value": value} for key, value in values.items()]


def _pod_spec(options: KubernetesOptions, container: Body, restart_policy: str) -> Body:
    spec: Body = {"containers": [container], "restartPolicy": restart_policy}
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    else:
        # User code gets no API credentials unless the location names a service account for it.
        spec["automountServiceAccountToken"] = False
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        spec["tolerations"] = [
            {
                key: value
                for key, value in {
                    "key": t.key,
                    "operator": t.operator,
                    "value": t.value,
                    "effect": t.effect,
                    "tolerationSeconds": t.toleration_seconds,
                }.items()
                if value is not None
            }
            for t in options.tolerations
        ]
    if options.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    if options.priority_class_name:
        spec["priorityClassName"] = options.priority_class_name
    if options.termination_grace_period_s is not None:
        spec["terminationGracePeriodSeconds"] = options.termination_grace_period_s
    return spec


def _container(name: str, spec: LocationSpec, options: KubernetesOptions, command: list[str], env: list[Body]) -> Body:
    container: Body = {
        "name": name,
        "image": spec.image,
        "imagePullPolicy": PULL_POLICIES[spec.image_pull_policy],
        "command": command,
        "env": env,
        # The run executor writes its failure reason here; without one, the last log lines stand in.
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    env_from = [{"secretRef": {"name": n}} for n in options.env_from_secrets]
    env_from += [{"configMapRef": {"name": n}} for n in options.env_from_config_maps]
    if env_from:
        container["envFrom"] = env_from
    if spec.working_dir:
        container["workingDir"] = spec.working_dir
    return container


def _metadata(name: str, namespace: str, labels: dict[str, str], options: KubernetesOptions) -> Body:
    return {"name": name, "namespace": namespace, "labels": options.labels | labels}


def deployment(
    spec: LocationSpec, name: str, namespace: str, labels: dict[str, str], settings: KubernetesLauncherSettings
) -> Body:
    """The code server: `replicas` pods of the image, ready when the health path answers."""
    options = spec.kubernetes
    command = code_server_command(
        settings.python, spec.module, spec.port, "0.0.0.0", spec.command, spec.framework, spec.python_file
    )
    env = _env(spec.env | {"PYTHONUNBUFFERED": "1", PORT_VAR: str(spec.port)}) + _secret_refs(name, spec.secret_env)
    container = _container(SERVER_CONTAINER, spec, options, command, env)
    container["ports"] = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
    container["readinessProbe"] = {
        "httpGet": {"path": spec.health_path, "port": spec.port},
        "periodSeconds": settings.readiness_period_s,
        "failureThreshold": 3,
    }
    if spec.resources.cpu is not None or spec.resources.memory is not None:
        container["resources"] = resources(spec.resources.cpu, spec.resources.memory)
    match = {MANAGED_BY: MANAGER, AGENT: labels[AGENT], NAME: labels[NAME]}
    template: Body = {"metadata": {"labels": options.labels | labels}, "spec": _pod_spec(options, container, "Always")}
    if options.annotations:
        template["metadata"]["annotations"] = dict(options.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, namespace, labels, options),
        "spec": {
            "replicas": options.replicas or settings.replicas,
            "selector": {"matchLabels": match},
            "revisionHistoryLimit": 1,  # an instance is never rolled: a redeploy is a new Deployment
            "template": template,
        },
    }


def service(spec: LocationSpec, name: str, namespace: str, labels: dict[str, str]) -> Body:
    """The code server's stable address: `<name>.<namespace>:<port>` inside the cluster."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, labels, spec.kubernetes),
        "spec": {
            "type": "ClusterIP",
            "selector": {MANAGED_BY: MANAGER, AGENT: labels[AGENT], NAME: labels[NAME]},
            "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port, "protocol": "TCP"}],
        },
    }


def job(
    request: LaunchRunInput,
    options: KubernetesOptions,
    name: str,
    namespace: str,
    labels: dict[str, str],
    settings: KubernetesLauncherSettings,
    control_plane_url: str,
) -> Body:
    """One run attempt: one pod, never restarted or retried by Kubernetes (retries are the workflow's)."""
    spec = request.location
    run_env = {"PYTHONUNBUFFERED": "1"} | run_worker_env(
        request, control_plane_url, termination_file=TERMINATION_LOG
    ).to_env()
    # The token is only a reference here: its value lives in the run's Secret, not in the Job's spec.
    token = {"name": TOKEN_VAR, "valueFrom": {"secretKeyRef": {"name": name, "key": TOKEN_VAR}}}
    # The spec's env first: the run's own variables win over a user's value of the same name.
    reserved = RunWorkerEnv.names()
    env = _env({k: v for k, v in spec.env.items() if k not in reserved}) + _env(run_env) + [token]
    env += _secret_refs(name, {k: v for k, v in spec.secret_env.items() if k not in reserved})
    command = run_worker_command(settings.python)
    container = _container(WORKER_CONTAINER, spec, options, command, env)
    overrides = request.kubernetes
    cpu = overrides.cpu if overrides and overrides.cpu is not None else spec.resources.cpu
    memory = overrides.memory if overrides and overrides.memory is not None else spec.resources.memory
    if cpu is not None or memory is not None:
        container["resources"] = resources(cpu, memory)
    template: Body = {"metadata": {"labels": options.labels | labels}, "spec": _pod_spec(options, container, "Never")}
    if options.annotations:
        template["metadata"]["annotations"] = dict(options.annotations)
    job_spec: Body = {"backoffLimit": 0, "ttlSecondsAfterFinished": settings.job_ttl_s, "template": template}
    if request.max_runtime_s is not None:
        # A backstop for when no agent is watching: the workflow's own timer normally stops the run first.
        job_spec["activeDeadlineSeconds"] = int(request.max_runtime_s) + settings.deadline_slack_s
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(name, namespace, labels, options),
        "spec": job_spec,
    }


def token_secret(
    name: str, namespace: str, labels: dict[str, str], token: str, secret_env: dict[str, str] | None = None
) -> Body:
    """The run's token and the location's secret_env, read by the pod through env valueFrom; owned by the Job
    once it exists."""
    return env_secret(name, namespace, labels, (secret_env or {}) | {TOKEN_VAR: token})


def env_secret(name: str, namespace: str, labels: dict[str, str], values: dict[str, str]) -> Body:
    """A Secret holding environment values: their values stay out of the Deployment's or Job's spec."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }


def _secret_refs(secret: str, values: dict[str, str]) -> list[Body]:
    return [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for key in sorted(values)]


def owner_patch(owner: Body) -> Body | None:
    """Make the Job own its Secret, so deleting the Job (TTL or cancel) deletes the token with it."""
    meta = owner.get("metadata", {})
    if not meta.get("uid"):
        return None
    reference = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "uid": meta["uid"],
        # blockOwnerDeletion would need update on jobs/finalizers: not worth the privilege.
        "blockOwnerDeletion": False,
    }
    return {"metadata": {"ownerReferences": [reference]}}


def stop_marker(worker: str, namespace: str, run_id: str, attempt: int, agent: str, now: datetime) -> Body:
    """'This attempt was stopped': a launch that arrives later (a retried activity) must not start it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": marker_name(worker),
            "namespace": namespace,
            "labels": {
                MANAGED_BY: MANAGER,
                AGENT: agent,
                COMPONENT: STOP_MARKER,
                NAME: worker,
                RUN_ID: run_id,
                ATTEMPT: str(attempt),
            },
            "annotations": {STOPPED_AT: now.isoformat()},
        },
        "data": {"worker": worker},
    }


def parse_time(value: object) -> datetime | None:
    """An API timestamp ('2026-01-02T03:04:05Z') as an aware datetime, or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def created_at(obj: Body) -> datetime:
    """When the object was created (an adopted one keeps its age), else now."""
    return parse_time(obj.get("metadata", {}).get("creationTimestamp")) or datetime.now(UTC)
