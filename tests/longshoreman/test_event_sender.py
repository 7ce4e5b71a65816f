"""The batching sender's buffer rule: when posting cannot keep up, keep the first and last items, report the loss."""

from __future__ import annotations

import time

from longshoreman.event_sender import BoundedBuffer, RunEventSender
from tests.longshoreman.run_target import RunFactory


def test_the_buffer_keeps_the_first_and_last_items_and_counts_the_rest():
    buffer = BoundedBuffer(keep_first=2, keep_last=3)
    for seq in range(1, 11):
        buffer.append((seq, "item"))

    assert [item[0] for item in buffer.peek(100)] == [1, 2, 8, 9, 10]
    assert buffer.dropped == 5


def test_delivered_items_leave_the_buffer_and_new_ones_keep_their_order():
    buffer = BoundedBuffer(keep_first=2, keep_last=2)
    for seq in range(1, 6):
        buffer.append((seq,))
    buffer.discard_through(4)  # a batch up to seq 4 was delivered (seq 3 had been dropped)
    buffer.append((6,))
    buffer.append((7,))

    assert [item[0] for item in buffer.peek(100)] == [5, 6, 7]
    assert [item[0] for item in buffer.peek(2)] == [5, 6]


def test_lines_that_could_not_wait_are_reported_as_dropped(new_run: RunFactory):
    run = new_run("count")
    warnings: list[str] = []
    sender = RunEventSender(
        run.control_plane.url, run.run_id, 1, run.token, warn=warnings.append, keep_first_logs=3, keep_last_logs=3
    )
    # The thread is not started yet: nothing can be posted, as while the control plane is unreachable.
    for i in range(1, 11):
        sender.log("stdout", f"line {i}", time.time())
    sender.start()

    assert sender.close(timeout_s=20)
    assert [(line["seq"], line["line"]) for line in run.lines()] == [
        (1, "line 1"),
        (2, "line 2"),
        (3, "line 3"),
        (8, "line 8"),
        (9, "line 9"),
        (10, "line 10"),
    ]
    assert [(e["type"], e["message"]) for e in run.events()] == [
        ("LOGS_DROPPED", "4 log lines were dropped while the control plane was unreachable")
    ]
    assert warnings == []


def test_a_chatty_job_waits_for_room_instead_of_losing_lines(new_run: RunFactory):
    run = new_run("count")
    warnings: list[str] = []
    sender = RunEventSender(
        run.control_plane.url,
        run.run_id,
        1,
        run.token,
        warn=warnings.append,
        keep_first_logs=3,
        keep_last_logs=3,
        batch_size=4,
    )
    sender.start()
    for i in range(1, 101):
        sender.log("stdout", f"line {i}", time.time())

    assert sender.close(timeout_s=20)
    assert [line["line"] for line in run.lines()] == [f"line {i}" for i in range(1, 101)]
    assert run.events() == []
    assert warnings == []
