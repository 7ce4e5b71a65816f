"""A launch form from a job's config JSON schema: one field per top-level property, the rest as JSON.

The form only helps to type a config: the API validates it against the schema and its message is shown next to
the field it names (the page's script matches `config['name']`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SIMPLE_TYPES = {"string", "integer", "number", "boolean"}


@dataclass(frozen=True)
class Field:
    """One input of the form."""

    name: str
    kind: str  # string, integer, number, boolean, choice or json
    default: str
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def input_type(self) -> str:
        """The HTML input type."""
        return {"integer": "number", "number": "number", "boolean": "checkbox"}.get(self.kind, "text")


def _default_text(kind: str, default: Any) -> str:
    if default is None:
        return ""
    if kind == "json":
        return json.dumps(default)
    if kind == "boolean":
        return "true" if default else ""
    return str(default)


def _field(name: str, schema: dict[str, Any], required: bool) -> Field:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema and all(isinstance(v, str | int | float) for v in schema["enum"]):
        kind = "choice"
    elif kind not in SIMPLE_TYPES:
        kind = "json"
    return Field(
        name=name,
        kind=kind,
        default=_default_text(kind, schema.get("default")),
        required=required,
        description=str(schema.get("description", "")),
        choices=tuple(str(v) for v in schema.get("enum", ())),
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
    )


def config_fields(schema: dict[str, Any]) -> list[Field]:
    """The form's fields of a config schema (empty: the job takes no config, or a schema the form cannot split,
    which then gets one JSON field for the whole config)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = set(schema.get("required") or ())
    return [_field(name, sub if isinstance(sub, dict) else {}, name in required) for name, sub in properties.items()]
