"""A code location whose job writes a secret marker to stdout, to stderr and into its exception.

The marker comes from nothing the control plane or Temporal were given (not the config, tags or env): it is
derived from the run id with a salt only this module and the test know, so finding it anywhere outside the
log store means log text leaked.
"""

from __future__ import annotations

import hashlib
import sys

from longshoreman import Definitions, JobContext, job

SALT = "longshoreman-leak-test"


def marker(run_id: str) -> str:
    """The run's marker."""
    return "MARK" + hashlib.sha256(f"{SALT}:{run_id}".encode()).hexdigest()[:20]


@job
def leak(context: JobContext) -> None:
    """Print the marker to both streams, post a structured event, then fail with the marker in the exception."""
    mark = marker(context.run_id)
    print(f"stdout says {mark}", flush=True)
    print(f"stderr says {mark}", file=sys.stderr, flush=True)
    context.log_event("PROGRESS", "half way")
    raise RuntimeError(f"the exception says {mark}")


defs = Definitions(jobs=[leak])
