"""Timeouts and retry policies of every activity call: explicit, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from contracts.supervision_lease import WATCH_BACKSTOP_TIMEOUT

# A dead agent is noticed within HEARTBEAT_TIMEOUT; the retry then re-attaches on another replica: supervision
# resumes within ~3 s. The activities beat every second (activities/polling.py); the SDK sends every 1.6 s.
HEARTBEAT_TIMEOUT = timedelta(seconds=2)
# Long watches are bounded by the workflow's own timers; this only stops a runaway activity.
LONG_WATCH = timedelta(days=30)

FINAL_ERRORS = ["LaunchError", "LauncherUnavailable", "ServerExited", "StartupTimeout"]
# Launch failures that a restart cannot fix (bad spec, missing image): the location waits for a redeploy.
# Definitions over the size limit come back the same on every restart: halting too.
HALTING_ERRORS = frozenset({"LaunchError", "LauncherUnavailable", "DefinitionsTooLarge"})

# Supervision is resumed as soon as an agent is back: retry forever, quickly.
REATTACH = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
    non_retryable_error_types=FINAL_ERRORS,
)


def launch() -> dict[str, Any]:
    """Launching is idempotent; a few retries cover a flaky engine, not a bad spec."""
    return {
        # Image pulls can be slow: a long bound, and heartbeats so a dead agent is noticed as fast as in a watch
        # (a run killed with its agent mid-launch is adopted by a replica within ~3 s, not after a long timeout).
        "start_to_close_timeout": timedelta(minutes=15),
        "heartbeat_timeout": HEARTBEAT_TIMEOUT,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1), maximum_attempts=3, non_retryable_error_types=FINAL_ERRORS
        ),
    }


def watch(bound: timedelta = LONG_WATCH) -> dict[str, Any]:
    """A heartbeating watch of a process that retries (re-attaches) until the workflow stops caring."""
    return {"start_to_close_timeout": bound, "heartbeat_timeout": HEARTBEAT_TIMEOUT, "retry_policy": REATTACH}


def supervise(bound: timedelta = LONG_WATCH) -> dict[str, Any]:
    """A run's watch under the agent's supervision lease: the agent's death is noticed by its lease in ~1.5 s and
    the watch started again by signal, so the watch's own heartbeat is only a rare backstop."""
    return {"start_to_close_timeout": bound, "heartbeat_timeout": WATCH_BACKSTOP_TIMEOUT, "retry_policy": REATTACH}


def stop(grace_s: float) -> dict[str, Any]:
    """Stopping waits for the grace period, then kills."""
    return {
        "start_to_close_timeout": timedelta(seconds=grace_s + 30),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
    }


def quick() -> dict[str, Any]:
    """A short request to a code server."""
    return {
        "start_to_close_timeout": timedelta(seconds=15),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
    }


def report() -> dict[str, Any]:
    """Metadata must reach the control plane even after an outage: retry for a week, capped backoff."""
    return {
        "start_to_close_timeout": timedelta(seconds=10),
        "schedule_to_close_timeout": timedelta(days=7),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(milliseconds=500),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=10),
        ),
    }


def evaluate(timeout_s: float) -> dict[str, Any]:
    """A schedule's or sensor's evaluation in its code server: bounded by the automation's own timeout; the
    activity heartbeats while it waits, so a dead agent is noticed in seconds and the tick retried."""
    return {
        "start_to_close_timeout": timedelta(seconds=timeout_s),
        "heartbeat_timeout": timedelta(seconds=10),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
    }


def config_check() -> dict[str, Any]:
    """A launch's config checked in the code server while the user's request waits: a few seconds in all, one retry
    (a second agent, if the first died); beyond that the launch goes on unchecked."""
    return {
        "start_to_close_timeout": timedelta(seconds=4),
        "schedule_to_close_timeout": timedelta(seconds=8),
        "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=2),
    }
