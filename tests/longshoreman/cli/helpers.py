"""Run the CLI in-process (typer's CliRunner) against a real control plane, with a chosen URL and token."""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner, Result

from longshoreman.cli.app import app


@dataclass
class Cli:
    """Invokes `longshoreman ...` with LONGSHOREMAN_URL/TOKEN set and no credentials file to fall back on."""

    url: str
    token: str | None

    def __call__(self, *args: str) -> Result:
        """Run one command; the result has exit_code, stdout and stderr."""
        env = {
            "LONGSHOREMAN_URL": self.url,
            "LONGSHOREMAN_TOKEN": self.token or "",
            "LONGSHOREMAN_CREDENTIALS_FILE": "/nonexistent/credentials.json",
            "COLUMNS": "250",
        }
        return CliRunner().invoke(app, list(args), env=env)


def one_error_line(result: Result) -> str:
    """Assert the command failed with exactly one `error: ...` line on stderr, and return that line."""
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]
