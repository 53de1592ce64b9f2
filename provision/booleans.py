"""The one reading of a value as a boolean, everywhere: module arguments, inventory variables,
keywords (`become: yes`), the `bool` filter and conditions.

Ansible's sets (module_utils.parsing.convert_bool): y/yes/on/1/true/t and n/no/off/0/false/f, any
case, plus the booleans and the numbers 1 and 0. Anything else is an error, not a guess: a typo such
as `become: maybe` must not quietly mean false.
"""
from __future__ import annotations

from typing import Any

TRUE_WORDS = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSE_WORDS = frozenset({"n", "no", "off", "0", "false", "f", ""})


def to_bool(value: Any) -> bool:
    """True or False for Ansible's boolean spellings; ValueError for anything else."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{value!r} is not a boolean (yes/no, true/false, on/off, 1/0)")
