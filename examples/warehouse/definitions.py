"""The warehouse code location: table loads that share one pool, so a limit caps how many hit the warehouse at once.

longshoreman location add --name warehouse --module examples.warehouse.definitions --wait
longshoreman limit set pool:warehouse 2
longshoreman run launch warehouse load_table --config '{"table": "orders"}'
"""

from __future__ import annotations

import time

from longshoreman import Definitions, JobContext, job


@job(
    pool="warehouse",
    config_schema={
        "type": "object",
        "properties": {
            "table": {"type": "string", "default": "orders", "description": "The table to load."},
            "seconds": {"type": "number", "minimum": 0, "default": 1, "description": "How long the load takes."},
        },
    },
)
def load_table(context: JobContext) -> None:
    """Load one table into the warehouse (its runs count in the pool `warehouse`)."""
    table = context.config["table"]
    print(f"loading {table}", flush=True)
    time.sleep(float(context.config["seconds"]))
    print(f"loaded {table}", flush=True)
    context.log_event("TABLE_LOADED", table)


@job
def report() -> None:
    """Print a report (in no pool: never held back by the warehouse's limit)."""
    print("report: all tables loaded")


defs = Definitions(jobs=[load_table, report])
