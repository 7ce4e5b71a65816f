"""`@job`, `JobContext` and `Definitions`: what a user declares and what the code server reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts.locations import Definitions as DefinitionsModel
from longshoreman import Definitions, Job, JobContext, job
from longshoreman.definitions import LoadError, load_definitions, load_job
from tests.longshoreman.sdk_support import write_module


def test_bare_decorator_uses_the_function_name_and_docstring_first_paragraph():
    @job
    def nightly_export() -> str:
        """Export yesterday's orders
        to the warehouse.

        Longer details that are not part of the description.
        """
        return "done"

    assert isinstance(nightly_export, Job)
    assert nightly_export.name == "nightly_export"
    assert nightly_export.description == "Export yesterday's orders to the warehouse."
    assert nightly_export.config_schema == {}
    assert nightly_export() == "done"  # still callable like the function


def test_decorator_with_options_overrides_name_description_and_schema():
    schema = {"type": "object", "properties": {"day": {"type": "string"}}}

    @job(name="export-orders", description="Exports orders.", config_schema=schema)
    def export() -> None:
        """Ignored docstring."""

    assert (export.name, export.description, export.config_schema) == ("export-orders", "Exports orders.", schema)


def test_job_receives_the_context_only_if_it_takes_an_argument():
    seen: list[object] = []

    @job
    def with_context(context: JobContext) -> None:
        seen.append((context.run_id, context.attempt, context.config, context.tags))

    @job
    def without_context() -> None:
        seen.append("no context")

    context = JobContext(run_id="r1", attempt=2, config={"a": 1}, tags={"team": "data"})
    with_context.run(context)
    without_context.run(context)

    assert seen == [("r1", 2, {"a": 1}, {"team": "data"}), "no context"]


def test_a_job_needing_more_than_the_context_is_refused_when_declared():
    with pytest.raises(TypeError, match="must take no argument or one `context` argument"):

        @job
        def two(context: JobContext, other: int) -> None: ...


def test_schema_defaults_fill_missing_config_keys():
    @job(config_schema={"type": "object", "properties": {"n": {"type": "integer", "default": 10}, "m": {}}})
    def count() -> None: ...

    assert count.resolve_config({}) == {"n": 10}
    assert count.resolve_config({"n": 3, "m": 1}) == {"n": 3, "m": 1}


def test_a_schema_that_is_not_json_is_refused():
    with pytest.raises(ValueError, match="config_schema of job 'bad' is not JSON"):

        @job(config_schema={"default": object()})
        def bad() -> None: ...


def test_definitions_json_matches_the_contract_model():
    @job(config_schema={"type": "object"})
    def a(context: JobContext) -> None:
        """Job a."""

    def plain() -> None:
        """Plain functions are accepted too."""

    definitions = Definitions(jobs=[a, plain])

    model = DefinitionsModel.model_validate(definitions.to_dict())
    # Everything the SDK writes survives the model (which also has fields only Dagster locations fill).
    assert _as_written(model.model_dump(), definitions.to_dict()) == definitions.to_dict()
    assert [(j.name, j.description) for j in model.jobs] == [
        ("a", "Job a."),
        ("plain", "Plain functions are accepted too."),
    ]
    assert definitions.job("plain") is not None
    assert definitions.job("missing") is None


def test_a_pool_declared_in_code_is_part_of_the_job_definition():
    @job(pool="warehouse")
    def load() -> None:
        """Load a table."""

    @job
    def report() -> None:
        """Report."""

    jobs = DefinitionsModel.model_validate(Definitions(jobs=[load, report]).to_dict()).jobs

    assert [(j.name, j.pool) for j in jobs] == [("load", "warehouse"), ("report", None)]
    for bad in ("", "two words", "-dash", "x" * 101, 3):
        with pytest.raises(ValueError, match="pool of job 'load' must be"):
            Job(lambda: None, name="load", pool=bad)  # type: ignore[arg-type]


def test_two_jobs_with_one_name_are_refused():
    @job(name="same")
    def a() -> None: ...

    @job(name="same")
    def b() -> None: ...

    with pytest.raises(ValueError, match="two jobs are named 'same'"):
        Definitions(jobs=[a, b])


def test_log_event_refuses_reserved_and_oversized_types():
    recorded: list[tuple[str, str]] = []
    context = JobContext(event_sink=lambda type, message: recorded.append((type, message)))

    context.log_event("ROWS_LOADED", "42 rows")
    with pytest.raises(ValueError, match="reserved"):
        context.log_event("JOB_SUCCESS", "pretend")
    with pytest.raises(ValueError, match="at most 64 characters"):
        context.log_event("X" * 65)

    assert recorded == [("ROWS_LOADED", "42 rows")]


def test_load_definitions_finds_the_one_definitions_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_module(
        tmp_path,
        "sdk_defs_one",
        """
        from longshoreman import Definitions, job

        @job
        def hello(): pass

        defs = Definitions(jobs=[hello])
        alias = defs  # the same object under two names is still one
        """,
    )

    assert [j.name for j in load_definitions(module).jobs] == ["hello"]
    assert load_job(module, "hello").name == "hello"
    with pytest.raises(LoadError, match=r"job 'bye' not found in module 'sdk_defs_one' \(available: hello\)"):
        load_job(module, "bye")


def test_load_definitions_explains_a_missing_module():
    with pytest.raises(LoadError) as caught:
        load_definitions("sdk_no_such_module")

    assert str(caught.value) == (
        "could not import module 'sdk_no_such_module': ModuleNotFoundError: No module named 'sdk_no_such_module'"
    )
    assert caught.value.user_traceback() == ""


def _as_written(dumped: Any, written: Any) -> Any:
    """`dumped` with only the keys `written` has, recursively."""
    if isinstance(written, dict) and isinstance(dumped, dict):
        return {key: _as_written(dumped.get(key), value) for key, value in written.items()}
    if isinstance(written, list) and isinstance(dumped, list):
        return [_as_written(d, w) for d, w in zip(dumped, written, strict=False)]
    return dumped
