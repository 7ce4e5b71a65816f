"""Dagster config types as JSON Schema, so that the control plane checks a run's config at launch.

The control plane never imports dagster: it validates a launch's config against this schema (a 422 at launch).
The schema cannot say everything Dagster checks (an Int refuses 2.0, which JSON Schema calls an integer), so the
control plane then asks the code server, which checks with Dagster itself (`DagsterCatalog.check_config`); the run
worker checks once more the same way, and its message becomes the run's reason when no code server answered.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
from dagster._config import ConfigScalarKind, ConfigType, ConfigTypeKind

_SCALARS = {
    ConfigScalarKind.INT: "integer",
    ConfigScalarKind.FLOAT: "number",
    ConfigScalarKind.STRING: "string",
    ConfigScalarKind.BOOL: "boolean",
}


def job_config_schema(job: dg.JobDefinition) -> dict[str, Any]:
    """The JSON Schema of a job's run config (ops, resources, execution, loggers as Dagster defines them)."""
    schema = to_json_schema(job.run_config_schema.config_type)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def to_json_schema(config_type: ConfigType) -> dict[str, Any]:
    """One Dagster config type as a JSON Schema."""
    kind = config_type.kind
    described: dict[str, Any] = {}
    if config_type.description:
        described["description"] = config_type.description
    if kind is ConfigTypeKind.ANY:
        return described
    if kind is ConfigTypeKind.SCALAR:
        return {"type": _SCALARS[config_type.scalar_kind], **described}  # type: ignore[attr-defined]
    if kind is ConfigTypeKind.ENUM:
        return {"enum": list(config_type.config_values), **described}  # type: ignore[attr-defined]
    if kind is ConfigTypeKind.NONEABLE:
        return {"anyOf": [to_json_schema(config_type.inner_type), {"type": "null"}]}  # type: ignore[attr-defined]
    if kind is ConfigTypeKind.ARRAY:
        return {"type": "array", "items": to_json_schema(config_type.inner_type), **described}  # type: ignore[attr-defined]
    if kind is ConfigTypeKind.MAP:
        inner = to_json_schema(config_type.inner_type)  # type: ignore[attr-defined]
        return {"type": "object", "additionalProperties": inner, **described}
    if kind is ConfigTypeKind.SCALAR_UNION:
        scalar = to_json_schema(config_type.scalar_type)  # type: ignore[attr-defined]
        return {"anyOf": [scalar, to_json_schema(config_type.non_scalar_type)], **described}  # type: ignore[attr-defined]
    fields: dict[str, Any] = config_type.fields  # type: ignore[attr-defined]
    properties = {name: _field_schema(field) for name, field in fields.items()}
    schema: dict[str, Any] = {"type": "object", "properties": properties, **described}
    if kind is ConfigTypeKind.SELECTOR:
        # Exactly one of the fields (none if one has a default: Dagster then picks it).
        schema["additionalProperties"] = False
        schema["maxProperties"] = 1
        if not any(field.default_provided for field in fields.values()):
            schema["minProperties"] = 1
        return schema
    schema["additionalProperties"] = kind is ConfigTypeKind.PERMISSIVE_SHAPE
    required = sorted(name for name, field in fields.items() if field.is_required)
    if required:
        schema["required"] = required
    return schema


def _field_schema(field: dg.Field) -> dict[str, Any]:
    schema = to_json_schema(field.config_type)
    if field.description:
        schema["description"] = field.description
    if field.default_provided:
        default = field.default_value
        try:
            json.dumps(default)
        except (TypeError, ValueError):
            return schema  # a Python-only default (an enum member...) has no JSON form to show
        schema["default"] = default
    return schema
