"""A run config checked against its job's JSON schema: one rule, one wording, for the control plane's launch
check and the SDK code server's answer to a config check.

Standard library only at import (the SDK imports it): `jsonschema` is imported when a check runs. Without it in
the user's environment a config passes in the code server, and the control plane (which has it) stays the check.
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
