"""S3 (or any S3 API): one object per batch, `<prefix>/<run id>/<attempt>/<chunk:06d>.jsonl`. Needs boto3.

Objects cannot be appended to, so every flushed batch is its own object: nothing is ever rewritten, memory
stays bounded by one batch, and a reader lists the attempt's objects in name order. Credentials are the
environment's own (the task role on ECS, IRSA on EKS, AWS_* variables, a profile).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from contracts.log_store_protocol import LogStore
from longshoreman.compute_logs.stores import StoreError, attempt_of


class S3Store:
    """The bucket and prefix of one store URL."""

    def __init__(self, where: LogStore) -> None:
        self._where = where
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self._s3: Any = boto3.client("s3", endpoint_url=where.endpoint_url, region_name=where.region, config=config)

    def append(self, attempt_prefix: str, chunk: int, data: bytes) -> None:
        key = f"{attempt_prefix}{chunk:06d}.jsonl"
        try:
            self._s3.put_object(Bucket=self._where.root, Key=key, Body=data, ContentType="application/x-ndjson")
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"cannot write s3://{self._where.root}/{key}: {exc}") from None

    def read(self, run_prefix: str) -> Iterator[tuple[int, bytes]]:
        keys: list[tuple[int, str]] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._where.root, Prefix=run_prefix):
                for item in page.get("Contents") or []:
                    attempt = attempt_of(str(item["Key"]), run_prefix)
                    if attempt is not None:
                        keys.append((attempt, str(item["Key"])))
            for attempt, key in sorted(keys):
                yield attempt, self._s3.get_object(Bucket=self._where.root, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"cannot read s3://{self._where.root}/{run_prefix}: {exc}") from None
