"""The docker watcher's cache: a late or stale answer never brings an ended container back to life (no engine)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from activities.launchers.docker.watcher import ContainerState, ContainerWatcher, parse_time


def watcher() -> ContainerWatcher:
    def no_engine() -> object:
        raise AssertionError("this test never talks to an engine")

    return ContainerWatcher(no_engine, "lstest-cache")  # its threads are never started


def running(name: str = "lstest-cache-run-r1-a1") -> ContainerState:
    return ContainerState(
        id="c0ffee",
        name=name,
        labels={"longshoreman.kind": "worker"},
        status="running",
        exit_code=None,
        oom_killed=False,
        error="",
        created=datetime.now(UTC),
        started_at=datetime.now(UTC),
        finished_at=None,
    )


def test_job_start_seen_after_the_container_ended_keeps_it_ended() -> None:
    cache = watcher()
    state = running()
    cache._store(state.name, 1.0, state)
    # The container exits; the event's fresh answer is stored first...
    cache._store(state.name, 2.0, replace(state, status="exited", exit_code=0))
    # ...then the start probe, which looked before the exit, reports the job's started file.
    cache._mark_started(state.name, state.id)
    now = cache.get(state.name)
    assert now is not None and now.status == "exited" and now.job_started


def test_an_older_answer_never_replaces_a_newer_one() -> None:
    cache = watcher()
    state = running()
    cache._store(state.name, 2.0, replace(state, status="exited", exit_code=1))
    cache._store(state.name, 1.0, state)
    now = cache.get(state.name)
    assert now is not None and now.status == "exited"


def test_waiters_wake_when_their_container_changes() -> None:
    cache = watcher()
    state = running()
    cache._store(state.name, 1.0, state)

    async def scenario() -> ContainerState | None:
        waiting = asyncio.ensure_future(cache.wait_for(state.name, lambda s: s is not None and s.ended, 30))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(cache._store, state.name, 2.0, replace(state, status="exited", exit_code=0))
        return await asyncio.wait_for(waiting, 5)

    ended = asyncio.run(scenario())
    assert ended is not None and ended.exit_code == 0


def test_engine_timestamps_parse_with_nanoseconds_and_go_zero_time() -> None:
    assert parse_time("2026-11-26T08:53:35.225561159Z") == datetime(2026, 11, 26, 8, 53, 35, 225561, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
