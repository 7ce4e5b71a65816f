"""Find the one `dagster.Definitions` of a module, as `dagster dev -m MODULE` does."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

import dagster as dg

from longshoreman.definitions import LoadError


@dataclass(frozen=True)
class LoadedDefinitions:
    """A module's Definitions and the attribute holding it (how a run worker's child processes find it again)."""

    module: str
    attribute: str
    definitions: dg.Definitions


def load(module_name: str) -> LoadedDefinitions:
    """Import `module_name` and return its one Definitions (LoadError with the user's traceback otherwise)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise LoadError(f"could not import module {module_name!r}: {type(exc).__name__}: {exc}", module_name) from exc
    found: dict[int, list[str]] = {}
    objects: dict[int, dg.Definitions] = {}
    for attr, value in vars(module).items():
        if isinstance(value, dg.Definitions):
            found.setdefault(id(value), []).append(attr)
            objects[id(value)] = value
    if not objects:
        raise LoadError(
            f"module {module_name!r} has no dagster.Definitions object: add e.g. `defs = dg.Definitions(assets=[...])`"
        )
    if len(objects) > 1:
        names = ", ".join(sorted(names[0] for names in found.values()))
        raise LoadError(f"module {module_name!r} has several dagster.Definitions objects ({names}): keep exactly one")
    key, definitions = next(iter(objects.items()))
    try:
        # Resolving builds the repository: definition errors (a job selecting an unknown asset...) show here.
        definitions.get_repository_def()
    except Exception as exc:
        raise LoadError(
            f"the Definitions in {module_name!r} are invalid: {type(exc).__name__}: {exc}", module_name
        ) from exc
    return LoadedDefinitions(module_name, sorted(found[key])[0], definitions)
