"""The one place that turns argument lists into remote shell text.

User data never goes into a shell string by f-string: build a list and call `join`.
"""
from __future__ import annotations

import shlex
from collections.abc import Iterable


def quote(value: object) -> str:
    """Quote one word for a POSIX shell."""
    return shlex.quote(str(value))


def join(argv: Iterable[object]) -> str:
    """Quote every word of an argument list and join them into one command line."""
    return " ".join(quote(word) for word in argv)


def env_prefix(environment: dict[str, object] | None) -> str:
    """`env K=V ...` words for a command, so variables never rely on the remote login shell."""
    if not environment:
        return ""
    return join(["env", *(f"{key}={value}" for key, value in environment.items())]) + " "
