"""Compute logs in the user's storage: `execute-run` writes its lines to a local directory or S3 (moto over
real HTTP), in batches, with bounded memory; without log forwarding only the exception's type is reported."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from contracts.log_store_protocol import LogStore
from contracts.run_protocol import RunEnvError, RunWorkerEnv
from longshoreman.compute_logs.stores import StoreError, open_store
from longshoreman.compute_logs.writer import LogStoreWriter
from tests.longshoreman.sdk_support import HELLO, execute_run, run_env, write_module
from tests.support.aws import MotoServer
from tests.support.azure import Azurite

LEAKY = """
    import sys
    from longshoreman import Definitions, job

    @job
    def leak() -> None:
        print("stdout MARK-1234")
        print("stderr MARK-1234", file=sys.stderr)
        raise RuntimeError("exception MARK-1234")

    defs = Definitions(jobs=[leak])
"""


def lines_of(url: str, run_id: str) -> list[dict[str, object]]:
    where, store = open_store(url)
    return [json.loads(line) for _attempt, data in store.read(where.run_prefix(run_id)) for line in data.splitlines()]


def test_store_urls_parse_back_and_bad_ones_say_why() -> None:
    for url in (
        "file:///var/log/ls",
        "s3://bucket/runs/prod?endpoint_url=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1",
        "azure-blob://logs/prod?account_url=https%3A%2F%2Facct.blob.core.windows.net",
    ):
        assert LogStore.parse(url).url() == url
    s3 = LogStore.parse("s3://bucket/runs/prod")
    assert s3.attempt_prefix("r1", 2) == "runs/prod/r1/2/" and s3.describe("r1") == "s3://bucket/runs/prod/r1/"
    for bad, why in (
        ("gs://b", "must start with file://, s3:// or azure-blob://"),
        ("file://relative/dir", "absolute directory"),
        ("azure-blob://logs", "account_url"),
        ("s3://b?colour=red", "unknown option(s) colour"),
    ):
        with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
            LogStore.parse(bad)
    env = RunWorkerEnv("r", "m", "j", log_store="s3://b/p", forward_logs=False).to_env()
    assert env["LONGSHOREMAN_RUN_LOG_STORE"] == "s3://b/p" and env["LONGSHOREMAN_RUN_FORWARD_LOGS"] == "false"
    assert RunWorkerEnv.from_env(env).forward_logs is False
    with pytest.raises(RunEnvError, match="RUN_LOG_STORE: log store 'gs://x'"):
        RunWorkerEnv.from_env(env | {"LONGSHOREMAN_RUN_LOG_STORE": "gs://x"})


def test_a_run_writes_its_lines_to_a_local_store_per_run_and_attempt(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    env = run_env("count", HELLO, run_id="r-local", LONGSHOREMAN_RUN_LOG_STORE=f"file://{root}")
    env["LONGSHOREMAN_RUN_CONFIG"] = '{"n": 2500}'
    env["LONGSHOREMAN_RUN_ATTEMPT"] = "2"
    result = execute_run(env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = lines_of(f"file://{root}", "r-local")
    assert [line["line"] for line in lines] == [f"line {i}" for i in range(1, 2501)]
    assert [line["seq"] for line in lines] == list(range(1, 2501)) and lines[0]["stream"] == "stdout"
    assert (root / "r-local" / "2" / "logs.jsonl").stat().st_mode & 0o777 == 0o600
    assert "line 2500" in result.stdout  # the worker's own stdout still has them (docker logs, CloudWatch)


def test_without_forwarding_the_failure_keeps_only_the_exceptions_type(tmp_path: Path) -> None:
    module = write_module(tmp_path, "leaky_local", LEAKY)
    root = tmp_path / "logs"
    termination = tmp_path / "termination"
    env = run_env(
        "leak",
        module,
        run_id="r-leak",
        LONGSHOREMAN_RUN_LOG_STORE=f"file://{root}",
        LONGSHOREMAN_RUN_FORWARD_LOGS="false",
        LONGSHOREMAN_TERMINATION_FILE=str(termination),
    )
    result = execute_run(env, tmp_path)
    assert result.returncode == 1
    assert termination.read_text().strip() == "RuntimeError (message and traceback in the compute logs)"
    stored = "\n".join(str(line["line"]) for line in lines_of(f"file://{root}", "r-leak"))
    assert "stdout MARK-1234" in stored and "stderr MARK-1234" in stored and "exception MARK-1234" in stored


def test_s3_store_writes_one_object_per_batch_and_reads_them_back_in_order(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.reset()
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="compute-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    url = LogStore("s3", "compute-logs", "prod", endpoint_url=moto.url, region="eu-west-1").url()
    env = run_env("count", HELLO, run_id="r-s3", LONGSHOREMAN_RUN_LOG_STORE=url, LONGSHOREMAN_RUN_CONFIG='{"n": 3000}')
    result = execute_run(env, tmp_path)
    assert result.returncode == 0, result.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="compute-logs", Prefix="prod/r-s3/1/")["Contents"]]
    assert keys[0] == "prod/r-s3/1/000001.jsonl" and len(keys) < 3000 / 100  # batches, not a PUT per line
    assert [line["line"] for line in lines_of(url, "r-s3")] == [f"line {i}" for i in range(1, 3001)]


class SlowStore:
    """A store that takes its time, or fails, as the test says: what the writer does with its buffer."""

    def __init__(self) -> None:
        self.failing = False
        self.delay_s = 0.0
        self.chunks: list[tuple[int, bytes]] = []

    def append(self, attempt_prefix: str, chunk: int, data: bytes) -> None:
        time.sleep(self.delay_s)
        if self.failing:
            raise StoreError("store down")
        self.chunks.append((chunk, data))

    def read(self, run_prefix: str):  # type: ignore[no-untyped-def]
        return iter(())


def test_the_writer_holds_back_a_fast_job_and_drops_only_while_the_store_fails() -> None:
    store = SlowStore()
    warnings: list[str] = []
    dropped: list[int] = []
    writer = LogStoreWriter(
        LogStore("local", "/x"),
        store,
        "r",
        1,
        warn=warnings.append,
        on_dropped=dropped.append,
        flush_interval_s=0.01,
        batch_bytes=4096,
        max_buffer_bytes=16384,
    )
    writer.start()
    store.delay_s = 0.01
    for i in range(2000):  # far more than the buffer holds: the job waits, nothing is lost
        writer.log("stdout", f"line {i:05d} " + "x" * 40, time.time())
        assert writer._bytes <= 16384  # bounded memory
    store.failing = True
    time.sleep(0.1)
    for i in range(2000):  # the store fails: the buffer fills, then lines are counted and dropped
        writer.log("stdout", f"lost {i:05d} " + "x" * 40, time.time())
    store.failing = False
    assert writer.close(10)
    text = b"".join(data for _chunk, data in store.chunks).decode()
    assert all(f"line {i:05d}" in text for i in range(2000))
    assert dropped and "log lines were dropped while the store failed" in text
    assert [chunk for chunk, _ in store.chunks] == list(range(1, len(store.chunks) + 1))
    assert any("retrying" in w for w in warnings)


def test_a_store_whose_client_is_missing_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_boto3(name: str, *args: object, **kwargs: object) -> object:
        if name == "boto3":
            raise ImportError("No module named 'boto3'", name="boto3")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(__import__("sys").modules, "longshoreman.compute_logs.s3", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_boto3)
    with pytest.raises(StoreError, match=r"needs boto3: pip install 'longshoreman\[s3\]'"):
        open_store("s3://bucket/p")


def test_azure_blob_store_appends_to_one_blob_per_attempt(
    azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container("compute-logs")
    url = LogStore("azure-blob", "compute-logs", "prod", endpoint_url=azurite.account_url).url()
    env = run_env(
        "count", HELLO, run_id="r-blob", LONGSHOREMAN_RUN_LOG_STORE=url, LONGSHOREMAN_RUN_CONFIG='{"n": 3000}'
    )
    env["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string  # the worker's own credentials
    result = execute_run(env, tmp_path)
    assert result.returncode == 0 and "compute logs" not in result.stderr, result.stderr
    names = [b.name for b in service.get_container_client("compute-logs").list_blobs(name_starts_with="prod/r-blob/")]
    assert names == ["prod/r-blob/1/logs.jsonl"]
    properties = service.get_blob_client("compute-logs", names[0]).get_blob_properties()
    assert properties.blob_type == "AppendBlob" and properties.append_blob_committed_block_count < 3000 / 100
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    assert [line["line"] for line in lines_of(url, "r-blob")] == [f"line {i}" for i in range(1, 3001)]
