"""The one reading of a value as a boolean, everywhere: module arguments, inventory variables,
keywords (`become: yes`), conditions (`when:` on a string) and the `bool` filter.

Ansible's sets (module_utils.parsing.convert_bool): y/yes/on/1/true/t and n/no/off/0/false/f, any
case, plus the booleans and the numbers 1 and 0. Anything else is an error, not a guess: a typo such
as `become: maybe` must not quietly mean false.

The easy thing to get wrong: the `bool` filter is the one place that does not raise. ansible-core
reads any other value there as False (with a deprecation warning), and provision.filters follows it.
None reads as False: where Ansible meets it (a keyword or argument set to null) it means "not set".
"""
from __future__ import annotations

from typing import Any

from provision.errors import ProvisionError

TRUE_WORDS = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSE_WORDS = frozenset({"n", "no", "off", "0", "false", "f"})


class NotABoolean(ProvisionError, ValueError):
    """A value that is none of the boolean spellings. A ValueError too, so argument checks and the
    template engine, which turn ValueErrors into their own messages, report it."""


def to_bool(value: Any) -> bool:
    """True or False for Ansible's boolean spellings; NotABoolean for anything else."""
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
    raise NotABoolean(f"{value!r} is not a boolean (yes/no, true/false, on/off, 1/0)")
