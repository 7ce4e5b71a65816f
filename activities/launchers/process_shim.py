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

Standby mode starts the command before its run exists (Python up, the executor imported) and waits for the
launcher to name the run's directory and environment on stdin: see _standby.

Usage: process_shim.py DIR -- COMMAND...
       process_shim.py --standby -- COMMAND...
"""

import json
import os
import signal
import sys
import time

RECORD_BYTES = 512  # room reserved for pid.json and exit.json (their JSON is well under 200 bytes)
NO_ROOM = 3  # exit code: the state directory has no room (disk full, read-only): nothing was started
STANDBY_GONE = 4  # exit code: the standby command had died before its run came; nothing was recorded
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
    """Run one command (or stand by for one), record its pid, wait for it and record its exit."""
    args = sys.argv[1:]
    command = args[args.index("--") + 1 :]
    # The agent may stop its whole session; the shim must live long enough to record the exit.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    if args[0] == "--standby":
        return _standby(command)
    return _run(args[0], command)


def _run(directory: str, command: list[str]) -> int:
    """Start `command` for the run or server whose directory is `directory`."""
    try:
        log_fd = os.open(os.path.join(directory, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _reserve(os.path.join(directory, "pid.json"))
        _reserve(os.path.join(directory, "exit.json"))
    except OSError as err:
        print(f"process shim: no room in {directory}: {err}", file=sys.stderr)
        return NO_ROOM
    try:
        pid = _spawn(command, [(os.POSIX_SPAWN_DUP2, log_fd, 1), (os.POSIX_SPAWN_DUP2, log_fd, 2)])
    except OSError as err:
        _write_json(os.path.join(directory, "exit.json"), {"exit_code": 127, "signal": None, "error": str(err)})
        _tell_launcher()
        return 0
    if not _record_pid(directory, pid):
        return NO_ROOM
    _tell_launcher()
    return _wait_and_record(directory, pid)


def _standby(command: list[str]) -> int:
    """Start `command` now, before its run exists; hand it its run when the launcher names one on our stdin.

    The command (the run executor in standby mode) gets its run's environment and output file on its stdin,
    after pid.json is written. Without a run (the launcher closed our stdin: it stopped, died, or discarded
    this standby) the command is killed and nothing is recorded.
    """
    read_end, write_end = os.pipe()
    try:
        pid = _spawn(
            command,
            [
                (os.POSIX_SPAWN_DUP2, read_end, 0),
                (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
                (os.POSIX_SPAWN_CLOSE, write_end),
            ],
        )
    except OSError:
        return 127
    os.close(read_end)
    line = sys.stdin.buffer.readline()
    if line and os.waitpid(pid, os.WNOHANG)[0] == pid:
        return STANDBY_GONE  # it died while it waited (killed, out of memory): the launcher starts afresh
    try:
        order = json.loads(line)
        directory = order["directory"]
        _reserve(os.path.join(directory, "pid.json"))
        _reserve(os.path.join(directory, "exit.json"))
    except (ValueError, KeyError, TypeError, OSError):
        _kill(pid)
        return NO_ROOM if line else 0
    if not _record_pid(directory, pid):
        return NO_ROOM
    run = {"env": order.get("env", {}), "output": os.path.join(directory, "output.log")}
    try:
        os.write(write_end, json.dumps(run).encode() + b"\n")
        os.close(write_end)
    except OSError:
        pass  # it died already: its exit status says how
    _tell_launcher()
    return _wait_and_record(directory, pid)


def _spawn(command: list[str], file_actions: list[tuple[object, ...]]) -> int:
    """Start `command` in its own process group with stdin from /dev/null unless `file_actions` say otherwise."""
    return os.posix_spawnp(
        command[0],
        command,
        dict(os.environ),
        file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0), *file_actions],
        setpgroup=0,
        setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGHUP),
    )


def _record_pid(directory: str, pid: int) -> bool:
    """Write pid.json; if that fails, kill the command (a process nobody can find again must not run)."""
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
        _kill(pid)
        return False
    return True


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _wait_and_record(directory: str, pid: int) -> int:
    """Wait for the command to end and write exit.json."""
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
