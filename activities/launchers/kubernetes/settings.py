"""The agent's settings for the kubernetes launcher (env LONGSHOREMAN_KUBERNETES__<FIELD>)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from contracts.kubernetes import DNS_LABEL


class KubernetesLauncherSettings(BaseModel):
    """Where the launcher talks to the API, and the defaults of what it creates."""

    # ---- the API server ----
    namespace: str = Field(default="default", pattern=DNS_LABEL, description="The agent's home namespace.")
    extra_namespaces: list[str] = Field(
        default_factory=list, description="Further namespaces locations may choose (each needs the Role bound)."
    )
    api_url: str | None = Field(
        default=None, description="Talk to this API URL directly (tests, kubectl proxy); else in-cluster/kubeconfig."
    )
    api_token: SecretStr | None = Field(default=None, description="Bearer token for api_url.")
    verify_tls: bool = True
    in_cluster: bool | None = Field(
        default=None, description="Use the pod's service account; default: when KUBERNETES_SERVICE_HOST is set."
    )
    kubeconfig: Path | None = Field(default=None, description="Kubeconfig file; default: ~/.kube/config.")
    context: str | None = None
    request_timeout_s: float = Field(default=30.0, gt=0)
    api_concurrency: int = Field(default=16, ge=1, description="API calls in flight at once (a thread each).")

    # ---- identity and reachability ----
    agent_name: str = Field(
        default="longshoreman",
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
        description="Label of everything this agent creates; replicas of one agent share it.",
    )
    control_plane_url: str | None = Field(
        default=None, description="Control-plane URL as run pods reach it; default: the agent's."
    )
    server_url_template: str = Field(
        default="http://{service}.{namespace}:{port}", description="How the agent reaches a code server's Service."
    )
    python: str = Field(default="python", description="Python in the user's image.")

    # ---- what gets created ----
    replicas: int = Field(default=1, ge=1, le=50, description="Code-server replicas unless the location says.")
    readiness_period_s: int = Field(default=5, ge=1)
    job_ttl_s: int = Field(default=3600, ge=0, description="ttlSecondsAfterFinished of run Jobs.")
    deadline_slack_s: int = Field(
        default=300,
        ge=0,
        description="activeDeadlineSeconds = max runtime + this: a backstop behind the workflow's own timer.",
    )

    # ---- when a pod that is stuck counts as failed ----
    image_pull_grace_s: float = Field(default=60.0, ge=0, description="ImagePullBackOff/ErrImagePull this long.")
    config_error_grace_s: float = Field(default=30.0, ge=0, description="CreateContainerConfigError this long.")
    worker_start_timeout_s: float = Field(
        default=120.0, gt=0, description="A run pod unschedulable this long after launch has failed."
    )
    missing_grace_s: float = Field(
        default=30.0, gt=0, description="A launched object not seen for this long is lost (watch lag before)."
    )

    # ---- the watch cache ----
    watch_timeout_s: int = Field(default=300, ge=5, description="Server-side watch timeout; then re-watch.")
    tombstone_ttl_s: float = Field(default=7 * 86400, gt=0, description="How long a stopped attempt stays refused.")
    sync_timeout_s: float = Field(default=10.0, gt=0, description="Wait this long for the first list at start.")

    def namespaces(self) -> list[str]:
        """Every namespace the launcher watches, its home namespace first."""
        return [self.namespace, *(ns for ns in self.extra_namespaces if ns != self.namespace)]
