"""Kubernetes-specific options of a code location and per-run overrides (used only by the kubernetes launcher)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class KubernetesOptions(BaseModel):
    """How the kubernetes launcher runs this location's Deployment and Jobs."""

    model_config = ConfigDict(extra="forbid")


class KubernetesRunOverrides(BaseModel):
    """Per-run overrides of the location's kubernetes options."""

    model_config = ConfigDict(extra="forbid")
