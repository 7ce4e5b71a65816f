"""Configuration of the control-plane process (environment `LONGSHOREMAN_*`, optional YAML file)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from contracts.alerts import CONTROL_PLANE_QUEUE
from controlplane.database import Database
from runtime.settings import ProcessSettings


class ControlPlaneSettings(ProcessSettings):
    """Everything the control plane reads from its environment; env vars win over the YAML file."""

    database_url: str = Field(
        default="sqlite:///.longshoreman/controlplane.db",
        description="sqlite:///PATH (its directory is created) or postgresql://USER:PASSWORD@HOST:PORT/DATABASE.",
    )
    database_pool_size: int = Field(
        default=10, ge=1, description="Database connections each control plane keeps open (PostgreSQL and files)."
    )
    database_max_overflow: int = Field(
        default=20, ge=0, description="Extra connections opened under load on top of the pool, closed afterwards."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    temporal_ui_url: str = "http://127.0.0.1:8233"
    admin_token: SecretStr | None = Field(
        default=None, description="Bootstrap admin token; if unset and none exists, one is generated and printed once."
    )
    temporal_update_timeout_s: float = Field(
        default=15.0, gt=0, description="How long a redeploy waits for the location workflow to accept the update."
    )
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body under /api/; larger ones get 413."
    )
    run_token_grace_s: float = Field(
        default=3600.0, ge=0, description="A run's tokens expire this long after the run reached its final status."
    )
    session_ttl_s: float = Field(
        default=12 * 3600, gt=0, le=30 * 86400, description="A browser session ends this long after sign-in."
    )
    run_monitor_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often runs are reconciled with their workflows (closed ones end) and queued ones looked at.",
    )
    agent_timeout_s: float = Field(
        default=20.0, gt=0, description="An agent silent this long is UNAVAILABLE (it heartbeats every few seconds)."
    )
    automation_sync_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often schedules and sensors still pending (Temporal was down, another replica changed "
        "them) are applied to Temporal; every one of them is checked every 10 minutes.",
    )
    automation_evaluation_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A schedule or sensor evaluation in its code server takes at most this.",
    )
    config_check_timeout_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="A launch of a job that validates its config (Dagster) waits this long at most for its code "
        "server's verdict (ValidateConfigWorkflow); without one it goes on unchecked (0: never ask).",
    )
    run_wait_recheck_s: float = Field(
        default=1.0,
        gt=0,
        description="A `GET /api/runs/{id}/wait` re-reads its run this often (a final status another replica "
        "stored on SQLite; on PostgreSQL every replica hears of it at once).",
    )
    ui_stream_poll_s: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="How often a run page's live stream looks for the run's new log lines, events and status.",
    )
    codec_cors_origins: list[str] | None = Field(
        default=None,
        description="Origins allowed to call /codec/* from a browser (the Temporal UI); default: TEMPORAL_UI_URL's.",
    )

    public_url: str | None = Field(
        default=None,
        description="The control plane's URL as users reach it, for links in alerts; default http://HOST:PORT.",
    )
    alerts_task_queue: str = Field(
        default=CONTROL_PLANE_QUEUE,
        min_length=1,
        description="Task queue of the control plane's own Temporal worker (alert deliveries, agent watches).",
    )
    alerts_worker: bool = Field(
        default=True, description="Run that worker in this process (every replica may: they share the queue)."
    )
    alert_retry_period_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="An alert a channel does not take is retried with exponential backoff for this long.",
    )
    alert_retry_max_interval_s: float = Field(
        default=60.0, gt=0, description="The longest wait between two attempts of one channel."
    )
    alert_channel_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="One attempt of one channel (SMTP, HTTP) gives up after this."
    )
    alert_sweep_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often alert events another process stored but did not dispatch (it died) are picked up.",
    )
    alert_history_days: float = Field(
        default=30.0, gt=0, description="Alert events and delivery records are kept this long (`alert history`)."
    )
    alert_agent_check_interval_s: float = Field(
        default=5.0, gt=0, description="How often each agent's watch workflow looks whether it is still there."
    )

    def links_base(self) -> str:
        """The control plane's URL in alert messages."""
        if self.public_url:
            return self.public_url
        # Listening on every interface says nothing of how users reach it: the loopback at least works locally.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def database(self) -> Database:
        """The database of `database_url` (DatabaseConfigError if the URL is not one the control plane can use)."""
        return Database(self.database_url, self.database_pool_size, self.database_max_overflow)
