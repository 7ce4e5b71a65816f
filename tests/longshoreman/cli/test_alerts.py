"""`longshoreman alert ...` against a real control plane: sync a YAML file, list and show (secrets as ***),
`alert test` reaching every channel (a real SMTP server, a signed webhook, apprise's json:// to an HTTP server),
history, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.support.alert_receivers import SmtpReceiver, WebhookReceiver
from tests.support.control_plane import ControlPlane


def test_alert_policies_from_a_yaml_file_and_a_test_alert_to_every_channel(
    control_plane: ControlPlane, unique: str, tmp_path: Path
) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    smtp = SmtpReceiver().start()
    hook = WebhookReceiver().up()
    plain = WebhookReceiver(signed=False).up()
    name = f"team-{unique}"
    try:
        policy = {
            "name": name,
            "events": ["run_failure", "location_unhealthy"],
            "filters": {"locations": [f"etl-{unique}-*"]},
            "channels": [
                smtp.channel(to=f"{unique}@example.com"),
                hook.channel(),
                {"name": "apprise", "kind": "apprise", "url": f"json://127.0.0.1:{plain.port}/apprise"},
            ],
        }
        file = tmp_path / "alerts.yaml"
        file.write_text(yaml.safe_dump({"policies": [policy]}))
        synced = cli("alert", "sync", str(file))
        assert synced.exit_code == 0 and f"created: {name}" in synced.stdout, synced.output
        again = cli("alert", "sync", str(file))
        assert again.exit_code == 0 and f"unchanged: {name}" in again.stdout, again.output

        listed = cli("alert", "list")
        assert listed.exit_code == 0 and name in listed.stdout and "hook (webhook)" in listed.stdout
        shown = json.loads(cli("alert", "show", name, "--json").stdout)
        assert [c.get("url", c.get("password")) for c in shown["channels"]] == [None, "***", "***"]
        assert hook.secret not in cli("alert", "show", name).stdout

        tested = cli("alert", "test", name, "--wait", "30")
        assert tested.exit_code == 0, tested.output
        assert "delivered to apprise, hook, mail" in tested.stdout
        assert (
            len(smtp.mails) == 1 and smtp.mails[0].message["Subject"] == f"[Longshoreman] Test alert of policy {name}"
        )
        assert len(hook.hooks) == 1 and hook.hooks[0].verified
        assert len(plain.hooks) == 1 and plain.hooks[0].path == "/apprise"
        assert f"Test alert of policy {name}" in plain.hooks[0].body.decode()

        records = json.loads(cli("alert", "history", "--policy", name, "--json").stdout)["deliveries"]
        assert sorted((r["channel"], r["outcome"]) for r in records) == [
            ("*", "fired"),
            ("apprise", "delivered"),
            ("hook", "delivered"),
            ("mail", "delivered"),
        ]
        table = cli("alert", "history", "--policy", name)
        assert table.exit_code == 0 and "delivered" in table.stdout

        # Bad input: one readable line, nothing stored.
        assert "invalid alert policy" in one_error_line(
            cli("alert", "add", "--name", "Bad Name", "--event", "run_failure")
        )
        slack = cli("alert", "add", "--name", f"s-{unique}", "--event", "run_failure", "--slack", "json://127.0.0.1/x")
        assert "the url is a JSON URL, not a slack one" in one_error_line(slack)
        assert "already exists" in one_error_line(cli("alert", "add", "--file", str(file)))
        assert cli("alert", "remove", name).exit_code == 0
        assert "does not exist" in one_error_line(cli("alert", "test", name))
        assert name not in cli("alert", "list").stdout
    finally:
        smtp.stop()
        hook.down()
        plain.down()
