"""Reading the YAML files the CLI takes (alert policies, workspace files): one readable line when they are bad."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from longshoreman.cli.api_client import CliError


def read_yaml(path: Path) -> Any:
    """The parsed YAML of `path` (CliError, one line naming the file and the line, if it cannot be read)."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CliError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', None) or 'syntax error'}") from exc
