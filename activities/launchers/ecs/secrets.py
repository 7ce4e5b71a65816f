"""The ecs launcher's Secrets Manager secrets: a run attempt's token and secret_env, a server's secret_env, and
the stop markers that keep a canceled attempt from ever being launched.

One secret per run attempt, `longshoreman/<agent>/run-<run id>-a<attempt>`, one JSON object whose keys the
task definition references (`<ARN>:<KEY>::`). A stop tags it `longshoreman.stopped` (creating an empty one if
the launch has not come yet): a launch that finds the tag refuses to start the attempt. A secret goes once its
task has stopped; a stop marker stays for `tombstone_ttl_s`.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from activities.launchers.base import LaunchError, TokenSource
from activities.launchers.ecs import definitions
from activities.launchers.ecs.api import AwsError, EcsApi
from contracts.run_protocol import TOKEN_VAR

Body = dict[str, Any]


class Secrets:
    """One agent's secrets and stop markers."""

    def __init__(self, api: EcsApi, agent: str) -> None:
        self._api = api
        self._agent = agent

    def name(self, worker_or_server: str) -> str:
        """The secret of a run attempt or code-server instance."""
        return definitions.secret_name(self._agent, worker_or_server)

    async def create_run_secret(
        self, name: str, secret_env: dict[str, str], tags: dict[str, str], token: TokenSource
    ) -> tuple[str, bool]:
        """The attempt's secret (token + secret_env): (ARN, whether an earlier launch had made it already)."""
        secret = self.name(name)
        values = dict(secret_env) | {TOKEN_VAR: await token()}
        described: Body | None = None
        for _ in range(2):  # a secret released between our create and our describe: create it again
            try:
                created = await self._api.call(
                    "secretsmanager",
                    "create_secret",
                    Name=secret,
                    SecretString=definitions.secret_value(values),
                    Tags=definitions.secret_tags(tags),
                )
                return str(created["ARN"]), False
            except AwsError as err:
                if err.code != "ResourceExistsException":
                    raise LaunchError(f"cannot create secret {secret}: {err}", final=err.final) from None
            try:
                described = await self._api.call("secretsmanager", "describe_secret", SecretId=secret)
                break
            except AwsError as err:
                if err.code != "ResourceNotFoundException":
                    raise
        if described is None:
            raise LaunchError(f"secret {secret} keeps appearing and vanishing", final=False)
        if definitions.STOPPED in definitions.tag_map(described.get("Tags")):
            raise LaunchError(f"run worker {name} was stopped before it started: not launching it")
        # Left by an interrupted launch: the task may exist; if not, the launch goes on with a fresh token.
        await self._api.call(
            "secretsmanager", "put_secret_value", SecretId=secret, SecretString=definitions.secret_value(values)
        )
        return str(described["ARN"]), True

    async def stop_requested(self, name: str) -> bool:
        """Whether a stop has marked the attempt."""
        described = await self._api.call("secretsmanager", "describe_secret", SecretId=self.name(name))
        return definitions.STOPPED in definitions.tag_map(described.get("Tags"))

    async def mark_stopped(self, name: str, run_id: str, attempt: int) -> None:
        """'This attempt was stopped': tag its secret, or leave an empty tagged one if there is none yet."""
        secret = self.name(name)
        stamp = definitions.secret_tags({definitions.STOPPED: datetime.now(UTC).isoformat()})
        try:
            await self._api.call("secretsmanager", "tag_resource", SecretId=secret, Tags=stamp)
            return
        except AwsError as err:
            if err.code != "ResourceNotFoundException":
                raise
        tags = {definitions.MANAGED_BY: definitions.MANAGER, definitions.AGENT: self._agent, definitions.NAME: name}
        tags |= {definitions.RUN_ID: run_id, definitions.ATTEMPT: str(attempt)}
        try:
            await self._api.call(
                "secretsmanager",
                "create_secret",
                Name=secret,
                SecretString="{}",
                Tags=definitions.secret_tags(tags) + stamp,
            )
        except AwsError as err:
            if err.code != "ResourceExistsException":
                raise
            # A launch created it meanwhile: tag that one (the launch checks again after its RunTask).
            await self._api.call("secretsmanager", "tag_resource", SecretId=secret, Tags=stamp)

    async def put(self, name: str, values: dict[str, str], tags: dict[str, str]) -> str:
        """Create (or update) a code server's secret; its ARN."""
        secret = self.name(name)
        value = definitions.secret_value(values)
        try:
            created = await self._api.call(
                "secretsmanager", "create_secret", Name=secret, SecretString=value, Tags=definitions.secret_tags(tags)
            )
            return str(created["ARN"])
        except AwsError as err:
            if err.code != "ResourceExistsException":
                raise LaunchError(f"cannot create secret {secret}: {err}", final=err.final) from None
        await self._api.call("secretsmanager", "put_secret_value", SecretId=secret, SecretString=value)
        return str((await self._api.call("secretsmanager", "describe_secret", SecretId=secret))["ARN"])

    async def delete(self, name: str) -> None:
        """Delete at once (no recovery window: nothing in it outlives its task); idempotent."""
        try:
            await self._api.call(
                "secretsmanager", "delete_secret", SecretId=self.name(name), ForceDeleteWithoutRecovery=True
            )
        except AwsError as err:
            if err.code != "ResourceNotFoundException":
                raise

    async def sweep_stop_markers(self, ttl_s: float) -> int:
        """Delete the stop markers older than `ttl_s`; how many went."""
        filters = [
            {"Key": "name", "Values": [self.name("")]},
            {"Key": "tag-key", "Values": [definitions.STOPPED]},
        ]
        removed = 0
        token: str | None = None
        now = datetime.now(UTC)
        while True:
            params: Body = {"Filters": filters, "MaxResults": 100} | ({"NextToken": token} if token else {})
            page = await self._api.call("secretsmanager", "list_secrets", **params)
            for secret in page.get("SecretList") or []:
                stamp = definitions.tag_map(secret.get("Tags")).get(definitions.STOPPED, "")
                stopped_at = now
                with contextlib.suppress(ValueError):
                    stopped_at = datetime.fromisoformat(stamp)
                if (now - stopped_at).total_seconds() > ttl_s:
                    with contextlib.suppress(AwsError):
                        await self._api.call(
                            "secretsmanager", "delete_secret", SecretId=secret["Name"], ForceDeleteWithoutRecovery=True
                        )
                        removed += 1
            token = page.get("NextToken")
            if not token:
                return removed
