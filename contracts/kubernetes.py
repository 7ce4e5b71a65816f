"""Kubernetes-specific options of a code location and per-run overrides (used only by the kubernetes launcher)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# DNS-1123 label: namespaces, service accounts, secrets, config maps, priority classes.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
MEMORY = r"^[0-9]+(\.[0-9]+)?(k|m|g|Ki|Mi|Gi|K|M|G)?$"
RESERVED_PREFIX = "longshoreman.io/"


class Toleration(BaseModel):
    """A pod toleration, as in the Kubernetes API (snake_case here)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, ge=0)


def _no_reserved_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    # The launcher finds its objects by these labels: a user value would hijack or hide them.
    for key in labels or {}:
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"label '{key}': the prefix {RESERVED_PREFIX} is reserved for the agent")
    return labels


class KubernetesOptions(BaseModel):
    """How the kubernetes launcher runs this location's Deployment and its runs' Jobs."""

    model_config = ConfigDict(extra="forbid")

    namespace: str | None = Field(
        default=None, pattern=DNS_LABEL, description="One of the namespaces the agent watches; default: the agent's."
    )
    service_account: str | None = Field(default=None, pattern=DNS_SUBDOMAIN)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    image_pull_secrets: list[str] = Field(default_factory=list, description="Names of docker-registry Secrets.")
    env_from_secrets: list[str] = Field(default_factory=list, description="Secrets whose keys become env vars.")
    env_from_config_maps: list[str] = Field(default_factory=list, description="ConfigMaps whose keys become env vars.")
    replicas: int | None = Field(default=None, ge=1, le=50, description="Code-server replicas; default: the agent's.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Added to the pods.")
    labels: dict[str, str] = Field(default_factory=dict, description="Added to every object; not longshoreman.io/*.")
    priority_class_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN)
    termination_grace_period_s: int | None = Field(
        default=None, ge=0, le=3600, description="Pod terminationGracePeriodSeconds; default: Kubernetes' (30 s)."
    )

    _labels_ok = field_validator("labels")(_no_reserved_labels)


class KubernetesRunOverrides(BaseModel):
    """Per-run overrides of the location's kubernetes options.

    Every field left unset keeps the location's value; a set field replaces it, except `annotations` and
    `labels`, which are added to the location's.
    """

    model_config = ConfigDict(extra="forbid")

    service_account: str | None = Field(default=None, pattern=DNS_SUBDOMAIN)
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    image_pull_secrets: list[str] | None = None
    env_from_secrets: list[str] | None = None
    env_from_config_maps: list[str] | None = None
    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    priority_class_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN)
    cpu: float | None = Field(default=None, gt=0, description="Replaces the location's CPU limit for this run.")
    memory: str | None = Field(default=None, pattern=MEMORY, description="Replaces the location's memory limit.")

    _labels_ok = field_validator("labels")(_no_reserved_labels)
