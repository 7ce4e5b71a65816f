"""The SDK runs inside user images: it must work with the standard library alone and start fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.longshoreman.sdk_support import clean_env, execute_run, run_env, write_module

HEAVY = ("pydantic", "httpx", "typer", "rich", "temporalio", "click", "anyio", "contracts")
FIND_HEAVY = f"sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))"


def test_importing_the_sdk_loads_no_third_party_package(tmp_path: Path):
    code = (
        "import sys, longshoreman, longshoreman.code_server, longshoreman.executor, longshoreman.event_sender; "
        f"print(__import__('json').dumps({FIND_HEAVY}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), cwd=tmp_path, capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == []


def test_a_running_job_sees_no_third_party_package_loaded_by_the_executor(tmp_path: Path):
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

    result = execute_run(run_env("report", module=module), tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
