"""A location's assets as the location page shows them: grouped, each with its anchor, jobs and materialize link."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from contracts.locations import AssetDefinition, Definitions

NO_GROUP = "(no group)"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class AssetRow(BaseModel):
    """One asset: its definition, its row's anchor, the jobs that materialize it, where to materialize it."""

    asset: AssetDefinition
    anchor: str = Field(description="The id of its row: a link to `#anchor` goes to it.")
    deps: list[tuple[str, str | None]] = Field(description="Each dependency and its row's anchor (None: not here).")
    jobs: list[str] = Field(description="The location's named jobs that materialize it (not the implicit one).")
    materialize_url: str | None = Field(description="The launch page of the asset job with only this asset.")


class AssetGroup(BaseModel):
    """The assets of one asset group."""

    name: str
    assets: list[AssetRow]


def anchor(key: str) -> str:
    """An HTML id for the asset `key` that needs no escaping; keys that need changing get a hash to stay apart."""
    slug = _UNSAFE.sub("_", key)
    if slug != key:
        slug += "-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"asset-{slug}"


def asset_groups(location: str, definitions: Definitions) -> list[AssetGroup]:
    """The definitions' assets by group (groups and keys sorted), with what the location page links to."""
    anchors = {asset.key: anchor(asset.key) for asset in definitions.assets}
    asset_job = definitions.job(definitions.asset_job) if definitions.asset_job else None
    groups: dict[str, list[AssetRow]] = {}
    for asset in sorted(definitions.assets, key=lambda a: a.key):
        # A partitioned asset needs a partition, which the launch page does not ask for.
        launchable = asset_job is not None and asset.key in asset_job.assets and not asset.partitioned
        url = (
            "/launch?" + urlencode({"location": location, "job": asset_job.name, "assets": asset.key})
            if launchable and asset_job is not None
            else None
        )
        row = AssetRow(
            asset=asset,
            anchor=anchors[asset.key],
            deps=[(dep, anchors.get(dep)) for dep in asset.deps],
            jobs=sorted(j.name for j in definitions.jobs if asset.key in j.assets and j.name != definitions.asset_job),
            materialize_url=url,
        )
        groups.setdefault(asset.group or NO_GROUP, []).append(row)
    return [AssetGroup(name=name, assets=rows) for name, rows in sorted(groups.items())]
