"""Storage of alert policies: channel secrets sealed at rest (like a location's secret_env), masked in answers.

A policy is stored as its JSON with every secret field of its channels (SMTP password, webhook and apprise URLs,
signing secrets) sealed with the payload keys (AES-GCM, bound to policy, channel and field). The API only ever
sees '***'; a policy sent back with '***' keeps the stored value. Only the delivery activities open them.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contracts.alerts import SECRET_FIELDS, AlertPolicy, AlertPolicyList, AlertPolicySync, AlertSyncResult
from contracts.locations import SECRET_MASK
from controlplane.alerts.channels.apprise_channel import check_apprise_url
from controlplane.database import Database, lock_row
from controlplane.errors import Conflict, Invalid, NotFound
from controlplane.tables import AlertPolicyRow, utcnow
from runtime.codec import KeyRing, open_text, seal_text


def _context(policy: str, channel: str, field: str) -> str:
    return f"alert/{policy}/{channel}/{field}"


class PolicyStore:
    """Every read and write of alert policies; one transaction per method."""

    def __init__(self, db: Database, keys: KeyRing | None) -> None:
        self._db = db
        self._keys = keys

    # ---- sealing --------------------------------------------------------------------------------------

    def _seal(self, policy: AlertPolicy) -> dict[str, Any]:
        stored = policy.model_dump(mode="json")
        for channel in stored["channels"]:
            for field in SECRET_FIELDS[channel["kind"]]:
                if channel.get(field):
                    channel[field] = seal_text(
                        self._require_keys(), channel[field], _context(policy.name, channel["name"], field)
                    )
        return stored

    def _transform(self, stored: dict[str, Any], secret: Callable[[str, str, str], str]) -> AlertPolicy:
        spec = {**stored, "channels": [dict(channel) for channel in stored.get("channels", [])]}
        for channel in spec["channels"]:
            for field in SECRET_FIELDS[channel["kind"]]:
                if channel.get(field):
                    channel[field] = secret(channel["name"], field, channel[field])
        return AlertPolicy.model_validate(spec)

    def _open(self, stored: dict[str, Any]) -> AlertPolicy:
        name = stored["name"]
        return self._transform(
            stored, lambda channel, field, value: open_text(self._require_keys(), value, _context(name, channel, field))
        )

    def _mask(self, stored: dict[str, Any]) -> AlertPolicy:
        return self._transform(stored, lambda _c, _f, _v: SECRET_MASK)

    def _keep_masked(self, new: AlertPolicy, current: AlertPolicy | None) -> AlertPolicy:
        """`new` with each '***' replaced by the stored value of the same channel and field."""
        channels = []
        for channel in new.channels:
            masked = [f for f in SECRET_FIELDS[channel.kind] if getattr(channel, f) == SECRET_MASK]
            if masked:
                old = next((c for c in (current.channels if current else []) if c.name == channel.name), None)
                if old is None or old.kind != channel.kind:
                    raise Invalid(
                        f"channel '{channel.name}': '{SECRET_MASK}' keeps a stored {masked[0]}, and none is stored"
                    )
                channel = channel.model_copy(update={f: getattr(old, f) for f in masked})
            channels.append(channel)
        return new.model_copy(update={"channels": channels})

    def _require_keys(self) -> KeyRing:
        if self._keys is None:
            raise Invalid(
                "alert channels with secrets need the control plane's payload encryption keys "
                "(LONGSHOREMAN_ENCRYPTION_KEYS or LONGSHOREMAN_ENCRYPTION_KEY_FILE); it runs with plaintext payloads"
            )
        return self._keys

    @staticmethod
    def _check(policy: AlertPolicy) -> None:
        for channel in policy.channels:
            if channel.kind in ("slack", "teams", "pagerduty", "apprise"):
                problem = check_apprise_url(channel.kind, channel.url)
                if problem:
                    raise Invalid(f"policy '{policy.name}', channel '{channel.name}': {problem}")

    # ---- reads ----------------------------------------------------------------------------------------

    def list(self) -> AlertPolicyList:
        """Every policy by name, secrets masked."""
        with self._db.read() as session:
            rows = session.scalars(select(AlertPolicyRow).order_by(AlertPolicyRow.name)).all()
            return AlertPolicyList(policies=[self._mask(row.spec) for row in rows])

    def get(self, name: str) -> AlertPolicy:
        """The policy, secrets masked; NotFound otherwise."""
        with self._db.read() as session:
            row = session.get(AlertPolicyRow, name)
            if row is None:
                raise NotFound(f"alert policy '{name}' does not exist")
            return self._mask(row.spec)

    def opened(self, name: str) -> AlertPolicy | None:
        """The policy with its secrets readable (for the delivery activities only), or None."""
        with self._db.read() as session:
            row = session.get(AlertPolicyRow, name)
            return self._open(row.spec) if row is not None else None

    def for_matching(self) -> builtins.list[AlertPolicy]:
        """Every enabled policy, secrets masked (matching an event needs none of them)."""
        with self._db.read() as session:
            rows = session.scalars(select(AlertPolicyRow).order_by(AlertPolicyRow.name)).all()
        policies = []
        for row in rows:
            try:
                policy = self._mask(row.spec)
            except ValidationError:
                continue  # a policy this code cannot read (a newer release wrote it) matches nothing here
            if policy.enabled:
                policies.append(policy)
        return policies

    # ---- writes ---------------------------------------------------------------------------------------

    def put(self, policy: AlertPolicy, *, replace: bool = True) -> tuple[AlertPolicy, bool]:
        """Create or (with `replace`) replace the policy; returns it masked and whether it was created."""
        try:
            with self._db.write() as session:
                row = lock_row(session, AlertPolicyRow, policy.name)
                if row is not None and not replace:
                    raise Conflict(f"alert policy '{policy.name}' already exists")
                current = self._open(row.spec) if row is not None else None
                policy = self._keep_masked(policy, current)
                self._check(policy)
                stored = self._seal(policy)
                now = utcnow()
                if row is None:
                    session.add(AlertPolicyRow(name=policy.name, spec=stored, created_at=now, updated_at=now))
                else:
                    row.spec, row.updated_at = stored, now
                return policy.masked(), row is None
        except IntegrityError:
            # PostgreSQL: another replica created it after our look.
            raise Conflict(f"alert policy '{policy.name}' already exists") from None

    def remove(self, name: str) -> None:
        """Delete the policy (its pending deliveries record `skipped`); NotFound if there is none."""
        with self._db.write() as session:
            row = lock_row(session, AlertPolicyRow, name)
            if row is None:
                raise NotFound(f"alert policy '{name}' does not exist")
            session.delete(row)

    def sync(self, request: AlertPolicySync) -> AlertSyncResult:
        """Make the stored policies those of `request` (a YAML file from CI); prune removes the others."""
        names = [p.name for p in request.policies]
        if len(set(names)) != len(names):
            raise Invalid("policies: two policies have the same name")
        result = AlertSyncResult(created=[], updated=[], unchanged=[], removed=[])
        with self._db.write() as session:
            rows = {row.name: row for row in session.scalars(select(AlertPolicyRow).with_for_update()).all()}
            now = utcnow()
            for policy in request.policies:
                row = rows.get(policy.name)
                current = self._open(row.spec) if row is not None else None
                policy = self._keep_masked(policy, current)
                self._check(policy)
                if current is not None and current == policy:
                    result.unchanged.append(policy.name)
                    continue
                stored = self._seal(policy)
                if row is None:
                    session.add(AlertPolicyRow(name=policy.name, spec=stored, created_at=now, updated_at=now))
                    result.created.append(policy.name)
                else:
                    row.spec, row.updated_at = stored, now
                    result.updated.append(policy.name)
            if request.prune:
                for name, row in rows.items():
                    if name not in names:
                        session.delete(row)
                        result.removed.append(name)
        return result
