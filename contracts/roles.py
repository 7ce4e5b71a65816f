"""Roles of user tokens (and of the browser sessions opened with them): what each may do, one rule for all.

Each role holds every right of the roles before it: viewer (read) < launcher (+ launch, cancel, re-execute) <
editor (+ locations, automations, limits) < admin (+ tokens, the audit log's every entry is readable by all).
The control plane enforces them (controlplane/auth.py); the web UI and the CLI only name them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user token's role, weakest first."""

    viewer = "viewer"
    launcher = "launcher"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        """Its place in the order: a role holds every right of the roles of a lower rank."""
        return ORDER.index(self)

    def allows(self, needed: Role) -> bool:
        """True if a token of this role may do what `needed` may."""
        return self.rank >= needed.rank


ORDER = (Role.viewer, Role.launcher, Role.editor, Role.admin)
WHAT_IT_ADDS = {
    Role.viewer: "read everything but secrets",
    Role.launcher: "launch, cancel and re-execute runs",
    Role.editor: "change locations, automations and limits",
    Role.admin: "manage tokens",
}
