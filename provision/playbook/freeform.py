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


def join_continued_lines(text: str) -> str:
    """The text with each line continuation Ansible's free-form splitting drops taken out: a
    backslash standing alone as the last word of a line, outside quotes, and the newline after it
    (`echo a \\` then `b` on the next line is `echo a b`). A quote counts unless a backslash
    comes just before it. Everything else is kept as written, the last newline included."""
    lines = text.split("\n")
    out: list[str] = []
    quote: str | None = None
    for number, line in enumerate(lines):
        for index, char in enumerate(line):
            if char in "'\"" and (index == 0 or line[index - 1] != "\\"):
                quote = None if quote == char else quote or char
        last = number == len(lines) - 1
        continued = not last and quote is None and (line == "\\" or line.endswith(" \\"))
        out.append(line[:-1] if continued else line + ("" if last else "\n"))
    return "".join(out)


def parse_free_form(text: str) -> dict[str, Any]:
    """Text of a command/shell task -> {'_raw_params': text, plus creates/chdir/... words}. The
    text is kept as Ansible keeps it (registered as `cmd`; playbooks compare it): as written, line
    continuations dropped, trimmed (but for a last newline) only where key=value words were
    taken out of it."""
    args: dict[str, Any] = {}
    kept: list[str] = []
    position = 0
    text = join_continued_lines(text)
    try:
        spans = word_spans(text)
    except ArgsSyntaxError:  # a script with "don't" in a comment: keep it whole, extract nothing
        return {"_raw_params": text} if text.strip() else {}
    for start, end in spans:
        match = _KEY.match(text[start:end])
        if match and match.group(1) in RAW_PARAM_KEYS:
            kept.append(text[position:start])
            position = end
            args[match.group(1)] = unquote(match.group(2))
    kept.append(text[position:])
    raw = "".join(kept)
    if raw.strip():
        # words taken out: the rest re-joined as Ansible joins it, a last newline kept
        args["_raw_params"] = raw.lstrip().rstrip(" \t") if len(kept) > 1 else raw
    return args
