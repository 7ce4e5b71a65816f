"""Alerts: policies matched to events, delivered durably by the control plane's own Temporal worker.

- `outbox`: events are written in the transaction that saw them happen (run transitions, location reports,
  ticks), under an id that names the occurrence; committing wakes the dispatcher.
- `dispatcher`: starts one `AlertDeliveryWorkflow` per matching (policy, event), workflow id
  `alert:<policy>:<event id>` (Temporal refuses a second one), then marks the event dispatched.
- `workflows`/`activities`: the delivery (a timer for "longer than N s" events, the condition checked again,
  one retried activity per channel, each attempt recorded) and the agent watch (a timer per agent).
- `channels/`: email (SMTP), signed JSON webhooks, and apprise for Slack, Teams and PagerDuty.
"""
