"""Jinja2 rendering with a host's variables: a Templar per host (and per loop item), never global.

- `render(value)` walks strings, lists and dicts; a string that is exactly one `{{ expr }}` gives
  the native value (a list stays a list), like Ansible; other strings render to text. A dict value
  equal to `omit` drops its key, which is how `omit` removes a module argument.
- `evaluate(expression)` reads a bare expression (when, changed_when, until, assert's that).
- An undefined variable is a TemplateError naming the variable and the template text; the runner
  adds the task's mark. Undefined values chain (`a.b.c | default(1)` works when `a` is missing).

The easy thing to get wrong: `when: "{{ x }}"` renders x first; `when: x == 'yes'` is evaluated as
an expression. Strings such as "no" or "false" coming out of a condition read as False.

Templates run in Jinja2's sandbox with a budget per rendering (provision.jinja_sandbox, limits in
provision.limits). A refusal is a TemplateError with `refused` set, which validation reports
before any host is contacted when the template needs no variable.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SecurityError

from provision.booleans import NotABoolean, to_bool
from provision.errors import InputError, LimitExceeded, ProvisionError
from provision.filters import FilterError
from provision.jinja_sandbox import ChainedStrictUndefined, new_environment  # noqa: F401  (validation uses it)
from provision.limits import DEFAULT_LIMITS, Budget, Limits
from provision.variables import PRECEDENCE, find_cycles, layer  # noqa: F401  (re-exported for the runner)
from provision.yamlsource import read_text

OMIT = "__omit_place_holder__provision__"
_SINGLE_EXPRESSION = re.compile(r"\A\{\{(?P<expression>.*)\}\}\Z", re.DOTALL)  # text around it: a string
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
SUPPORTED_LOOKUPS = ("env", "file", "items", "list", "vars")


class TemplateError(ProvisionError):
    """A template failed: an undefined variable (`variable` is set), a syntax error or a bad filter.
    `refused`: the sandbox or a limit stopped it (the same on every host, so validation reports it)."""

    def __init__(self, message: str, template: str, variable: str | None = None, refused: bool = False):
        super().__init__(message)
        self.message = message
        self.template = template
        self.variable = variable
        self.refused = refused

    def __str__(self) -> str:
        shown = self.template if len(self.template) <= 200 else self.template[:200] + "..."
        return f"{self.message} in {shown!r}"


class VariableCycle(jinja2.UndefinedError):
    """A variable whose value needs itself, through others or directly: it has no value."""


class CyclicValue(str):
    """A variable on a cycle as resolve_variables returns it: its text as written (so code that
    only stores or prints variables sees what the user wrote), and `cycle`, the ring it is on.
    A Templar turns it into a value that fails when a template uses it."""

    cycle: list[str]

    def __new__(cls, text: str, cycle: list[str]) -> CyclicValue:
        value = super().__new__(cls, text)
        value.cycle = cycle
        return value

    @property
    def message(self) -> str:
        if len(self.cycle) == 2:
            return f"variable '{self.cycle[0]}' refers to itself, so it has no value"
        ring = " -> ".join(f"'{name}'" for name in self.cycle)
        return f"variables {ring} refer to each other, so none of them has a value"


def is_template(value: Any) -> bool:
    """True for a string Jinja2 would change."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


