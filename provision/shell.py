"""The one place that turns argument lists into remote shell text.

User data never goes into a shell string by f-string: build a list and call `join`.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

# Python's os.path.expandvars: `$name` or `${anything}`; only shell-valid names are expanded here
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USER_NAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*")


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


def expanding_word(word: object) -> str:
    """One word for a POSIX shell in which only what Ansible's command module expands is expanded
    on the host: a leading `~` or `~user` (os.path.expanduser) and `$NAME` / `${NAME}`
    (os.path.expandvars: an unset variable stays as written, not empty). Everything else (globs,
    quotes, `$(...)`, spaces) reaches the program literally."""
    text = str(word)
    parts: list[str] = []
    if text.startswith("~"):
        head, slash, rest = text.partition("/")
        if head == "~" or _USER_NAME.fullmatch(head[1:]):
            parts.append(head + slash)  # unquoted: the shell's tilde expansion (an unknown user stays)
            text = rest
    last = 0
    for match in _VARIABLE.finditer(text):
        name = match.group(1).strip("{}") if match.group(1).startswith("{") else match.group(1)
        if not _SHELL_NAME.fullmatch(name) or (match.group(1).startswith("{") and not match.group(1).endswith("}")):
            continue
        if match.start() > last:
            parts.append(quote(text[last:match.start()]))
        written = "\\${" + name + "\\}" if match.group(1).startswith("{") else "\\$" + name
        parts.append('"${' + name + "-" + written + '}"')
        last = match.end()
    if last < len(text) or not parts:
        parts.append(quote(text[last:]))
    return "".join(parts)


def glob_word(pattern: object) -> str:
    """One word for a POSIX shell that expands as Python's glob.glob would match (Ansible's
    command tests `creates`/`removes` with it): `*`, `?` and `[...]` left to the shell, a leading
    `~/` expanded (the argument is a path), every other character quoted. With no match the shell
    leaves the word as written, so test each result for existence."""
    text = str(pattern)
    head = ""
    if text == "~" or text.startswith("~/"):
        head, text = "~", text[1:]
    pieces = re.split(r"([*?]|\[[A-Za-z0-9!^_.,:-]+\])", text)  # a class of other characters: literal
    return head + "".join(piece if index % 2 else (quote(piece) if piece else "")
                          for index, piece in enumerate(pieces))
