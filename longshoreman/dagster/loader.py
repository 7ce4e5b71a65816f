"""Find the one `dagster.Definitions` of a module or a file, as `dagster dev -m MODULE` / `-f FILE` do."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from types import ModuleType

import dagster as dg
from dagster._core import code_pointer

from longshoreman.definitions import LoadError


@dataclass(frozen=True)
class LoadedDefinitions:
    """A module's Definitions and the attribute holding it (how a run worker's child processes find it again).

    `python_file` (absolute) is set when the code was loaded from a file: `module` is then the name Dagster
    imported it under, and child processes load the file again (Dagster's FileCodePointer).
    """

    module: str
    attribute: str
    definitions: dg.Definitions
    python_file: str | None = None


def load(module_name: str) -> LoadedDefinitions:
    """Import `module_name` and return its one Definitions (LoadError with the user's traceback otherwise)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise LoadError(f"could not import module {module_name!r}: {type(exc).__name__}: {exc}", module_name) from exc
    return _definitions_of(module, f"module {module_name!r}", None)


def load_file(python_file: str) -> LoadedDefinitions:
    """Import the file `python_file` (relative: to the working directory) as `dagster dev -f` does, and return its
    one Definitions (LoadError with the user's traceback otherwise)."""
    path = os.path.abspath(python_file)
    if not os.path.isfile(path):
        raise LoadError(f"python file {python_file!r} not found (looked for {path})")
    try:
        # Dagster's own file loader (what its FileCodePointer and so a run's step processes use): the module is
        # named after the file, the working directory is on sys.path while it imports.
        module = code_pointer.load_python_file(path, os.getcwd())
    except Exception as exc:
        raise LoadError(
            f"could not import file {python_file!r}: {type(exc).__name__}: {exc}", hidden=(code_pointer.__file__,)
        ) from exc
    return _definitions_of(module, f"file {python_file!r}", path)


def _definitions_of(module: ModuleType, what: str, python_file: str | None) -> LoadedDefinitions:
    """The module's one Definitions, resolved (`what` names the module or file in messages)."""
    module_name = module.__name__
    found: dict[int, list[str]] = {}
    objects: dict[int, dg.Definitions] = {}
    for attr, value in vars(module).items():
        if isinstance(value, dg.Definitions):
            found.setdefault(id(value), []).append(attr)
            objects[id(value)] = value
    if not objects:
        raise LoadError(f"{what} has no dagster.Definitions object: add e.g. `defs = dg.Definitions(assets=[...])`")
    if len(objects) > 1:
        names = ", ".join(sorted(names[0] for names in found.values()))
        raise LoadError(f"{what} has several dagster.Definitions objects ({names}): keep exactly one")
    key, definitions = next(iter(objects.items()))
    try:
        # Resolving builds the repository: definition errors (a job selecting an unknown asset...) show here.
        definitions.get_repository_def()
    except Exception as exc:
        raise LoadError(f"the Definitions in {what} are invalid: {type(exc).__name__}: {exc}", module_name) from exc
    return LoadedDefinitions(module_name, sorted(found[key])[0], definitions, python_file)
