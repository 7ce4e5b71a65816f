"""`token list | rotate | revoke`, and the attempt options of `run launch`, against a real control plane."""

from __future__ import annotations

import httpx

from contracts.api import LaunchRunResponse, TokenCreated, TokenList
from contracts.locations import JobDefinition
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.longshoreman.cli.test_locations_and_runs import add_location, report_loaded
from tests.support.control_plane import ControlPlane


def test_run_launch_takes_retries_backoff_cancel_grace_and_queued_timeout(
    control_plane: ControlPlane, unique: str
) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name = f"opts-{unique}"
    add_location(cli, name, f"q-{unique}")
    report_loaded(control_plane, name, [JobDefinition(name="noop")])

    result = cli(
        "run", "launch", name, "noop", "--retries", "2", "--retry-backoff", "0.5",
        "--cancel-grace", "3", "--queued-timeout", "600", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    run = LaunchRunResponse.model_validate_json(result.stdout).run
    assert (run.retry.max_attempts, run.retry.backoff_s, run.queued_timeout_s) == (3, 0.5, 600)
    assert "--retries" in one_error_line(cli("run", "launch", name, "noop", "--retries", "-1"))


def test_token_list_rotate_and_revoke(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    created = TokenCreated.model_validate_json(
        cli("token", "create", "--kind", "agent", "--name", f"a-{unique}", "--queue", f"q-{unique}", "--json").stdout
    )

    table = cli("token", "list")
    rotated = cli("token", "rotate", created.id, "--overlap", "60")
    new_secret = rotated.stdout.strip()

    assert table.exit_code == 0 and created.id in table.stdout and f"q-{unique}" in table.stdout
    assert created.token not in table.stdout
    assert rotated.exit_code == 0, rotated.output
    assert new_secret and new_secret != created.token and "keeps working for 60 s" in rotated.stderr
    listed = {t.id: t for t in TokenList.model_validate_json(cli("token", "list", "--json").stdout).tokens}
    new = next(t for t in listed.values() if t.name == f"a-{unique}" and t.id != created.id)
    assert new.queues == [f"q-{unique}"] and new.kind == "agent"
    old = listed[created.id]
    assert old.expires_at is not None and (old.expires_at - new.created_at).total_seconds() <= 61
    for secret in (created.token, new_secret):  # both work during the overlap
        response = httpx.put(
            f"{control_plane.url}/api/agent/runs/nope/report",
            json={"run_id": "nope", "status": "STARTED", "seq": 1},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response.status_code == 404, response.text

    revoked = cli("token", "revoke", new.id)
    assert revoked.exit_code == 0 and f"revoked token {new.id}" in revoked.stderr
    refused = httpx.get(f"{control_plane.url}/api/runs", headers={"Authorization": f"Bearer {new_secret}"})
    assert refused.status_code == 401 and refused.json()["detail"] == "token revoked"
    assert "does not exist" in one_error_line(cli("token", "rotate", "nope"))
