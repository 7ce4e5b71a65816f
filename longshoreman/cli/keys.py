"""`longshoreman key generate`: new payload encryption keys (AES-256), for LONGSHOREMAN_ENCRYPTION_KEY(S|_FILE)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from longshoreman.cli.api_client import CliError
from runtime.codec import KeyConfigError, KeyRing, generate_keyring

app = typer.Typer(help="Payload encryption keys.", no_args_is_help=True)


@app.command("generate")
def generate(
    key_id: Annotated[str, typer.Option("--id", help="Key id (travels in payload metadata; not secret).")] = "k1",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write a key file (mode 0600); with --rotate, put the new key first."),
    ] = None,
    rotate: Annotated[bool, typer.Option("--rotate", help="Keep the keys already in --output for decryption.")] = False,
) -> None:
    """Print a new key `ID:BASE64`, or write it to a key file (the first key of a file encrypts, all decrypt)."""
    try:
        new = generate_keyring([key_id])
        old = KeyRing.parse(output.read_text()).keys if rotate and output is not None and output.exists() else ()
        ring = KeyRing([*new.keys, *old])
    except (KeyConfigError, OSError) as err:
        raise CliError(str(err)) from None
    if output is None:
        if rotate:
            raise CliError("--rotate needs --output KEYFILE")
        typer.echo(ring.active.format())
        return
    if output.exists() and not rotate:
        raise CliError(f"{output} exists: use --rotate to add a new active key, or another path")
    tmp = output.with_name(output.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(ring.format())
    os.replace(tmp, output)
    typer.echo(f"{output}: active key {ring.active.key_id}, {len(ring.keys)} key(s) in all", err=True)
