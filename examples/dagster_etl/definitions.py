"""The dagster_etl code location: an unmodified Dagster project (nothing here imports Longshoreman).

Assets with dependencies and metadata, an asset check, an asset job, a partitioned asset, an op job with
config, a schedule, a sensor watching an inbox directory, a failing asset and a slow op for cancel tests.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg

INBOX = Path(os.environ.get("DAGSTER_ETL_INBOX", "/tmp/dagster-etl-inbox"))


@dg.asset(group_name="etl", owners=["team:data"], kinds={"python"}, description="Raw orders, as extracted.")
def raw_orders() -> dg.MaterializeResult:
    orders = [{"id": i, "amount": 10 * i} for i in range(1, 6)]
    print(f"extracted {len(orders)} orders")
    return dg.MaterializeResult(metadata={"rows": len(orders), "source": dg.MetadataValue.text("inline")})


@dg.asset(group_name="etl", deps=[raw_orders], kinds={"python"})
def order_totals() -> dg.MaterializeResult:
    """Total amount of the raw orders."""
    total = sum(10 * i for i in range(1, 6))
    print(f"total amount {total}")
    return dg.MaterializeResult(metadata={"total": total})


@dg.asset_check(asset=order_totals, description="The total is positive.")
def total_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"checked": "total > 0"})


@dg.asset(group_name="broken", description="Fails on purpose.")
def broken_asset() -> None:
    raise ValueError("boom: the broken asset failed on purpose")


daily = dg.StaticPartitionsDefinition(["2026-01-01", "2026-01-02", "2026-01-03"])


@dg.asset(group_name="etl", partitions_def=daily, description="One file per day.")
def daily_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    print(f"report for {context.partition_key}")
    return dg.MaterializeResult(metadata={"day": context.partition_key})


etl_job = dg.define_asset_job(
    "etl_job",
    selection=dg.AssetSelection.groups("etl") - dg.AssetSelection.assets(daily_report),
    description="Extract and total the orders.",
)
orders_job = dg.define_asset_job("orders_job", selection=[raw_orders], description="Extract the orders (one asset).")
broken_job = dg.define_asset_job("broken_job", selection=[broken_asset])
daily_job = dg.define_asset_job("daily_job", selection=[daily_report])


class GreetConfig(dg.Config):
    name: str
    times: int = 1


@dg.op
def say_hello(context: dg.OpExecutionContext, config: GreetConfig) -> str:
    for _ in range(config.times):
        print(f"hello, {config.name}")
    context.log.info(f"greeted {config.name}")
    return config.name


@dg.op
def shout(name: str) -> None:
    print(name.upper())


@dg.job(description="Greet someone: needs ops.say_hello.config.name.")
def greet_job() -> None:
    shout(say_hello())


@dg.op(config_schema={"seconds": dg.Field(float, default_value=30.0)})
def nap(context: dg.OpExecutionContext) -> None:
    seconds = context.op_config["seconds"]
    for tick in range(int(seconds)):
        print(f"napping {tick + 1}/{seconds:g}", flush=True)
        time.sleep(1)


@dg.job(description="Sleep for a while (for cancel tests).")
def slow_job() -> None:
    nap()


@dg.schedule(
    job=etl_job, cron_schedule="0 6 * * *", execution_timezone="Europe/Paris", description="Refresh the orders daily."
)
def morning_etl(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Refresh the orders every morning."""
    return dg.RunRequest(tags={"scheduled_for": context.scheduled_execution_time.isoformat()})


@dg.sensor(job=greet_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.STOPPED)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Greet the name in each new JSON file of the inbox, once per file."""
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    files = sorted(p.name for p in INBOX.glob("*.json")) if INBOX.is_dir() else []
    new = [name for name in files if name not in seen]
    if not new:
        return dg.SkipReason(f"no new file in {INBOX}")
    requests = [
        dg.RunRequest(
            run_key=name,
            run_config={"ops": {"say_hello": {"config": json.loads((INBOX / name).read_text())}}},
            tags={"file": name},
        )
        for name in new
    ]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(sorted(seen | set(new))))


defs = dg.Definitions(
    assets=[raw_orders, order_totals, broken_asset, daily_report],
    asset_checks=[total_is_positive],
    jobs=[etl_job, orders_job, broken_job, daily_job, greet_job, slow_job],
    schedules=[morning_etl],
    sensors=[inbox_sensor],
    executor=dg.in_process_executor,
)
