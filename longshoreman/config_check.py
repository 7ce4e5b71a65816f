"""An SDK job's run config checked against its JSON schema, in the code server (the control plane's own check).

The SDK needs only the standard library: without `jsonschema` in the user's environment a config passes here,
and the control plane (which has it) stays the check.
"""

from __future__ import annotations

from typing import Any


def schema_errors(job: str, schema: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Why `config` does not satisfy `schema` (the best match, worded as the control plane words it), or []."""
    if not schema:
        return []
    try:
        import jsonschema
        from jsonschema.exceptions import best_match
    except ImportError:
        return []
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as err:
        return [f"job '{job}' declares an invalid config schema: {err.message}"]
    error = best_match(validator_cls(schema).iter_errors(config))
    if error is None:
        return []
    where = "config" + "".join(f"[{p!r}]" for p in error.absolute_path)
    return [f"config is not valid for job '{job}': {where}: {error.message}"]
