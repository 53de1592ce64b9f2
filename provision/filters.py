"""The Ansible filters and tests people use in playbooks, as plain functions over plain values.

Jinja2's built-ins already cover default/d, int, float, string, lower, upper, join, map, select,
reject, selectattr, unique, first, last, length; the rest is here. provision.templating installs
them on each Templar's own Environment (no global registration).

The easy thing to get wrong: Ansible's `bool` is not Python's: the string "no" is False. It reads
the spellings of provision.booleans, and anything else as False, as ansible-core does (which warns
that this will become an error); the `truthy` and `falsy` tests are Python's truth unless asked
to `convert_bool`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import itertools
import ntpath
import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

from jinja2 import pass_context

from provision.booleans import NotABoolean, to_bool
from provision.errors import InputError
from provision.yamlsource import dump as yaml_dump
from provision.yamlsource import load_data


class FilterError(Exception):
    """A filter got a value it cannot handle; templating turns it into a TemplateError."""


def bool_filter(value: Any) -> bool:
    """`x | bool`: a boolean spelling as everywhere else; any other value is False, the value
    ansible-core gives (with a deprecation warning: it plans an error from 2.23)."""
    try:
        return to_bool(value)
    except NotABoolean:
        return False


def combine(*dicts: Mapping, recursive: bool = False, list_merge: str = "replace") -> dict:
    """Merge dicts left to right; `recursive=True` merges nested dicts instead of replacing them."""
    result: dict = {}
    for item in dicts:
        if isinstance(item, (list, tuple)):  # combine(list_of_dicts) as Ansible allows
            result = combine(result, *item, recursive=recursive, list_merge=list_merge)
            continue
        if not isinstance(item, Mapping):
            raise FilterError(f"combine expects dictionaries, got {type(item).__name__}")
        for key, value in item.items():
            current = result.get(key)
            if recursive and isinstance(current, Mapping) and isinstance(value, Mapping):
                result[key] = combine(current, value, recursive=True, list_merge=list_merge)
            elif isinstance(current, list) and isinstance(value, list) and list_merge != "replace":
                result[key] = _merge_lists(current, value, list_merge)
            else:
                result[key] = value
    return result


def _merge_lists(current: list, new: list, how: str) -> list:
    if how == "keep":
        return current
    if how == "append":
        return current + new
    if how == "prepend":
        return new + current
    if how == "append_rp":
        return [item for item in current if item not in new] + new
    if how == "prepend_rp":
        return new + [item for item in current if item not in new]
    raise FilterError(f"combine: unknown list_merge '{how}'")


def dict2items(value: Mapping, key_name: str = "key", value_name: str = "value") -> list[dict]:
    if not isinstance(value, Mapping):
        raise FilterError(f"dict2items expects a dictionary, got {type(value).__name__}")
    return [{key_name: key, value_name: item} for key, item in value.items()]


def items2dict(value: list, key_name: str = "key", value_name: str = "value") -> dict:
    try:
        return {item[key_name]: item[value_name] for item in value}
    except (KeyError, TypeError) as error:
        raise FilterError(f"items2dict: every item needs '{key_name}' and '{value_name}' ({error})") from None


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.IGNORECASE if ignorecase else 0) | (re.MULTILINE if multiline else 0)


def regex_replace(value: Any, pattern: str = "", replacement: str = "", ignorecase: bool = False,
                  multiline: bool = False, count: int = 0) -> str:
    return re.sub(pattern, replacement, str(value), count=count, flags=_flags(ignorecase, multiline))


def regex_search(value: Any, pattern: str, *groups: str, ignorecase: bool = False, multiline: bool = False) -> Any:
    """The match text, or None; with '\\1' or '\\g<name>' arguments, a list of those groups."""
    match = re.search(pattern, str(value), flags=_flags(ignorecase, multiline))
    if match is None:
        return None
    if not groups:
        return match.group(0)
    picked = []
    for group in groups:
        if group.startswith("\\g<"):
            picked.append(match.group(group[3:-1]))
        elif group.startswith("\\"):
            picked.append(match.group(int(group[1:])))
        else:
            raise FilterError(f"regex_search: unknown group argument '{group}'")
    return picked


def regex_findall(value: Any, pattern: str, ignorecase: bool = False, multiline: bool = False) -> list:
    return re.findall(pattern, str(value), flags=_flags(ignorecase, multiline))


def _json_default(value: Any) -> Any:
    """What json cannot write itself: a mapping that is not a dict (`vars`, hostvars) as a dict,
    anything else as its text."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def to_json(value: Any, **options: Any) -> str:
    return json.dumps(value, default=_json_default, **options)


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **options: Any) -> str:
    return json.dumps(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), default=_json_default,
                      **options)


