"""`longshoreman token ...`: create (user tokens of a role, agent tokens), list, rotate and revoke tokens."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError

from contracts.api import TokenCreate, TokenCreated, TokenList, TokenRotate
from contracts.roles import Role
from longshoreman.cli.api_client import CliError, connect
from longshoreman.cli.render import console, err_console, print_json, tokens_table

app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]


class TokenKind(StrEnum):
    """Kinds of token a user may create (run tokens are issued to agents only)."""

    agent = "agent"
    admin = "admin"


def _print_secret(created: TokenCreated, what: str) -> None:
    # The secret goes alone on stdout so `TOKEN=$(longshoreman token create ...)` works.
    role = f" ({created.role})" if created.role else ""
    err_console.print(f"{what} {created.kind}{role} token {created.name!r} (id {created.id}); it is shown only once:")
    console.print(created.token, markup=False, soft_wrap=True)


@app.command("create")
def create(
    kind: Annotated[TokenKind, typer.Option(help="agent: for `longshoreman agent`; admin: for the CLI and API.")],
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")],
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            help="Agent tokens: a task queue the agent serves (repeatable, globs allowed; default: longshoreman).",
        ),
    ] = None,
    expires_in: Annotated[float | None, typer.Option(help="Seconds until the token expires (default: never).")] = None,
    role: Annotated[
        Role | None,
        typer.Option(
            help="Admin-kind (user) tokens: viewer (read), launcher (+ runs), editor (+ locations, automations, "
            "limits) or admin (+ tokens; the default)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token; its secret is printed once and only its hash is stored."""
    try:
        body = TokenCreate.model_validate(
            {
                "kind": kind.value,
                "name": name,
                "queues": queue or None,
                "expires_in_s": expires_in,
                "role": role.value if role else None,
            }
        )
    except ValidationError as exc:
        raise CliError(f"invalid token request: {exc.errors()[0]['msg']}") from exc
    with connect() as client:
        created = client.send("POST", "/api/tokens", body, TokenCreated)
    if as_json:
        print_json(created)
        return
    _print_secret(created, "created")
    if created.kind == "agent":
        served = ", ".join(created.queues or [])
        err_console.print(
            f"it serves task queue(s) {served}; start an agent with: "
            "LONGSHOREMAN_AGENT_TOKEN=<token> longshoreman agent"
        )


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List admin and agent tokens (never their secrets)."""
    with connect() as client:
        tokens = client.get("/api/tokens", TokenList)
    if as_json:
        print_json(tokens)
    else:
        console.print(tokens_table(tokens.tokens))


@app.command("rotate")
def rotate(
    token_id: Annotated[str, typer.Argument(help="Id of the token to replace (see `token list`).")],
    overlap: Annotated[
        float, typer.Option(min=0, help="Seconds the old token keeps working, so its user can switch.")
    ] = 3600.0,
    as_json: JsonOpt = False,
) -> None:
    """Replace a token by a new one (same kind, name and queues); the old one expires after the overlap."""
    with connect() as client:
        created = client.send("POST", f"/api/tokens/{token_id}/rotate", TokenRotate(overlap_s=overlap), TokenCreated)
    if as_json:
        print_json(created)
        return
    _print_secret(created, "rotated: new")
    err_console.print(f"the old token {token_id} keeps working for {overlap:g} s")


@app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="Id of the token to revoke (see `token list`).")]) -> None:
    """Revoke a token at once: every request with it is refused from now on."""
    with connect() as client:
        client.request("DELETE", f"/api/tokens/{token_id}")
    err_console.print(f"revoked token {token_id}")
