"""`python -m longshoreman` / `longshoreman`: the light run-time commands, or the full CLI.

`code-server` and `execute-run` run inside user images: they are dispatched here without importing the
typer CLI (nor pydantic, httpx, rich) so they start fast and need only the standard library.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Dispatch `code-server` and `execute-run` to the SDK; every other command to the typer CLI."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "code-server":
        from longshoreman.code_server import main as code_server_main

        sys.exit(code_server_main(args[1:]))
    if command == "execute-run":
        from longshoreman.executor import main as execute_run_main

        sys.exit(execute_run_main(args[1:]))
    from longshoreman.cli.app import main as cli_main

    cli_main(argv)


if __name__ == "__main__":
    main()