def from_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError) as error:
        raise FilterError(f"from_json: {error}") from None


def _plain(value: Any) -> Any:
    """Mappings that are not dicts (`vars`, hostvars) as dicts, all the way down, for YAML."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def to_yaml(value: Any, **options: Any) -> str:
    options.setdefault("default_flow_style", None)
    options.setdefault("allow_unicode", True)
    return yaml_dump(_plain(value), **options)


def to_nice_yaml(value: Any, indent: int = 4, **options: Any) -> str:
    return yaml_dump(_plain(value), indent=indent, default_flow_style=False, allow_unicode=True, sort_keys=True,
                     **options)


def from_yaml(value: str) -> Any:
    """YAML text (often a host's output) to data, under the limits of any YAML the controller reads:
    a host printing an alias bomb must not take the controller down."""
    documents = from_yaml_all(value)
    return documents[0] if documents else None


def from_yaml_all(value: str) -> list:
    try:
        return load_data(str(value), "<from_yaml>")
    except InputError as error:
        raise FilterError(f"from_yaml: {error.message}") from None


def b64encode(value: Any, encoding: str = "utf-8") -> str:
    return base64.b64encode(str(value).encode(encoding)).decode("ascii")


def b64decode(value: str, encoding: str = "utf-8") -> str:
    return base64.b64decode(value).decode(encoding)


def hash_filter(value: Any, algorithm: str = "sha1") -> str:
    """Ansible's `hash`: the hex digest of the text (UTF-8) by any hashlib algorithm, sha1 by default."""
    try:
        digest = hashlib.new(str(algorithm))
    except (ValueError, TypeError):
        raise FilterError(f"hash: unknown algorithm {algorithm!r}") from None
    digest.update(str(value).encode("utf-8"))
    return digest.hexdigest()


def mandatory(value: Any, msg: str | None = None) -> Any:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        name = getattr(value, "_undefined_name", None)
        raise FilterError(msg or f"mandatory variable '{name}' is not defined")
    return value


def ternary(value: Any, true_value: Any, false_value: Any, none_value: Any = None) -> Any:
    if value is None and none_value is not None:
        return none_value
    return true_value if value else false_value


def flatten(value: list, levels: int | None = None) -> list:
    result: list = []
    for item in value:
        if isinstance(item, (list, tuple)) and (levels is None or levels > 0):
            result.extend(flatten(list(item), None if levels is None else levels - 1))
        elif item is not None:
            result.append(item)
    return result


def zip_longest(*lists: Any, fillvalue: Any = None) -> list:
    """Ansible's zip_longest: like zip, padding the shorter lists with `fillvalue`."""
    return [list(items) for items in itertools.zip_longest(*lists, fillvalue=fillvalue)]


def _unique_list(items: list) -> list:
    result: list = []
    for item in items:
        if item not in result:
            result.append(item)
    return result


CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MAX_ROUNDS = 1_000_000  # a rounds figure is a cost: past this a template would hold the controller


def password_hash(password: Any, hashtype: str = "sha512", salt: str | None = None, rounds: int | None = None,
                  **ignored: Any) -> str:
    """Ansible's password_hash for `sha512` (what /etc/shadow holds on Linux): a random salt unless
    one is given, so a task that should stay converged passes its own salt, as with Ansible."""
    import secrets

    if hashtype not in ("sha512", "sha512_crypt"):
        raise FilterError(f"password_hash: hash type {hashtype!r} is not supported (sha512 is)")
    if rounds is not None and not 1000 <= int(rounds) <= MAX_ROUNDS:
        raise FilterError(f"password_hash: rounds must be from 1,000 to {MAX_ROUNDS:,}")
    if salt is None:
        salt = "".join(secrets.choice(CRYPT_ALPHABET) for _ in range(16))
    elif any(char not in CRYPT_ALPHABET for char in str(salt)):
        raise FilterError("password_hash: a salt takes letters, digits, '.' and '/' only")
    return sha512_crypt(str(password), str(salt), int(rounds) if rounds is not None else 5000)


def sha512_crypt(password: str, salt: str, rounds: int = 5000) -> str:
    """glibc's SHA-512 crypt ($6$), from Ulrich Drepper's published specification."""
    secret, salt_bytes = password.encode(), salt[:16].encode()
    rounds = max(1000, min(rounds, 999_999_999))

    def digest(*parts: bytes) -> bytes:
        return hashlib.sha512(b"".join(parts)).digest()

    alternate = digest(secret, salt_bytes, secret)
    parts = [secret, salt_bytes]
    length = len(secret)
    parts += [alternate] * (length // 64) + [alternate[:length % 64]]
    bits = length
    while bits:
        parts.append(alternate if bits & 1 else secret)
        bits >>= 1
    current = digest(*parts)
    p_bytes = (digest(secret * length) * (length // 64 + 1))[:length]
    s_bytes = (digest(salt_bytes * (16 + current[0])) * (len(salt_bytes) // 64 + 1))[:len(salt_bytes)]
    for index in range(rounds):
        step = [p_bytes if index & 1 else current]
        if index % 3:
            step.append(s_bytes)
        if index % 7:
            step.append(p_bytes)
        step.append(current if index & 1 else p_bytes)
        current = digest(*step)
    out = []
    for group in range(21):
        first, second, third = group, group + 21, group + 42
        order = [(first, second, third), (second, third, first), (third, first, second)][group % 3]
        value = (current[order[0]] << 16) | (current[order[1]] << 8) | current[order[2]]
        for _ in range(4):
            out.append(CRYPT_ALPHABET[value & 0x3F])
            value >>= 6
    value = current[63]
    for _ in range(2):
        out.append(CRYPT_ALPHABET[value & 0x3F])
        value >>= 6
    prefix = "$6$" + (f"rounds={rounds}$" if rounds != 5000 else "")
    return prefix + salt[:16] + "$" + "".join(out)


def unique_filter(items: Any, case_sensitive: bool | None = None, attribute: str | None = None) -> list[Any]:
    """Ansible's `unique`: a list (Jinja2's own yields a generator, which never equals a list:
    `x | unique == [true]` was false), first of each kept in order; `attribute` compares by it;
    strings compare case-insensitively unless case_sensitive, as Jinja2's."""
    seen: list[Any] = []
    kept: list[Any] = []
    for item in items:
        key = item.get(attribute) if attribute is not None and isinstance(item, Mapping) else item
        if isinstance(key, str) and not case_sensitive:
            key = key.lower()
        if key not in seen:
            seen.append(key)
            kept.append(item)
    return kept


@pass_context  # never folded into a constant when the template compiles (`{{ 5 | random }}`), as Jinja2's
def random_filter(context: Any, end: Any, start: int | None = None, step: int | None = None,
                  seed: Any = None) -> Any:
    """Ansible's `random`: a number in range(start or 0, end, step) for an int, else one of the
    items (Jinja2's own takes only a sequence); `seed` makes it repeatable (idempotent per host)."""
    import random

    chooser = random.Random(seed) if seed is not None else random.SystemRandom()
    if isinstance(end, int) and not isinstance(end, bool):
        return chooser.randrange(start or 0, end, step or 1)
    if hasattr(end, "__iter__"):
        items = list(end)
        if not items:
            raise InputError("random: the sequence is empty")
        return chooser.choice(items)
    raise InputError(f"random: expected a number or a sequence, got {type(end).__name__}")


FILTERS: dict[str, Any] = {
    "bool": bool_filter,
    "to_json": to_json, "to_nice_json": to_nice_json, "from_json": from_json,
    "to_yaml": to_yaml, "to_nice_yaml": to_nice_yaml, "from_yaml": from_yaml, "from_yaml_all": from_yaml_all,
    "combine": combine, "dict2items": dict2items, "items2dict": items2dict,
    "regex_replace": regex_replace, "regex_search": regex_search, "regex_findall": regex_findall,
    "regex_escape": re.escape,
    "basename": os.path.basename, "dirname": os.path.dirname, "win_basename": ntpath.basename,
    "splitext": lambda value: list(os.path.splitext(value)), "expanduser": os.path.expanduser,
    "realpath": os.path.realpath,
    "b64encode": b64encode, "b64decode": b64decode, "hash": hash_filter, "password_hash": password_hash, "random": random_filter, "quote": lambda value: shlex.quote(str(value)),
    "mandatory": mandatory, "ternary": ternary, "flatten": flatten,
    "type_debug": lambda value: type(value).__name__,
    "difference": lambda a, b: [item for item in _unique_list(list(a)) if item not in b],
    "intersect": lambda a, b: [item for item in _unique_list(list(a)) if item in b],
    "union": lambda a, b: _unique_list(list(a) + list(b)),
    "unique": unique_filter,
    "symmetric_difference": lambda a, b: [item for item in _unique_list(list(a) + list(b))
                                          if (item in a) != (item in b)],
    "zip": lambda *lists: [list(items) for items in zip(*lists)], "zip_longest": zip_longest,
    "split": lambda value, separator=None, limit=-1: str(value).split(separator, limit),
}


# --- tests --------------------------------------------------------------------------------------

_OPERATORS = {
    "<": lambda c: c < 0, "lt": lambda c: c < 0, "<=": lambda c: c <= 0, "le": lambda c: c <= 0,
    ">": lambda c: c > 0, "gt": lambda c: c > 0, ">=": lambda c: c >= 0, "ge": lambda c: c >= 0,
    "==": lambda c: c == 0, "=": lambda c: c == 0, "eq": lambda c: c == 0,
    "!=": lambda c: c != 0, "<>": lambda c: c != 0, "ne": lambda c: c != 0,
}


def loose_version_key(version: Any) -> tuple:
    """distutils' LooseVersion split: numbers compare as numbers, words as text (words first)."""
    parts = [part for part in re.split(r"(\d+|[a-zA-Z]+|\.)", str(version).strip()) if part and part != "."]
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in parts)


def version_test(value: Any, version: Any, operator: str = "eq", strict: bool = False,
                 version_type: str | None = None) -> bool:
    """`x is version('1.2', '>=')`: loose comparison, so 1.10 > 1.9 and 2.0.1 > 2.0."""
    if operator not in _OPERATORS:
        raise FilterError(f"version: unknown operator '{operator}' (use one of {', '.join(_OPERATORS)})")
    left, right = loose_version_key(value), loose_version_key(version)
    return _OPERATORS[operator]((left > right) - (left < right))


def _result_flag(result: Any, key: str, test: str) -> bool:
    if not isinstance(result, Mapping):
        raise FilterError(f"the '{test}' test expects a registered result (a dictionary), got {type(result).__name__}")
    if key == "changed" and isinstance(result.get("results"), list):
        return bool(result.get("changed")) or any(item.get("changed") for item in result["results"])
    return to_bool(result.get(key, False))


def test_succeeded(result: Any) -> bool:
    return not _result_flag(result, "failed", "succeeded")


def test_failed(result: Any) -> bool:
    return _result_flag(result, "failed", "failed")


def test_changed(result: Any) -> bool:
    return _result_flag(result, "changed", "changed")


def test_skipped(result: Any) -> bool:
    return _result_flag(result, "skipped", "skipped")


def test_unreachable(result: Any) -> bool:
    return _result_flag(result, "unreachable", "unreachable")


def test_finished(result: Any) -> bool:
    """Ansible's async `finished`: a result without async bookkeeping is finished."""
    if not isinstance(result, Mapping):
        raise FilterError(f"the 'finished' test expects a registered result (a dictionary), got {type(result).__name__}")
    return to_bool(result.get("finished", True))


def test_truthy(value: Any, convert_bool: bool = False) -> bool:
    """Ansible's `truthy`: Python's truth ("no" is truthy), or with convert_bool=true a boolean
    spelling read as one first (other values keep Python's truth)."""
    if convert_bool:
        try:
            return to_bool(value)
        except NotABoolean:
            pass
    return bool(value)


def test_falsy(value: Any, convert_bool: bool = False) -> bool:
    return not test_truthy(value, convert_bool)


def test_match(value: Any, pattern: str, ignorecase: bool = False, multiline: bool = False) -> bool:
    return re.match(pattern, str(value), flags=_flags(ignorecase, multiline)) is not None


def test_search(value: Any, pattern: str, ignorecase: bool = False, multiline: bool = False) -> bool:
    return re.search(pattern, str(value), flags=_flags(ignorecase, multiline)) is not None


TESTS: dict[str, Any] = {
    "version": version_test, "version_compare": version_test,
    "succeeded": test_succeeded, "success": test_succeeded, "successful": test_succeeded,
    "unreachable": test_unreachable, "reachable": lambda result: not test_unreachable(result),
    "finished": test_finished,
    "failed": test_failed, "failure": test_failed,
    "changed": test_changed, "change": test_changed,
    "skipped": test_skipped, "skip": test_skipped,
    "match": test_match, "search": test_search, "regex": test_search,
    "contains": lambda seq, item: item in seq,
    "subset": lambda a, b: all(item in b for item in a),
    "superset": lambda a, b: all(item in a for item in b),
    "abs": os.path.isabs, "exists": os.path.exists, "file": os.path.isfile, "directory": os.path.isdir,
    "truthy": test_truthy, "falsy": test_falsy,
}
