"""The launch form's fields from a job's config schema: simple types as inputs with their defaults, enums as a
choice, anything else as JSON; a schema without properties gets no field (the page offers one JSON box)."""

from __future__ import annotations

from controlplane.ui.config_form import config_fields


def test_fields_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "world", "description": "Who to greet."},
            "times": {"type": "integer", "minimum": 1},
            "ratio": {"type": ["number", "null"], "default": 0.5},
            "loud": {"type": "boolean", "default": True},
            "mode": {"enum": ["fast", "safe"], "default": "safe"},
            "tables": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
        },
        "required": ["times"],
    }
    fields = {f.name: f for f in config_fields(schema)}

    assert list(fields) == ["name", "times", "ratio", "loud", "mode", "tables"]  # the schema's order
    assert (fields["name"].kind, fields["name"].default, fields["name"].description) == (
        "string",
        "world",
        "Who to greet.",
    )
    assert (fields["times"].kind, fields["times"].required, fields["times"].minimum) == ("integer", True, 1)
    assert (fields["ratio"].kind, fields["ratio"].input_type, fields["ratio"].default) == ("number", "number", "0.5")
    assert (fields["loud"].input_type, fields["loud"].default) == ("checkbox", "true")
    assert (fields["mode"].kind, fields["mode"].choices, fields["mode"].default) == ("choice", ("fast", "safe"), "safe")
    assert (fields["tables"].kind, fields["tables"].default) == ("json", '["a"]')
    assert config_fields({}) == [] and config_fields({"type": "object", "oneOf": []}) == []
