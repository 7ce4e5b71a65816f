"""`longshoreman token ...`: create admin and agent tokens."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError

from contracts.api import TokenCreate, TokenCreated
from longshoreman.cli.api_client import CliError, connect
from longshoreman.cli.render import console, err_console, print_json

app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


class TokenKind(StrEnum):
    """Kinds of token a user may create (run tokens are issued to agents only)."""

    agent = "agent"
    admin = "admin"


@app.command("create")
def create(
    kind: Annotated[TokenKind, typer.Option(help="agent: for `longshoreman agent`; admin: for the CLI and API.")],
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")] = False,
) -> None:
    """Create a token; its secret is printed once and only its hash is stored."""
    try:
        body = TokenCreate.model_validate({"kind": kind.value, "name": name})
    except ValidationError as exc:
        raise CliError(f"invalid token request: {exc.errors()[0]['msg']}") from exc
    with connect() as client:
        created = client.send("POST", "/api/tokens", body, TokenCreated)
    if as_json:
        print_json(created)
        return
    # The secret goes alone on stdout so `TOKEN=$(longshoreman token create ...)` works.
    err_console.print(f"created {created.kind} token {created.name!r} (id {created.id}); it is shown only once:")
    console.print(created.token, markup=False, soft_wrap=True)
    if created.kind == "agent":
        err_console.print("start an agent with: LONGSHOREMAN_AGENT_TOKEN=<token> longshoreman agent")
