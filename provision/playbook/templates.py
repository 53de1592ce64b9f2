"""What validation knows about a template besides its names, before any host is contacted.

- unknown filters and tests (Jinja2 would only say so when compiling, mid-run);
- reaches into Python internals (`cycler.__init__.__globals__`), which the sandbox blocks anyway:
  said here, with the place, instead of failing a task on every host;
- lookup plugins provision lacks (`lookup('pipe', ...)`);
- what a template that needs no variable costs: it is rendered once, here, under the limits, so
  `{{ range(10**9) | list }}` or a loop of a million items is refused up front.

The easy thing to get wrong: only REFUSALS (sandbox, limits) of a constant template are reported.
Other errors (`{{ 1/0 }}` in a task that `when:` skips) are left to run time, as Ansible does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes

from provision.limits import DEFAULT_LIMITS, Limits
from provision.playbook.context import did_you_mean
from provision.templating import SUPPORTED_LOOKUPS, Templar, TemplateError, is_template

# Globals a template may use and still need no variable: rendering it once here says what it costs.
PURE_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
LOOKUP_FUNCTIONS = frozenset({"lookup", "query", "q"})
INTERNAL_FILTERS = frozenset({"provision_loop", "provision_concat"})  # the budget's, not for users


@dataclass(frozen=True)
class Problem:
    """A problem inside a template: `line` counts from the template's first line, `word` is what
    to look for on it, for the column."""

    message: str
    line: int
    word: str


def static_problems(tree: nodes.Template, environment: jinja2.Environment) -> list[Problem]:
    """Unknown filters and tests, internal attributes, unsupported lookups; in source order."""
    problems: list[Problem] = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        kind, table = ("filter", environment.filters) if isinstance(node, nodes.Filter) else ("test", environment.tests)
        if node.name not in table or node.name in INTERNAL_FILTERS:
            known = set(table) - INTERNAL_FILTERS
            problems.append(Problem(f"unknown {kind} '{node.name}'{did_you_mean(node.name, known)}",
                                    node.lineno, node.name))
        elif node.name == "attr" and node.args and _internal(_constant(node.args[0])):
            problems.append(_internal_problem(_constant(node.args[0]), node.lineno))
    reaches = [(node.lineno, node.attr) for node in tree.find_all(nodes.Getattr) if _internal(node.attr)]
    reaches += [(node.lineno, _constant(node.arg)) for node in tree.find_all(nodes.Getitem) if _internal(_constant(node.arg))]
    if reaches:  # the first says it: `a.__init__.__globals__` is one reach, not two problems
        line = min(found for found, _ in reaches)
        name = [name for found, name in reaches if found == line][-1]  # pre-order: the innermost is last
        problems.append(_internal_problem(name, line))
    for node in tree.find_all(nodes.Call):
        if isinstance(node.node, nodes.Name) and node.node.name in LOOKUP_FUNCTIONS and node.args:
            kind = _constant(node.args[0])
            if isinstance(kind, str) and kind not in SUPPORTED_LOOKUPS:
                problems.append(Problem(f"lookup plugin '{kind}' is not supported ({', '.join(SUPPORTED_LOOKUPS)} are)"
                                        f"{did_you_mean(kind, SUPPORTED_LOOKUPS)}", node.lineno, kind))
    return sorted(problems, key=lambda problem: problem.line)


def _constant(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def _internal(name: Any) -> bool:
    """`__globals__`, `_TemplateReference__context`: Python's internals, blocked on every object. A
    key such as `_id` is not: the sandbox reads it from a dict (a JSON answer has them) at run time."""
    return isinstance(name, str) and name.startswith("_") and "__" in name


def _internal_problem(name: str, line: int) -> Problem:
    return Problem(f"template reaches for '{name}': Python internals are out of reach of provision's "
                   "sandboxed Jinja2 (a template cannot run code on the controller)", line, name)


def used_names(tree: nodes.Template) -> set[str] | None:
    """The names a template reads from outside (variables and globals); None if it cannot compile."""
    try:
        return set(meta.find_undeclared_variables(tree))
    except jinja2.TemplateError:
        return None


GUARDING_FILTERS = frozenset({"default", "d"})
GUARDING_TESTS = frozenset({"defined", "undefined"})


def guarded_names(tree: nodes.Template) -> set[str]:
    """Names the template itself guards against being undefined: `x | default(...)`,
    `x is defined`, `x.y is undefined`. Ansible's idiom for optional variables; such a name
    needs no definition anywhere."""
    guarded: set[str] = set()
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        names = GUARDING_FILTERS if isinstance(node, nodes.Filter) else GUARDING_TESTS
        if node.name in names and node.node is not None:
            root = node.node
            while isinstance(root, (nodes.Getattr, nodes.Getitem)):
                root = root.node
            if isinstance(root, nodes.Name):
                guarded.add(root.name)
    return guarded


def needs_no_variable(used: set[str] | None) -> bool:
    """True when the template uses no variable and no lookup: its value is the same everywhere."""
    return used is not None and used <= PURE_GLOBALS


def constant_refusal(text: str, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why rendering a template that needs no variable is refused (sandbox, limits), or None."""
    try:
        Templar({}, limits=limits).render(text)
    except TemplateError as error:
        return error.message if error.refused else None
    return None


def text_refusal(text: str, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Like constant_refusal for a whole template file (never a native value)."""
    try:
        Templar({}, limits=limits).render_text(text)
    except TemplateError as error:
        return error.message if error.refused else None
    return None


def loop_refusal(loop: Any, used: set[str] | None, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """A loop longer than `loop_items`: a literal list, or a template that needs no variable."""
    if isinstance(loop, list):
        if len(loop) > limits.loop_items:
            return (f"the loop has {len(loop):,} items; provision runs at most {limits.loop_items:,} per task "
                    "(split the list, or pass it whole to one command)")
        return None
    if not is_template(loop) or not needs_no_variable(used):
        return None
    try:
        Templar({}, limits=limits).render_loop(loop)
    except TemplateError as error:
        return error.message if error.refused else None
    return None
