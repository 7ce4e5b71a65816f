"""Slack, Microsoft Teams, PagerDuty (and any apprise service) through apprise, the library Prefect's notifications
use: its URL schemes (`slack://...`, a Slack or Teams Workflows webhook URL, `pagerduty://...`) hold the keys."""

from __future__ import annotations

import apprise

# Which apprise plugin modules each channel kind accepts ('apprise' takes any). Teams: Microsoft retired the
# Office 365 connectors; Teams now receives webhooks through Power Automate Workflows (`workflows://`).
PLUGINS = {
    "slack": ("apprise.plugins.slack",),
    "teams": ("apprise.plugins.workflows", "apprise.plugins.msteams"),
    "pagerduty": ("apprise.plugins.pagerduty",),
}


def check_apprise_url(kind: str, url: str) -> str | None:
    """Why `url` is not a usable URL of channel `kind` (never echoing the URL: it holds keys), or None."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return f"the url is not an apprise URL of a service apprise knows ({kind})"
    modules = PLUGINS.get(kind)
    if modules is not None and type(plugin).__module__ not in modules:
        return f"the url is a {plugin.service_name} URL, not a {kind} one"
    return None


def send_apprise(kind: str, url: str, title: str, body: str) -> None:
    """Send one notification (blocking: run it in a thread); RuntimeError with apprise's own words if it fails."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise RuntimeError(f"apprise does not accept the {kind} URL")
    with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
        sent = notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    if not sent:
        lines = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
        raise RuntimeError(f"{kind} notification failed: {lines[-1] if lines else 'no detail from apprise'}")
