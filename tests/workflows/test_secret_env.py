"""A location's secret_env reaches its code server and run workers, and nothing the control plane answers."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

from tests.support.stack import Stack


def test_the_run_worker_and_the_code_server_see_the_secret_the_api_never_shows(stack: Stack, tmp_path: Path) -> None:
    secret = f"s3cret-{stack.prefix}"
    code = tmp_path / "code"
    (code / "vault").mkdir(parents=True)
    (code / "vault" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import hashlib, os
            from longshoreman import Definitions, job

            # Loaded by the code server too: a job's description says it saw the variable (never its value).
            SEEN = "seen" if os.environ.get("API_KEY") else "missing"

            @job(description=SEEN)
            def check():
                print("sha256", hashlib.sha256(os.environ["API_KEY"].encode()).hexdigest())

            defs = Definitions(jobs=[check])
            """
        )
    )
    view = stack.add_location(
        stack.spec("vault", module="vault", working_dir=str(code), secret_env={"API_KEY": secret})
    )

    assert view["spec"]["secret_env"] == {"API_KEY": "***"}
    assert view["definitions"]["jobs"][0]["description"] == "seen"
    run = stack.wait_run(stack.launch("check", location="vault"))
    assert run["status"] == "SUCCESS", run
    assert f"sha256 {hashlib.sha256(secret.encode()).hexdigest()}" in stack.logs(run["id"])
    assert secret not in stack.client.get(f"/api/locations/{view['name']}").text
