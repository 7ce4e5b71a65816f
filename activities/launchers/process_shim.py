"""Tiny reaper that runs one command and records how it ended.

Started by the process launcher in its own session, with `python -I -S`, so it needs only the standard
library and outlives the agent. It spawns the command in its own process group (so signals to the group
reach the command and its children but not the shim), writes `pid.json` once the command runs and
`exit.json` when it ends — the only way to learn the exit status of a process that is not the agent's child.

Both records are written into space reserved before the command starts: a disk that fills up (or a
directory made read-only) while the command runs cannot cost its exit status. When even the reservation
fails, nothing is started and the shim exits with NO_ROOM; when pid.json cannot be written after all, the
command is killed at once (a process nobody can find again must not run).

The shim's stdout, if the launcher made it a pipe, gets one byte once pid.json (or exit.json) is written,
so the launcher need not poll for it.

Usage: process_shim.py DIR -- COMMAND...
"""

import json
import os
import signal
import sys
import time

RECORD_BYTES = 512  # room reserved for pid.json and exit.json (their JSON is well under 200 bytes)
NO_ROOM = 3  # exit code: the state directory has no room (disk full, read-only): nothing was started
EXIT_RETRY_S = 600.0


def _reserve(path: str) -> None:
    """Allocate RECORD_BYTES for `path` now (as `path.reserved`), so that writing it later needs no new space."""
    with open(f"{path}.reserved", "w") as handle:
        handle.write(" " * RECORD_BYTES)
        handle.flush()
        os.fsync(handle.fileno())


def _write_json(path: str, data: dict[str, object]) -> None:
    """Write the record into its reserved file (same size: trailing blanks are valid JSON), then rename it."""
    text = json.dumps(data)
    reserved = f"{path}.reserved"
    with open(reserved, "r+") as handle:
        handle.write(text.ljust(RECORD_BYTES) if len(text) <= RECORD_BYTES else text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(reserved, path)


def _start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of stat(5): start time in clock ticks after boot


def _tell_launcher() -> None:
    """Wake the launcher (it reads our stdout, a pipe): the records are written. It may be gone: no matter."""
    try:
        os.write(1, b".")
        os.close(1)
    except OSError:
        pass


def main() -> int:
    """Spawn the command, record its pid, wait for it and record its exit."""
    directory = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1 :]
    # The agent may stop its whole session; the shim must live long enough to record the exit.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    try:
        log_fd = os.open(os.path.join(directory, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _reserve(os.path.join(directory, "pid.json"))
        _reserve(os.path.join(directory, "exit.json"))
    except OSError as err:
        print(f"process shim: no room in {directory}: {err}", file=sys.stderr)
        return NO_ROOM
    try:
        pid = os.posix_spawnp(
            command[0],
            command,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setpgroup=0,
            setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGHUP),
        )
    except OSError as err:
        _write_json(os.path.join(directory, "exit.json"), {"exit_code": 127, "signal": None, "error": str(err)})
        _tell_launcher()
        return 0
    try:
        _write_json(
            os.path.join(directory, "pid.json"),
            {
                "pid": pid,
                "start_ticks": _start_ticks(pid),
                "shim_pid": os.getpid(),
                "shim_start_ticks": _start_ticks(os.getpid()),
            },
        )
    except OSError:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return NO_ROOM
    _tell_launcher()
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            status = -1
            break
        except InterruptedError:
            continue
    record: dict[str, object]
    if status == -1:
        record = {"exit_code": None, "signal": None, "error": "exit status unavailable"}
    elif os.WIFSIGNALED(status):
        record = {"exit_code": None, "signal": os.WTERMSIG(status)}
    else:
        record = {"exit_code": os.WEXITSTATUS(status), "signal": None}
    # The space is reserved, so this fails only if the directory itself went away or became read-only: keep
    # trying for a while (the agent waits while the shim lives) rather than lose the exit status at once.
    deadline = time.monotonic() + EXIT_RETRY_S
    while True:
        try:
            _write_json(os.path.join(directory, "exit.json"), record)
            return 0
        except OSError:
            if time.monotonic() > deadline:
                return NO_ROOM
            time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
