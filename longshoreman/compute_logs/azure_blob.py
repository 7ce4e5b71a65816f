"""Azure Blob Storage: one append blob per attempt, `<prefix>/<run id>/<attempt>/logs.jsonl`. Needs
azure-storage-blob.

Credentials are the environment's own: AZURE_STORAGE_CONNECTION_STRING if set (an account key or a SAS),
else DefaultAzureCredential from azure-identity (workload identity on AKS, a managed identity).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from contracts.log_store_protocol import BLOB_NAME, LogStore
from longshoreman.compute_logs.stores import StoreError, attempt_of

MAX_BLOCK = 4 * 1024 * 1024  # an append block holds at most 4 MiB


class BlobStore:
    """The container and prefix of one store URL."""

    def __init__(self, where: LogStore) -> None:
        self._where = where
        connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection:
            service = BlobServiceClient.from_connection_string(connection)
        else:
            from azure.identity import DefaultAzureCredential

            service = BlobServiceClient(str(where.endpoint_url), credential=DefaultAzureCredential())
        self._container: Any = service.get_container_client(where.root)

    def append(self, attempt_prefix: str, chunk: int, data: bytes) -> None:
        name = f"{attempt_prefix}{BLOB_NAME}"
        blob = self._container.get_blob_client(name)
        try:
            for start in range(0, len(data), MAX_BLOCK):
                block = data[start : start + MAX_BLOCK]
                try:
                    blob.append_block(block)
                except ResourceNotFoundError:
                    # The attempt's first batch: create the blob (never over an existing one), then append.
                    blob.create_append_blob()
                    blob.append_block(block)
        except AzureError as exc:
            raise StoreError(f"cannot write blob {name}: {_first_line(exc)}") from None

    def read(self, run_prefix: str) -> Iterator[tuple[int, bytes]]:
        try:
            names = sorted(
                (attempt, str(item.name))
                for item in self._container.list_blobs(name_starts_with=run_prefix)
                if (attempt := attempt_of(str(item.name), run_prefix)) is not None
            )
            for attempt, name in names:
                yield attempt, self._container.download_blob(name).readall()
        except AzureError as exc:
            raise StoreError(f"cannot read blobs under {run_prefix}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
