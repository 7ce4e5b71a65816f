"""Where a run worker keeps its compute logs: one URL per store, and the layout inside it.

Standard library only, like contracts/run_protocol.py: the SDK imports it inside user images. A store is one
URL, carried to the run worker in `LONGSHOREMAN_RUN_LOG_STORE` (contracts/run_protocol.py:RunWorkerEnv):

- `file:///var/log/longshoreman` — a local (or mounted) directory;
- `s3://bucket/prefix` — S3; `?endpoint_url=...&region=...` for another endpoint or region;
- `azure-blob://container/prefix?account_url=https://<account>.blob.core.windows.net` — Azure Blob Storage.

Every attempt writes under `<prefix>/<run id>/<attempt>/`, as JSON lines (`seq`, `time`, `stream`, `line`): in
numbered chunk objects on S3 (`000001.jsonl`, ...), in one append blob on Azure (`logs.jsonl`), in one file
locally (`logs.jsonl`). Credentials are never in the URL: each side uses its own (a task role, workload
identity, a connection string in its own environment).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

SCHEMES = {"file": "local", "s3": "s3", "azure-blob": "azure-blob"}
KINDS = tuple(SCHEMES.values())
QUERY_KEYS = {"s3": {"endpoint_url", "region"}, "azure-blob": {"account_url"}, "local": set()}
LOCAL_FILE = "logs.jsonl"
BLOB_NAME = "logs.jsonl"


@dataclass(frozen=True)
class LogStore:
    """One compute-log store: its kind, its root (directory, bucket or container) and a key prefix."""

    kind: str
    root: str
    prefix: str = ""
    endpoint_url: str | None = None  # s3: another endpoint (MinIO, an emulator); azure-blob: the account URL
    region: str | None = None

    @classmethod
    def parse(cls, url: str) -> LogStore:
        """The store a URL names; ValueError (one readable line) if it names none."""
        parts = urlsplit(url.strip())
        kind = SCHEMES.get(parts.scheme)
        if kind is None:
            raise ValueError(f"log store {url!r}: the URL must start with file://, s3:// or azure-blob://")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - QUERY_KEYS[kind]
        if unknown:
            raise ValueError(f"log store {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
        if kind == "local":
            if parts.netloc or not parts.path.startswith("/"):
                raise ValueError(f"log store {url!r}: a local store is file:///<absolute directory>")
            return cls("local", parts.path.rstrip("/") or "/")
        if not parts.netloc:
            raise ValueError(f"log store {url!r}: name the {'bucket' if kind == 's3' else 'container'}")
        endpoint = query.get("endpoint_url") or query.get("account_url")
        if kind == "azure-blob" and not endpoint:
            raise ValueError(f"log store {url!r}: say ?account_url=https://<account>.blob.core.windows.net")
        return cls(kind, parts.netloc, parts.path.strip("/"), endpoint, query.get("region"))

    def url(self) -> str:
        """The URL this store parses from."""
        if self.kind == "local":
            return f"file://{quote(self.root)}"
        scheme = "s3" if self.kind == "s3" else "azure-blob"
        query: dict[str, str] = {}
        if self.endpoint_url:
            query["endpoint_url" if self.kind == "s3" else "account_url"] = self.endpoint_url
        if self.region:
            query["region"] = self.region
        path = f"/{self.prefix}" if self.prefix else ""
        return f"{scheme}://{self.root}{path}" + (f"?{urlencode(query)}" if query else "")

    def run_prefix(self, run_id: str) -> str:
        """Key prefix (or directory below the root) of one run's attempts, ending in '/'."""
        return "/".join(part for part in (self.prefix, run_id) if part) + "/"

    def attempt_prefix(self, run_id: str, attempt: int) -> str:
        """Key prefix of one attempt's logs, ending in '/'."""
        return f"{self.run_prefix(run_id)}{attempt}/"

    def describe(self, run_id: str) -> str:
        """Where one run's logs are, for people: 's3://bucket/prefix/<run id>/', a directory, a blob URL."""
        if self.kind == "local":
            return f"{self.root}/{self.run_prefix(run_id)}"
        if self.kind == "s3":
            return f"s3://{self.root}/{self.run_prefix(run_id)}"
        return f"{str(self.endpoint_url).rstrip('/')}/{self.root}/{self.run_prefix(run_id)}"
