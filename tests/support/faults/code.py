"""Code locations that misbehave on purpose, written to a directory the process launcher starts them in."""

from __future__ import annotations

import textwrap
from pathlib import Path

STUBBORN = """
    import signal, subprocess, sys, time
    from longshoreman import Definitions, job

    IGNORE = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"

    @job
    def hang():
        # Ignores SIGTERM, and so does a child it leaves behind: only a kill of the whole group stops them.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", IGNORE])
        print(f"ignoring SIGTERM; child {child.pid}", flush=True)
        time.sleep(600)

    defs = Definitions(jobs=[hang])
"""

CRASHY = """
    import os, threading
    from longshoreman import Definitions, job

    # Only the code server crashes (run workers have no LONGSHOREMAN_PORT): shortly after it starts serving,
    # for as long as the flag file exists.
    if "LONGSHOREMAN_PORT" in os.environ and os.path.exists(os.environ["CRASH_FLAG"]):
        threading.Timer(float(os.environ.get("CRASH_AFTER_S", "0.5")), os._exit, [3]).start()

    @job
    def ok():
        print("ok")

    defs = Definitions(jobs=[ok])
"""

HUGE_DEFINITIONS = """
    from longshoreman import Definitions, job

    # Many jobs, each with a large config schema: megabytes of definitions.
    SCHEMA = {{"type": "object", "description": "x" * {description}}}
    jobs = [job(name=f"job{{i}}", config_schema=SCHEMA)(lambda: None) for i in range({count})]
    defs = Definitions(jobs=jobs)
"""


def write_module(root: Path, name: str, source: str) -> Path:
    """Write package `name` under `root` (the location's working dir) and return `root`."""
    package = root / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(textwrap.dedent(source))
    return root


def huge_definitions_source(total_bytes: int, count: int = 200) -> str:
    """A module whose definitions are about `total_bytes` of JSON."""
    return HUGE_DEFINITIONS.format(description=total_bytes // count, count=count)
