"""The SDK runs inside user images: it must work with the standard library alone and start fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.longshoreman.sdk_support import clean_env, execute_run, run_env, write_module

HEAVY = ("pydantic", "httpx", "typer", "rich", "temporalio", "click", "anyio", "runtime", "dagster")
# The SDK may share the standard-library-only protocol modules of contracts/, nothing else of it.
LIGHT_CONTRACTS = (
    "contracts",
    "contracts.run_protocol",
    "contracts.code_server_protocol",
    "contracts.log_store_protocol",
    "contracts.config_schema",
)
FIND_HEAVY = (
    f"sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r})"
    f" | {{m for m in sys.modules if m.startswith('contracts')}} - set({list(LIGHT_CONTRACTS)!r}))"
)


def test_importing_the_sdk_loads_no_third_party_package(tmp_path: Path):
    code = (
        "import sys, longshoreman, longshoreman.code_server, longshoreman.executor, longshoreman.event_sender; "
        f"print(__import__('json').dumps({FIND_HEAVY}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), cwd=tmp_path, capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("store", [None, "local"], ids=["no-store", "local-log-store"])
def test_a_running_job_sees_no_third_party_package_loaded_by_the_executor(tmp_path: Path, store: str | None):
    module = write_module(
        tmp_path,
        "report_modules",
        f"""
        import json, sys
        from longshoreman import Definitions, job

        @job
        def report():
            print(json.dumps({FIND_HEAVY}))

        defs = Definitions(jobs=[report])
        """,
    )

    extra = {"LONGSHOREMAN_RUN_LOG_STORE": f"file://{tmp_path / 'logs'}"} if store else {}
    result = execute_run(run_env("report", module=module, **extra), tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    if store:  # the local store is the standard library's, and it did write
        assert (tmp_path / "logs" / "local-run" / "1" / "logs.jsonl").exists()
