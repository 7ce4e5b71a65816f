"""What the SDK reads from a user's function: its description and whether it takes the context argument.

Standard library only, and `inspect` only when a plain function's code object cannot answer: it is slow to import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    lines: list[str] = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def takes_context(fn: Callable[..., Any], what: str) -> bool:
    """Whether `fn` takes the one context argument; TypeError (naming `what`) if it needs more than that."""
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__self__"):
        positional = code.co_argcount
        required = positional - len(getattr(fn, "__defaults__", None) or ())
        required_kwonly = code.co_kwonlyargcount - len(getattr(fn, "__kwdefaults__", None) or {})
        variadic = bool(code.co_flags & 0x04)  # CO_VARARGS
    else:
        import inspect  # only for callable objects and partials

        params = list(inspect.signature(fn).parameters.values())
        positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = sum(p.kind in positional_kinds for p in params)
        required = sum(p.kind in positional_kinds and p.default is p.empty for p in params)
        required_kwonly = sum(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty for p in params)
        variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    if required > 1 or required_kwonly:
        raise TypeError(f"{what} must take no argument or one `context` argument")
    return positional >= 1 or variadic
