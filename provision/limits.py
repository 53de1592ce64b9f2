"""What one input may cost the controller: file sizes, YAML nesting and aliases, template work, loops.

One line of YAML or Jinja2 can ask for gigabytes (`{{ range(10**9) | list }}`, a "billion laughs"
alias bomb) or hours. Every such input is refused with a clear error instead, before any host is
contacted when the input is known then (files, constant templates), else as the failure of the one
task that asked for it. `Limits` is the one list the code reads; `describe()` is what the README prints.

The easy thing to get wrong: sizes must be checked BEFORE the allocation. A check on a result comes
after the gigabytes are taken, so operations that multiply (`*`, `**`, widths, joins of shared
lists) are estimated from their operands; `weight()` counts a value shared N times N times, which
is what printing or serialising it will cost.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from jinja2.sandbox import MAX_RANGE

from provision.errors import LimitExceeded

MIB = 2**20


@dataclass(frozen=True)
class Limits:
    """The bounds; a run uses DEFAULT_LIMITS, tests pass smaller ones."""

    file_bytes: int = 2 * MIB  # any YAML file, template, lookup('file') or -e @file the controller reads
    #                            (PyYAML reads 140 KB/s of block YAML here: 2 MiB is ~15 s, ~30,000 hosts)
    yaml_depth: int = 100  # nested mappings/sequences in one YAML document (Python recursion stays far)
    yaml_alias_nodes: int = 100_000  # nodes that aliases (*name, <<: *name) may add to one document
    template_output: int = 16 * MIB  # characters one rendering may write, blocks it captures included;
    #                                  also the largest single value a template may build
    template_work: int = 256 * MIB  # characters of text one rendering may build in all (intermediates)
    template_steps: int = 1_000_000  # loop iterations + calls in one rendering
    template_seconds: float = 10.0  # wall-clock time of one rendering
    integer_bits: int = 4096  # size of an integer a template computes (`2 ** 10 ** 9` would take hours)
    loop_items: int = 10_000  # items of one task's `loop:` (each item is a module run over SSH)
    range_items: int = MAX_RANGE  # range() in a template: Jinja2's sandbox bound, listed for the docs


DEFAULT_LIMITS = Limits()

# What each limit bounds, in words, for the README's table (same order as Limits).
DESCRIPTIONS: Mapping[str, str] = {
    "file_bytes": "size of any file the controller reads as input (YAML, templates, lookup('file'), -e @file)",
    "yaml_depth": "nesting of mappings and sequences in one YAML document",
    "yaml_alias_nodes": "nodes that YAML aliases may add to one document (a 'billion laughs' needs ~10^9)",
    "template_output": "characters one template rendering writes, and the largest value it builds",
    "template_work": "characters of text one rendering builds in all, intermediate values included",
    "template_steps": "loop iterations and calls in one rendering",
    "template_seconds": "seconds one rendering may take",
    "integer_bits": "bits of an integer a template computes",
    "loop_items": "items of one task's loop",
    "range_items": "items of one range() in a template (Jinja2's sandbox)",
}


def describe(limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, str, str]]:
    """(name, value as a person reads it, what it bounds), in declaration order."""
    return [(field.name, readable(getattr(limits, field.name)), DESCRIPTIONS[field.name]) for field in fields(limits)]


def readable(number: float) -> str:
    """4194304 -> '4 MiB', 1000000 -> '1,000,000', 10.0 -> '10'."""
    if isinstance(number, int) and number >= MIB and number % MIB == 0:
        return f"{number // MIB} MiB"
    if isinstance(number, float) and number.is_integer():
        return f"{int(number)}"
    return f"{number:,}"


def weight(value: Any, cap: int) -> int:
    """Characters `value` takes once printed, counting a shared item each time it appears; stops
    counting past `cap`. Shared items are counted once per path but visited once (memo), so a
    value built by doubling 60 times costs 60 visits, not 2^60. Unknown objects (hostvars,
    generators) count as small: they are not walked."""
    memo: dict[int, int] = {}

    def visit(item: Any, depth: int) -> int:
        if isinstance(item, str):
            return len(item)
        if isinstance(item, (bool, int, float)) or item is None:
            return 8
        if not isinstance(item, (list, tuple, dict)):
            return 8
        known = memo.get(id(item))
        if known is not None:
            return known
        if depth > 200:  # deeper than any YAML we accept: built in a loop to be expensive
            return cap + 1
        memo[id(item)] = 0  # a list holding itself counts once
        total = 2
        pairs = item.items() if isinstance(item, dict) else ((None, entry) for entry in item)
        for key, entry in pairs:
            total += 2 + (visit(key, depth + 1) if key is not None else 0) + visit(entry, depth + 1)
            if total > cap:
                break
        memo[id(item)] = total
        return total

    return visit(value, 0)


class Budget:
    """What one rendering has spent: steps, output written, text built, time. Raises LimitExceeded."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        self.limits = limits
        self.steps = 0
        self.output = 0
        self.work = 0
        self.deadline = time.monotonic() + limits.template_seconds

    def step(self, count: int = 1) -> None:
        """A loop iteration or a call: counted, and the clock read."""
        self.steps += count
        if self.steps > self.limits.template_steps:
            raise LimitExceeded(f"the template runs more than {readable(self.limits.template_steps)} loop "
                                "iterations and calls (the limit for one rendering)")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"the template took longer than {readable(self.limits.template_seconds)} s "
                                "to render (the limit for one rendering)")

    def write(self, chars: int) -> None:
        """Characters the template writes (its own text or a `{{ }}`), captured blocks included."""
        self.output += chars
        if self.output > self.limits.template_output:
            raise LimitExceeded(f"the template writes more than {readable(self.limits.template_output)} "
                                "(the limit for one rendering)")

    def fits(self, size: int, what: str) -> None:
        """Refuse, before building it, one value of `size` characters."""
        if size > self.limits.template_output:
            raise LimitExceeded(f"{what} would build a value of more than {readable(self.limits.template_output)} "
                                f"(about {size:,} characters; the limit for one value)")

    def built(self, value: Any) -> Any:
        """A value an operation just built: its text counts toward the work of the rendering."""
        if isinstance(value, str):
            size = len(value)
        elif isinstance(value, (list, tuple, dict)):
            size = len(value)
        else:
            return value
        self.fits(size, "this operation")
        self.work += size
        if self.work > self.limits.template_work:
            raise LimitExceeded(f"the template builds more than {readable(self.limits.template_work)} of text "
                                "in all (the limit for one rendering)")
        return value

    def weigh(self, value: Any, what: str) -> int:
        """Weight of `value`, refused when printing it would pass the output limit."""
        size = weight(value, self.limits.template_output)
        self.fits(size, what)
        return size

    def integer(self, bits: int, what: str) -> None:
        if bits > self.limits.integer_bits:
            raise LimitExceeded(f"{what} would compute an integer of about {bits:,} bits "
                                f"(the limit is {readable(self.limits.integer_bits)})")
