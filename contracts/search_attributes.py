"""Custom search attributes of the project's workflows: runs and locations filterable in the Temporal UI and CLI.

They are indexed by Temporal in plain text (a payload codec never applies to them), so they carry only names
and statuses, never a secret: location name, job name, statuses, and the agent (task queue) that serves them.

A namespace must have them registered before a workflow may use them: `longshoreman dev` and the tests register
them on the dev server; on a cluster run `registration_commands()` (see the README). The control plane sets
them at start only if they are registered, and the workflows update them only if they were set at start.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

LOCATION = SearchAttributeKey.for_keyword("LongshoremanLocation")
JOB = SearchAttributeKey.for_keyword("LongshoremanJob")
RUN_STATUS = SearchAttributeKey.for_keyword("LongshoremanRunStatus")
LOCATION_STATUS = SearchAttributeKey.for_keyword("LongshoremanLocationStatus")
AGENT = SearchAttributeKey.for_keyword("LongshoremanAgent")

ALL = (LOCATION, JOB, RUN_STATUS, LOCATION_STATUS, AGENT)


def dev_server_flags() -> dict[str, str]:
    """`--search-attribute NAME=Keyword` pairs for `temporal server start-dev`."""
    return {key.name: "Keyword" for key in ALL}


def registration_commands(namespace: str = "default") -> list[str]:
    """The `temporal operator` commands that register them on a cluster's namespace."""
    return [
        f"temporal operator search-attribute create --namespace {namespace} --name {key.name} --type Keyword"
        for key in ALL
    ]