class Templar:
    """Renders values with one set of variables; `search_dirs` is where lookup('file') looks."""

    def __init__(self, variables: Mapping[str, Any], search_dirs: list[str] | None = None,
                 limits: Limits = DEFAULT_LIMITS):
        # a variable on a cycle fails where a template uses it, naming the ring
        self.variables = {name: ChainedStrictUndefined(hint=value.message, name=name, exc=VariableCycle)
                          if type(value) is CyclicValue else value for name, value in variables.items()}
        self.variables.setdefault("omit", OMIT)
        self.search_dirs = list(search_dirs or [])
        self.limits = limits
        self.environment = new_environment(limits)
        self.environment.globals.update(lookup=self.lookup, query=self.query, q=self.query)

    def extended(self, more: Mapping[str, Any]) -> Templar:
        """A Templar with `more` variables on top (loop items, registered results)."""
        return Templar(layer(self.variables, more), self.search_dirs, self.limits)

    # --- rendering ------------------------------------------------------------------------------

    def render(self, value: Any) -> Any:
        """Render strings inside value, recursively; see the module docstring for native values."""
        if isinstance(value, str):
            return self._render_string(value) if is_template(value) else value
        if isinstance(value, Mapping):
            rendered = {self.render(key): self.render(item) for key, item in value.items()}
            return {key: item for key, item in rendered.items() if item != OMIT}
        if isinstance(value, (list, tuple)):
            return [self.render(item) for item in value if item != OMIT]
        return value

    def render_text(self, text: str) -> str:
        """Render a whole text to text (the template module): never a native value."""
        def run() -> str:
            result = self.environment.from_string(text).render(self.variables)
            self.environment.budget.fits(len(result), "the template")
            return result

        return self._run(text, run)

    def render_loop(self, loop: Any) -> Any:
        """A task's `loop:` rendered; more than `loop_items` items is refused (each is a module run)."""
        items = self.render(loop)
        if isinstance(items, list) and len(items) > self.limits.loop_items:
            raise TemplateError(f"the loop gives {len(items):,} items; provision runs at most "
                                f"{self.limits.loop_items:,} per task (split the list, or pass it whole to one "
                                "command)", str(loop)[:200], refused=True)
        return items

    def evaluate(self, expression: Any) -> Any:
        """Value of a bare expression; `{{ }}` inside is rendered first; non-strings are returned."""
        if not isinstance(expression, str):
            return expression
        if is_template(expression):
            rendered = self._render_string(expression)
            if not isinstance(rendered, str):
                return rendered
            expression = rendered
        text = expression.strip()
        if not text:
            return None

        def run() -> Any:
            return self.environment.compile_expression(text, undefined_to_none=False)(self.variables)

        value = self._run(expression, run)
        if isinstance(value, jinja2.Undefined):
            self._run(expression, lambda: str(value))  # raises the undefined error with its name
        return value

    def is_true(self, conditions: list[Any] | Any) -> bool:
        """True when every condition holds (an empty list holds)."""
        if not isinstance(conditions, list):
            conditions = [conditions]
        for condition in conditions:
            value = self.evaluate(condition)
            if isinstance(value, str):  # `when: flag` with flag: "no" is false; flag: "maybe" is an error
                try:
                    value = to_bool(value)
                except NotABoolean as error:
                    raise TemplateError(f"the condition '{condition}' is not a boolean: {error}", str(condition)) from None
            if not value:
                return False
        return True

    def _render_string(self, text: str) -> Any:
        match = _SINGLE_EXPRESSION.match(text)
        if match and _is_single_output(self.environment, text):
            expression = match.group("expression")
            def run() -> Any:
                value = self.environment.compile_expression(expression, undefined_to_none=False)(self.variables)
                if not isinstance(value, jinja2.Undefined):
                    self.environment.budget.weigh(value, "the template")
                return value

            value = self._run(text, run)
            if isinstance(value, jinja2.Undefined):
                self._run(text, lambda: str(value))
            return value
        return self.render_text(text)

    def _run(self, template: str, action: Any) -> Any:
        self.environment.budget = Budget(self.limits)  # one budget per rendering
        try:
            return action()
        except LimitExceeded as error:
            raise TemplateError(f"template refused: {error}", template, refused=True) from None
        except SecurityError as error:
            raise TemplateError(f"template refused by the sandbox: {error}", template, refused=True) from None
        except RecursionError:
            raise TemplateError("template error: nested too deeply", template) from None
        except VariableCycle as error:
            raise TemplateError(str(error.message), template) from None
        except jinja2.UndefinedError as error:
            found = _UNDEFINED_NAME.search(str(error))
            name = next((group for group in found.groups() if group), None) if found else None
            raise TemplateError(f"undefined variable: {error.message}", template, name) from None
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"template syntax error: {error.message}", template) from None
        except (FilterError, jinja2.TemplateError, TypeError, ValueError, KeyError, ArithmeticError) as error:
            raise TemplateError(f"template error: {error}", template) from None
        except MemoryError:
            raise TemplateError("template error: the controller ran out of memory rendering it", template) from None

    # --- lookups --------------------------------------------------------------------------------

    def query(self, kind: str, *terms: Any, **options: Any) -> list[Any]:
        """`query('env', 'HOME')`: lookups as lists."""
        if kind == "env":
            return [os.environ.get(str(term), options.get("default", "")) for term in terms]
        if kind == "file":
            return [self._read_file(str(term), options) for term in terms]
        if kind in ("items", "list"):
            return [item for term in terms for item in (term if isinstance(term, list) else [term])]
        if kind == "vars":
            missing = [term for term in terms if term not in self.variables]
            if missing and "default" not in options:
                raise FilterError(f"lookup('vars'): no variable named {missing[0]!r}")
            return [self.variables.get(term, options.get("default")) for term in terms]
        raise FilterError(f"lookup plugin '{kind}' is not supported ({', '.join(SUPPORTED_LOOKUPS)} are)")

    def lookup(self, kind: str, *terms: Any, wantlist: bool = False, **options: Any) -> Any:
        """`lookup('env', 'HOME')`: like query, but several values are joined with commas."""
        values = self.query(kind, *terms, **options)
        if wantlist:
            return values
        if len(values) == 1:
            return values[0]
        return ",".join(str(value) for value in values)

    def _read_file(self, name: str, options: Mapping[str, Any]) -> str:
        candidates = [name] if os.path.isabs(name) else [
            os.path.join(directory, sub, name) for directory in self.search_dirs for sub in ("files", "")]
        for path in candidates:
            if os.path.isfile(path):
                try:
                    text = read_text(path, self.limits)
                except InputError as error:
                    raise FilterError(f"lookup('file'): {error}") from None
                if options.get("rstrip", True):
                    text = text.rstrip()
                if options.get("lstrip", False):
                    text = text.lstrip()
                return text
        raise FilterError(f"lookup('file'): '{name}' not found in {', '.join(self.search_dirs) or 'no folder'}")


