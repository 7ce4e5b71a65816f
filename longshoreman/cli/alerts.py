"""`longshoreman alert ...`: list, show, add, remove, test, history and sync alert policies."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from contracts.alerts import (
    AlertEventKind,
    AlertPolicy,
    AlertPolicyList,
    AlertPolicySync,
    AlertSyncResult,
    AlertTestResult,
    DeliveryList,
    DeliveryOutcome,
)
from longshoreman.cli.api_client import CliError, connect
from longshoreman.cli.render import clip, console, print_json, short_when, validation_message
from longshoreman.cli.yaml_files import read_yaml

app = typer.Typer(help="Alert policies: which events go to which channels (email, Slack, Teams, ...).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
NameArg = Annotated[str, typer.Argument(help="The policy's name.")]
OUTCOME_STYLES = {
    DeliveryOutcome.DELIVERED: "green",
    DeliveryOutcome.FIRED: "cyan",
    DeliveryOutcome.FAILED: "yellow",
    DeliveryOutcome.GAVE_UP: "bold red",
    DeliveryOutcome.SKIPPED: "dim",
}


def _policy(data: Any, where: str) -> AlertPolicy:
    if not isinstance(data, dict):
        raise CliError(f"{where} must be a mapping of policy fields (name, events, channels, ...)")
    try:
        return AlertPolicy.model_validate(data)
    except ValidationError as exc:
        raise CliError(f"invalid alert policy in {where}: {validation_message(exc)}") from exc


def load_policies(path: Path) -> list[AlertPolicy]:
    """The policies of a YAML file: `policies: [...]`, a list, or one policy."""
    data = read_yaml(path)
    if isinstance(data, dict) and "policies" in data:
        data = data["policies"]
    items = data if isinstance(data, list) else [data]
    return [_policy(item, f"{path} (policy {index + 1})") for index, item in enumerate(items)]


def _events(policy: AlertPolicy) -> str:
    names = [kind.value for kind in policy.events]
    return ", ".join(names)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the policies."""
    with connect() as client:
        result = client.get("/api/alerts/policies", AlertPolicyList)
    if as_json:
        print_json(result)
        return
    if not result.policies:
        console.print("No alert policies. Add one with `longshoreman alert add`.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("POLICY", "ENABLED", "EVENTS", "FILTERS", "CHANNELS"):
        table.add_column(column, overflow="fold")
    for policy in result.policies:
        filters = policy.filters
        shown = [f"location={x}" for x in filters.locations] + [f"job={x}" for x in filters.jobs]
        shown += [f"tag {k}={v}" for k, v in filters.tags.items()]
        channels = ", ".join(f"{c.name} ({c.kind})" for c in policy.channels) or "[yellow]none[/]"
        table.add_row(
            escape(policy.name),
            "yes" if policy.enabled else "[dim]no[/]",
            escape(_events(policy)),
            escape(", ".join(shown) or "-"),
            channels if not policy.channels else escape(channels),
        )
    console.print(table)


@app.command()
def show(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show one policy (channel secrets as ***) as YAML, ready to edit and `alert add --replace --file`."""
    with connect() as client:
        policy = client.get(f"/api/alerts/policies/{name}", AlertPolicy)
    if as_json:
        print_json(policy)
        return
    typer.echo(yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False).rstrip())


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise CliError(f"{option} {value!r}: expected KEY=VALUE")
        pairs[key] = item
    return pairs


@app.command()
def add(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="YAML file of one policy (or several).")] = None,
    name: Annotated[str | None, typer.Option(help="The policy's name.")] = None,
    event: Annotated[list[AlertEventKind] | None, typer.Option(help="An event to alert on (repeat).")] = None,
    location: Annotated[list[str] | None, typer.Option(help="Only these locations (patterns; repeat).")] = None,
    job: Annotated[list[str] | None, typer.Option(help="Only runs of these jobs (patterns; repeat).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only runs with this tag, KEY=VALUE (repeat).")] = None,
    long_running_s: Annotated[float | None, typer.Option(help="run_long_running after this many seconds.")] = None,
    queued_s: Annotated[float | None, typer.Option(help="run_queued_long after this many seconds.")] = None,
    unhealthy_s: Annotated[float | None, typer.Option(help="location_unhealthy after this many seconds.")] = None,
    unavailable_s: Annotated[float | None, typer.Option(help="agent_unavailable after this many seconds.")] = None,
    webhook: Annotated[str | None, typer.Option(help="A webhook URL (needs --webhook-secret).")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="The webhook's HMAC signing secret.")] = None,
    slack: Annotated[str | None, typer.Option(help="A Slack webhook or apprise slack:// URL.")] = None,
    teams: Annotated[str | None, typer.Option(help="A Teams Workflows webhook or apprise URL.")] = None,
    pagerduty: Annotated[str | None, typer.Option(help="An apprise pagerduty:// URL.")] = None,
    email_to: Annotated[list[str] | None, typer.Option(help="Mail alerts to this address (repeat).")] = None,
    smtp_host: Annotated[str | None, typer.Option(help="SMTP server for --email-to.")] = None,
    smtp_port: Annotated[int, typer.Option(help="SMTP port.")] = 587,
    smtp_user: Annotated[str | None, typer.Option(help="SMTP user name.")] = None,
    smtp_password: Annotated[str | None, typer.Option(help="SMTP password.")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="The mails' From address.")] = None,
    no_starttls: Annotated[bool, typer.Option("--no-starttls", help="Plain SMTP (a relay on localhost).")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a policy of that name.")] = False,
) -> None:
    """Add a policy from a YAML file or from options."""
    if file is not None:
        if name is not None or event:
            raise CliError("use either --file or --name/--event/... options, not both")
        policies = load_policies(file)
    else:
        if name is None or not event:
            raise CliError("give --file policy.yaml, or at least --name and one --event")
        channels: list[dict[str, Any]] = []
        if webhook is not None:
            if not webhook_secret:
                raise CliError("--webhook needs --webhook-secret (the receiver verifies the signature with it)")
            channels.append({"name": "webhook", "kind": "webhook", "url": webhook, "signing_secret": webhook_secret})
        for kind, url in (("slack", slack), ("teams", teams), ("pagerduty", pagerduty)):
            if url is not None:
                channels.append({"name": kind, "kind": kind, "url": url})
        if email_to:
            if smtp_host is None or sender is None:
                raise CliError("--email-to needs --smtp-host and --from")
            channels.append(
                {
                    "name": "email",
                    "kind": "email",
                    "smtp_host": smtp_host,
                    "smtp_port": smtp_port,
                    "starttls": not no_starttls,
                    "username": smtp_user,
                    "password": smtp_password,
                    "sender": sender,
                    "to": email_to,
                }
            )
        thresholds = {
            "run_long_running_s": long_running_s,
            "run_queued_s": queued_s,
            "location_unhealthy_s": unhealthy_s,
            "agent_unavailable_s": unavailable_s,
        }
        data = {
            "name": name,
            "events": [kind.value for kind in event],
            "thresholds": {k: v for k, v in thresholds.items() if v is not None},
            "filters": {"locations": location or [], "jobs": job or [], "tags": _pairs(tag or [], "--tag")},
            "channels": channels,
        }
        policies = [_policy(data, "the options")]
    with connect() as client:
        for policy in policies:
            if replace:
                client.send("PUT", f"/api/alerts/policies/{policy.name}", policy, AlertPolicy)
            else:
                client.send("POST", "/api/alerts/policies", policy, AlertPolicy)
            console.print(f"alert policy {escape(policy.name)}: {len(policy.channels)} channel(s)")


@app.command()
def remove(name: NameArg) -> None:
    """Remove a policy."""
    with connect() as client:
        client.request("DELETE", f"/api/alerts/policies/{name}")
    console.print(f"removed alert policy {escape(name)}")


@app.command()
def sync(
    file: Annotated[Path, typer.Argument(help="YAML file: `policies: [...]`.")],
    prune: Annotated[bool, typer.Option("--prune", help="Remove every policy the file does not list.")] = False,
) -> None:
    """Make the control plane's policies those of a YAML file (for CI)."""
    request = AlertPolicySync(policies=load_policies(file), prune=prune)
    with connect() as client:
        result = client.send("POST", "/api/alerts/sync", request, AlertSyncResult)
    for word, names in (
        ("created", result.created),
        ("updated", result.updated),
        ("unchanged", result.unchanged),
        ("removed", result.removed),
    ):
        if names:
            console.print(f"{word}: {escape(', '.join(names))}")


@app.command()
def test(
    name: NameArg,
    wait: Annotated[float, typer.Option(help="Seconds to wait for every channel's delivery (0: do not wait).")] = 30,
) -> None:
    """Send a test alert to every channel of a policy; exit 0 once each one took it."""
    with connect() as client:
        sent = client.send("POST", f"/api/alerts/policies/{name}/test", None, AlertTestResult)
        if not sent.channels:
            raise CliError(f"alert policy '{name}' has no channel to test")
        console.print(f"test alert {sent.event_id} sent to {', '.join(sent.channels)}")
        if wait <= 0:
            return
        deadline = time.monotonic() + wait
        while True:
            records = client.get("/api/alerts/history", DeliveryList, event=sent.event_id, limit=1000).deliveries
            delivered = {r.channel for r in records if r.outcome is DeliveryOutcome.DELIVERED}
            failed = {r.channel: r.error for r in records if r.outcome is DeliveryOutcome.FAILED}
            if delivered >= set(sent.channels):
                console.print(f"delivered to {', '.join(sorted(delivered))}")
                return
            if time.monotonic() >= deadline:
                missing = sorted(set(sent.channels) - delivered)
                errors = "; ".join(f"{c}: {failed[c]}" for c in missing if c in failed) or "no answer yet"
                raise CliError(
                    f"not delivered within {wait:g} s to {', '.join(missing)} ({errors}); "
                    "retries go on: see `longshoreman alert history`"
                )
            time.sleep(0.5)


@app.command()
def history(
    policy: Annotated[str | None, typer.Option(help="Only this policy.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event id.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this run id, location or agent.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Every delivery attempt, newest first: policy, event, channel, time, outcome, error."""
    with connect() as client:
        result = client.get(
            "/api/alerts/history", DeliveryList, policy=policy, event=event, subject=subject, limit=limit
        )
    if as_json:
        print_json(result)
        return
    if not result.deliveries:
        console.print("No alert deliveries yet.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("TIME", "POLICY", "EVENT", "SUBJECT", "CHANNEL", "ATTEMPT", "OUTCOME"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("ERROR", overflow="fold")
    for record in result.deliveries:
        style = OUTCOME_STYLES.get(record.outcome, "")
        table.add_row(
            short_when(record.time),
            escape(record.policy),
            record.event_kind.value,
            escape(clip(record.subject, 30)),
            escape(record.channel),
            str(record.attempt) if record.attempt else "-",
            f"[{style}]{record.outcome.value}[/]",
            escape(clip(record.error, 80)),
        )
    console.print(table)
