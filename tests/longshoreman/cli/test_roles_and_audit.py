"""`token create --role` and `audit list` against a real control plane."""

from __future__ import annotations

from contracts.api import AuditList, TokenCreated
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.support.control_plane import ControlPlane


def test_a_viewer_token_from_the_cli_reads_but_cannot_change(control_plane: ControlPlane, unique: str) -> None:
    admin = Cli(control_plane.url, control_plane.admin_token)
    made = admin("token", "create", "--kind", "admin", "--role", "viewer", "--name", f"v-{unique}")
    assert made.exit_code == 0, made.output
    assert "admin (viewer) token" in made.stderr
    viewer = Cli(control_plane.url, made.stdout.strip())

    assert viewer("location", "list").exit_code == 0
    line = one_error_line(viewer("location", "remove", f"nothing-{unique}"))
    assert "role 'editor' is required" in line, line
    assert "viewer" in admin("token", "list").stdout
    assert "--role" in one_error_line(admin("token", "create", "--kind", "admin", "--role", "owner", "--name", "x"))
    assert "only user" in one_error_line(admin("token", "create", "--kind", "agent", "--role", "viewer", "--name", "x"))


def test_audit_list_shows_who_created_and_revoked_a_token(control_plane: ControlPlane, unique: str) -> None:
    admin = Cli(control_plane.url, control_plane.admin_token)
    created = TokenCreated.model_validate_json(
        admin("token", "create", "--kind", "admin", "--role", "launcher", "--name", f"l-{unique}", "--json").stdout
    )
    assert admin("token", "revoke", created.id).exit_code == 0

    listed = AuditList.model_validate_json(admin("audit", "list", "--action", "token.", "--json").stdout)
    mine = [(e.action, e.target) for e in listed.entries if e.target == created.id]
    assert mine == [("token.revoked", created.id), ("token.created", created.id)]
    table = admin("audit", "list", "--action", "token.revoked")
    assert table.exit_code == 0 and created.id in table.stdout and "token.revoked" in table.stdout
    assert created.token not in table.stdout
