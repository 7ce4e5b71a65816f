"""Links from the control plane's views to the Temporal Web UI page of each workflow."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class TemporalLinks:
    """Builds Temporal Web UI URLs for workflow ids of one namespace."""

    ui_url: str
    namespace: str

    def workflow(self, workflow_id: str) -> str:
        """The UI page of the workflow's latest execution."""
        base = self.ui_url.rstrip("/")
        return f"{base}/namespaces/{quote(self.namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"


def workflow_url(links: TemporalLinks | None, workflow_id: str) -> str | None:
    """The UI URL, or None when no UI is configured."""
    return links.workflow(workflow_id) if links is not None and links.ui_url else None
