"""Run failure → alert received: p50/p95 at a real SMTP server and at a webhook receiver (issue 15).

```sh
.venv/bin/python -m bench.alert_latency [--runs 30]
```

Its own dev stack (Temporal dev server, control plane on SQLite with its alert worker, one agent with the
process launcher) with the `bench` location; one policy mails (aiosmtpd on this machine) and posts (a signed
webhook to an HTTP server on this machine) every run failure. N runs of the `fail` job one after the other; for
each, from the run's `finished_at` (when the control plane stored the FAILURE the agent reported, which is also
when the alert event was written) to the moment each receiver had the alert. The path: the outbox row → the
dispatcher (woken by that commit) → AlertDeliveryWorkflow started → the control plane's worker: decide, then
both channels at once.
"""

from __future__ import annotations

import argparse
import time

from bench.stack_helpers import LOCATION, bench_stack, say, summary
from contracts.alerts import AlertPolicy
from contracts.api import LaunchRunResponse, RunView
from contracts.runs import RunRequest
from tests.support.alert_receivers import SmtpReceiver, WebhookReceiver


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    smtp = SmtpReceiver().start()
    hook = WebhookReceiver().up()
    try:
        with bench_stack() as stack, stack.client() as client:
            policy = AlertPolicy.model_validate(
                {
                    "name": "bench-failures",
                    "events": ["run_failure"],
                    "filters": {"locations": [LOCATION]},
                    "channels": [smtp.channel(to="bench@example.com"), hook.channel()],
                }
            )
            client.send("POST", "/api/alerts/policies", policy, AlertPolicy)
            to_mail: list[float] = []
            to_hook: list[float] = []
            for number in range(args.runs + 1):
                launched = client.send(
                    "POST", "/api/runs", RunRequest(location=LOCATION, job="fail"), LaunchRunResponse
                )
                run_id = launched.run.id
                run = client.get(f"/api/runs/{run_id}/wait", RunView, timeout_s=60)
                deadline = time.monotonic() + 30
                while True:
                    mails = [m for m in smtp.mails if run_id in str(m.message["Subject"])]
                    hooks = [h for h in hook.hooks if h.json["event"]["subject"] == run_id]
                    if mails and hooks:
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"run {run_id}: no alert within 30 s")
                    time.sleep(0.005)
                assert run.finished_at is not None
                finished = run.finished_at.timestamp()
                if number == 0:
                    continue  # warm-up: the first workflow task of a fresh worker
                to_mail.append(mails[0].received_at - finished)
                to_hook.append(hooks[0].received_at - finished)
                say(f"run {number}: mail {to_mail[-1] * 1000:.0f} ms, webhook {to_hook[-1] * 1000:.0f} ms")
            print(f"run failure → alert received ({args.runs} runs, one after the other)")
            print(f"  SMTP (aiosmtpd)        {summary(to_mail)}")
            print(f"  webhook (HMAC-signed)  {summary(to_hook)}")
    finally:
        smtp.stop()
        hook.down()


if __name__ == "__main__":
    main()
