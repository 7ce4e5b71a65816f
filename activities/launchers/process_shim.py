"""Tiny reaper that runs one command and records how it ended.

Started by the process launcher in its own session, with `python -I -S`, so it needs only the standard
library and outlives the agent. It spawns the command in its own process group (so signals to the group
reach the command and its children but not the shim), writes `pid.json` once the command runs and
`exit.json` when it ends — the only way to learn the exit status of a process that is not the agent's child.

Usage: process_shim.py DIR -- COMMAND...
"""

import json
import os
import signal
import sys


def _write_json(path: str, data: dict[str, object]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of stat(5): start time in clock ticks after boot


def main() -> int:
    """Spawn the command, record its pid, wait for it and record its exit."""
    directory = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1 :]
    # The agent may stop its whole session; the shim must live long enough to record the exit.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    log_fd = os.open(os.path.join(directory, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
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
        return 0
    _write_json(
        os.path.join(directory, "pid.json"),
        {
            "pid": pid,
            "start_ticks": _start_ticks(pid),
            "shim_pid": os.getpid(),
            "shim_start_ticks": _start_ticks(os.getpid()),
        },
    )
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
    _write_json(os.path.join(directory, "exit.json"), record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
