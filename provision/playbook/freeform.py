"""`k=v` argument strings, split the way Ansible splits them.

Words are separated by whitespace outside quotes and outside Jinja2 `{{ }}` / `{% %}`, so
`msg="hello {{ name }}"` is one argument. For free-form modules (command, shell) the text stays
as written in `_raw_params`, minus the few `key=value` words Ansible pulls out of it (creates=,
removes=, chdir=...).

The easy thing to get wrong: a multi-line `shell: |` script must keep its newlines, so the raw
text is cut around the extracted words, never re-joined from words.
"""
from __future__ import annotations

import codecs
import re
from typing import Any

RAW_PARAM_KEYS = frozenset({"creates", "removes", "chdir", "executable", "warn", "stdin",
                            "stdin_add_newline", "strip_empty_ends"})
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


class ArgsSyntaxError(ValueError):
    """Unbalanced quotes or Jinja2 braces in a k=v string."""


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word, keeping quoted text and Jinja2 blocks inside one word."""
    spans: list[tuple[int, int]] = []
    quote: str | None = None
    jinja_depth = 0
    start: int | None = None
    index = 0
    while index < len(text):
        char, pair = text[index], text[index:index + 2]
        if start is None and not char.isspace():
            start = index
        if quote:
            if char == "\\" and quote == '"':
                index += 2
                continue
            if char == quote:
                quote = None
        elif pair in ("{{", "{%"):
            jinja_depth += 1
            index += 2
            continue
        elif pair in ("}}", "%}") and jinja_depth:
            jinja_depth -= 1
            index += 2
            continue
        elif char in ("'", '"') and not jinja_depth:
            quote = char
        elif char.isspace() and not jinja_depth and start is not None:
            spans.append((start, index))
            start = None
        index += 1
    if quote or jinja_depth:
        raise ArgsSyntaxError("unbalanced quotes or Jinja2 braces in arguments")
    if start is not None:
        spans.append((start, len(text)))
    return spans


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner
    return value


# The escapes Ansible decodes in a key=value word before splitting it (`regexp='\b'` is a
# backspace there): \\UXXXXXXXX, \\uXXXX, \\xXX, \\N{NAME} and one-character ones.
_ESCAPE = re.compile(r"\\U[0-9a-fA-F]{8}|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\N\{[^}]+\}|\\[\\'\"abfnrtv]")


def decode_escapes(text: str) -> str:
    return _ESCAPE.sub(lambda match: codecs.decode(match.group(0), "unicode-escape"), text)


def parse_kv(text: str) -> tuple[dict[str, Any], list[str]]:
    """`a=1 b="x y"` -> ({'a': '1', 'b': 'x y'}, words that are not key=value). Escapes in a
    key=value word are decoded first, as Ansible's parse_kv does."""
    args: dict[str, Any] = {}
    loose: list[str] = []
    for start, end in word_spans(text):
        word = text[start:end]
        match = _KEY.match(decode_escapes(word))
        if match:
            args[match.group(1)] = unquote(match.group(2))
        else:
            loose.append(word)
    return args, loose


def parse_free_form(text: str) -> dict[str, Any]:
    """Text of a command/shell task -> {'_raw_params': text, plus creates/chdir/... words}."""
    args: dict[str, Any] = {}
    kept: list[str] = []
    position = 0
    try:
        spans = word_spans(text)
    except ArgsSyntaxError:  # a script with "don't" in a comment: keep it whole, extract nothing
        return {"_raw_params": text.strip()} if text.strip() else {}
    for start, end in spans:
        match = _KEY.match(text[start:end])
        if match and match.group(1) in RAW_PARAM_KEYS:
            kept.append(text[position:start])
            position = end
            args[match.group(1)] = unquote(match.group(2))
    kept.append(text[position:])
    raw = "".join(kept).strip()
    if raw:
        args["_raw_params"] = raw
    return args
