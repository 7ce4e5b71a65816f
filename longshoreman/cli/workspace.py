"""Read a Dagster `workspace.yaml` into location specs: one `framework: dagster` location per `load_from` entry.

The entries Dagster's own `dagster dev -w` understands that name code in a Python environment are read:
`python_module` (a module name, or `module_name` with optional `location_name` and `working_directory`) and
`python_file` (a path, or `relative_path` with the same options). Paths follow Dagster's rules: a file's
`relative_path` and any `working_directory` are relative to the workspace file's directory, which is also the
default working directory. Everything else (`grpc_server`, `python_package`, `attribute`, `executable_path`,
...) is refused: every problem of every entry is found before anything is added.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.locations import LocationSpec
from longshoreman.cli.api_client import CliError
from longshoreman.cli.render import validation_message
from longshoreman.cli.yaml_files import read_yaml

# What each entry kind may say (Dagster's keys we support) and the key naming the code.
ENTRY_KEYS = {
    "python_module": ("module_name", {"module_name", "location_name", "working_directory"}),
    "python_file": ("relative_path", {"relative_path", "location_name", "working_directory"}),
}


def location_name(raw: str) -> str:
    """A Dagster location name (often a module name, `my_project.defs`) made DNS-safe: `my-project-defs`."""
    return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")


def workspace_specs(path: Path, base: Mapping[str, Any]) -> list[LocationSpec]:
    """One spec per `load_from` entry of the workspace file at `path`, each `base` (launcher, queue, env...)
    plus its code; CliError naming the entry at the first problem."""
    data = read_yaml(path)
    entries = data.get("load_from") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CliError(f"{path} must have a non-empty `load_from:` list (a Dagster workspace file)")
    if isinstance(data, dict) and set(data) - {"load_from"}:
        extra = ", ".join(sorted(str(k) for k in set(data) - {"load_from"}))
        raise CliError(f"{path}: unknown top-level key {extra} (a workspace file has only `load_from:`)")
    folder = path.resolve().parent
    specs: list[LocationSpec] = []
    for number, entry in enumerate(entries, start=1):
        spec = _entry_spec(entry, folder, base, f"{path}: load_from entry {number}")
        clash = next((s for s in specs if s.name == spec.name), None)
        if clash is not None:
            raise CliError(
                f"{path}: load_from entry {number}: location name {spec.name!r} is already used by an earlier "
                "entry (set location_name)"
            )
        specs.append(spec)
    return specs


def _entry_spec(entry: Any, folder: Path, base: Mapping[str, Any], where: str) -> LocationSpec:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise CliError(f"{where} must be a mapping with one key, python_module or python_file")
    [(kind, value)] = entry.items()
    if kind not in ENTRY_KEYS:
        raise CliError(f"{where}: {kind} is not supported (only python_module and python_file entries)")
    main, allowed = ENTRY_KEYS[kind]
    options: dict[str, Any] = {main: value} if isinstance(value, str) else value
    if not isinstance(options, dict):
        raise CliError(f"{where}: {kind} must be a string or a mapping with {main}")
    unknown = sorted(str(k) for k in set(options) - allowed)
    if unknown:
        raise CliError(
            f"{where}: {kind} key {', '.join(unknown)} is not supported (known: {', '.join(sorted(allowed))})"
        )
    for key, option in options.items():
        if not isinstance(option, str) or not option.strip():
            raise CliError(f"{where}: {kind}.{key} must be a non-empty string")
    if main not in options:
        raise CliError(f"{where}: {kind} needs {main}")
    local = (base.get("launcher") or "process") == "process"
    code: dict[str, Any]
    if kind == "python_file":
        # Dagster rebases the file on the workspace's folder; in a container image the path is the image's.
        relative = options["relative_path"]
        file = str(folder / relative) if local else relative
        if local and not os.path.isfile(file):
            raise CliError(f"{where}: python_file {relative!r} not found (looked for {file})")
        code = {"python_file": file}
        default_name = Path(relative).stem
    else:
        code = {"module": options["module_name"]}
        default_name = options["module_name"]
    if local:
        working = folder / options.get("working_directory", ".")
        if not working.is_dir():
            raise CliError(f"{where}: working_directory {options['working_directory']!r} is not a directory")
        code["working_dir"] = str(working)
    elif "working_directory" in options:
        code["working_dir"] = options["working_directory"]
    name = location_name(options.get("location_name", default_name))
    fields = {k: v for k, v in base.items() if v is not None} | code | {"name": name, "framework": "dagster"}
    try:
        return LocationSpec.model_validate(fields)
    except ValidationError as exc:
        raise CliError(f"{where}: {validation_message(exc)}") from exc