def _is_single_output(environment: jinja2.Environment, text: str) -> bool:
    """True when the template is one `{{ }}` and nothing else (so its value can stay native).
    Remembered by text (a pure function of it), like the compiled code in jinja_sandbox."""
    known = _SINGLE_OUTPUT.get(text)
    if known is None:
        known = _parse_single_output(environment, text)
        if len(_SINGLE_OUTPUT) >= 4096:
            _SINGLE_OUTPUT.clear()
        _SINGLE_OUTPUT[text] = known
    return known


_SINGLE_OUTPUT: dict[str, bool] = {}


def _parse_single_output(environment: jinja2.Environment, text: str) -> bool:
    try:
        body = environment.parse(text).body
    except (jinja2.TemplateSyntaxError, RecursionError):  # rendering reports either with its message
        return False
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return False
    parts = [node for node in body[0].nodes
             if not (isinstance(node, nodes.TemplateData) and not node.data.strip())]
    return len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, (dict, list)):  # dicts and lists only: hostvars is a Mapping, never walked
        items = value.values() if isinstance(value, dict) else value
        return any(_has_template(item) for item in items)
    return False


def resolve_variables(variables: Mapping[str, Any], passes: int = 8,
                      only: Iterable[str] | None = None) -> dict[str, Any]:
    """Variables whose values refer to other variables (`b: "{{ a }} x"`), rendered as Ansible would.

    Ansible renders variables lazily when used; here each templated value is rendered against the
    others, a few passes deep for chains. A value that cannot render yet (it needs a loop item or a
    registered result) is kept as written and rendered later, where it is used. `only` limits this
    to the names the user wrote: facts and registered output are data, never templates (a command's
    stdout holding "{{" must stay as it is), and not walking them keeps a task cheap.
    """
    resolved = dict(variables)
    names = resolved if only is None else [name for name in only if name in resolved]
    pending = [key for key in names if _has_template(resolved[key])]
    for _ in range(passes):
        if not pending:
            break
        templar = Templar(resolved)
        still = []
        for key in pending:
            try:
                value = templar.render(resolved[key])
            except TemplateError:
                still.append(key)
                continue
            resolved[key] = value
            if _has_template(value) and value != variables[key]:
                still.append(key)
        pending = still
    waiting = [key for key in names if _has_template(resolved[key])]
    if waiting:  # what still holds templates: waiting for a loop item, or on a ring (`a: "{{ a }}"` too)
        environment = new_environment()
        references = {key: referenced_names(variables[key], environment) for key in waiting}
        for ring in find_cycles(references):
            for key in ring[:-1]:
                if isinstance(variables[key], str):
                    resolved[key] = CyclicValue(variables[key], ring)
    return resolved


def referenced_names(value: Any, environment: jinja2.Environment) -> set[str]:
    """The variables the templates inside `value` use (a template that does not parse uses none)."""
    if isinstance(value, str):
        if not is_template(value):
            return set()
        try:
            return set(meta.find_undeclared_variables(environment.parse(value)))
        except (jinja2.TemplateError, RecursionError):
            return set()
    if isinstance(value, (dict, list)):
        items = value.values() if isinstance(value, dict) else value
        return set().union(*(referenced_names(item, environment) for item in items)) if items else set()
    return set()
