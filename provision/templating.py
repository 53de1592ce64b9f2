"""Jinja2 rendering with a host's variables: a Templar per host (and per loop item), never global.

- `render(value)` walks strings, lists and dicts; a string that is exactly one `{{ expr }}` gives
  the native value (a list stays a list), like Ansible; other strings render to text. A dict value
  equal to `omit` drops its key, which is how `omit` removes a module argument.
- `evaluate(expression)` reads a bare expression (when, changed_when, until, assert's that).
- An undefined variable is a TemplateError naming the variable and the template text; the runner
  adds the task's mark. Undefined values chain (`a.b.c | default(1)` works when `a` is missing).

The easy thing to get wrong: `when: "{{ x }}"` renders x first; `when: x == 'yes'` is evaluated as
an expression. Strings such as "no" or "false" coming out of a condition read as False.

Templates run in Jinja2's SandboxedEnvironment: no attribute starting with `_` (so no
`cycler.__init__.__globals__.os`), no unsafe callables, range() bounded; the filters provision
offers work unchanged. On top, one rendering is bounded (provision.limits): steps, output, text
built, integer size, time; sizes are estimated BEFORE `*`, `**`, `+`, `%`, `~`, widths and joins
build anything. A refusal is a TemplateError with `refused` set, which validation reports before
any host is contacted when the template needs no variable.
"""
from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

from provision.errors import InputError, LimitExceeded, ProvisionError
from provision.filters import FILTERS, TESTS, FilterError, to_bool
from provision.limits import DEFAULT_LIMITS, Budget, Limits
from provision.variables import PRECEDENCE, find_cycles, layer  # noqa: F401  (re-exported for the runner)
from provision.yamlsource import read_text

OMIT = "__omit_place_holder__provision__"
_SINGLE_EXPRESSION = re.compile(r"\A\{\{(?P<expression>.*)\}\}\Z", re.DOTALL)  # text around it: a string
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
SUPPORTED_LOOKUPS = ("env", "file", "items", "list", "vars")
# Filters whose output grows with everything inside their input, shared items counted each time.
PRINTING_FILTERS = frozenset({
    "string", "to_json", "to_nice_json", "to_yaml", "to_nice_yaml", "tojson", "pprint", "join", "flatten",
    "list", "unique", "sort", "dictsort", "b64encode", "urlencode", "xmlattr", "quote", "format", "sum",
    "union", "difference", "intersect", "symmetric_difference", "combine", "zip", "dict2items", "items2dict",
})
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


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


class _ChainedStrictUndefined(jinja2.StrictUndefined):
    """Fails when used, but `a.b` on an undefined `a` stays undefined, so `default()` can catch it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


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


class SandboxedTemplates(SandboxedEnvironment):
    """Jinja2's sandbox, plus a Budget per rendering (`budget`, set by Templar._run) that every loop
    iteration, call, operator, filter and output is charged to. One per Templar: never shared."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        super().__init__(undefined=_ChainedStrictUndefined, keep_trailing_newline=True,
                         extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"], finalize=self._finalize)
        self.limits = limits
        self.budget = Budget(limits)
        self.filters = dict(GUARDED_FILTERS)
        self.tests.update(TESTS)
        self.globals.update(lipsum=self._lipsum, range=self._range)

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        """Every template is compiled through here: loops and `~` are routed through the budget."""
        return super()._generate(_Instrument().visit(source), name, filename, defer_init)  # type: ignore[misc]

    # --- what the compiled template calls ------------------------------------------------------

    def _finalize(self, value: Any) -> Any:
        """Every `{{ }}` written: counted before it is turned into text."""
        if isinstance(value, str):
            self.budget.write(len(value))
        elif isinstance(value, (list, tuple, dict)):
            self.budget.write(self.budget.weigh(value, "printing this value"))
        return value

    def _range(self, *args: int) -> range:
        """range() as the sandbox bounds it, refused with provision's own message."""
        numbers = range(*args)
        if len(numbers) > self.limits.range_items:
            raise LimitExceeded(f"range() of {len(numbers):,} items: the limit is {self.limits.range_items:,}")
        return numbers

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
        if n > 100 or max > 1000:
            raise LimitExceeded("lipsum() is limited to 100 paragraphs of 1000 words")
        return generate_lorem_ipsum(n, html, min, max)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        self.budget.step()
        if operator == "*":
            _check_repeat(self.budget, left, right)
        elif operator == "**":
            _check_power(self.budget, left, right)
        elif operator == "+" and type(left) is type(right) and isinstance(left, (str, list, tuple)):
            self.budget.fits(len(left) + len(right), "'+'")
        elif operator == "%" and isinstance(left, str):
            _check_printf(self.budget, left, right)
        return self.budget.built(self.binop_table[operator](left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.budget.step()
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        if isinstance(getattr(target, "__self__", None), str):
            _check_string_method(__self.budget, target.__self__, target.__name__, args, kwargs)
        return __self.budget.built(SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs))


def _budget_of(passed: Any) -> Budget:
    """The rendering's budget from what Jinja2 passes a filter first (context, eval context, environment)."""
    environment = passed if isinstance(passed, jinja2.Environment) else passed.environment
    return getattr(environment, "budget", None) or Budget()


def _guard(name: str, function: Any) -> Any:
    """A filter charged to the rendering's budget. Built once per filter, not per Templar: it finds
    the budget through what Jinja2 passes first (its own pass_context... or pass_environment)."""
    passes = hasattr(function, "jinja_pass_arg")

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget_of(args[0])
        call_args = args if passes else args[1:]
        offset = 1 if passes else 0
        value, rest = (call_args[offset], call_args[offset + 1:]) if len(call_args) > offset else (None, ())
        budget.step()
        if name in PRINTING_FILTERS:
            budget.weigh(value, f"the filter '{name}'")
        _check_filter_arguments(budget, name, value, rest, kwargs)
        return budget.built(function(*call_args, **kwargs))

    return guarded if passes else jinja2.pass_environment(guarded)


@jinja2.pass_environment
def _loop(environment: jinja2.Environment, iterable: Iterable[Any], literal_chars: int = 0) -> Iterator[Any]:
    """Each iteration of a `{% for %}` is a step, and writes the loop body's own text once more."""
    budget = _budget_of(environment)
    for item in iterable:
        budget.step()
        if literal_chars:
            budget.write(literal_chars)
        yield item


@jinja2.pass_environment
def _concat(environment: jinja2.Environment, items: list[Any]) -> str:
    """`a ~ b`: the size is known before the text is joined."""
    budget = _budget_of(environment)
    for item in items:
        if not isinstance(item, str):
            budget.weigh(item, "'~'")
    parts = [item if isinstance(item, str) else str(item) for item in items]
    budget.fits(sum(len(part) for part in parts), "'~'")
    return budget.built("".join(parts))


class _Instrument(NodeTransformer):
    """Rewrites a parsed template: `{% for %}` iterates through provision_loop (steps, and its
    body's text per iteration) and `a ~ b` goes through provision_concat (size known first)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        text = nodes.Const(_literal_chars(node.body), lineno=node.lineno)
        node.iter = nodes.Filter(node.iter, "provision_loop", [text], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "provision_concat", [], [], None, None, lineno=node.lineno)


def _literal_chars(body: list[nodes.Node]) -> int:
    """Characters of template text a loop body writes by itself (inner loops count their own)."""
    total, pending = 0, list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        elif not isinstance(node, (nodes.For, nodes.Macro, nodes.CallBlock)):
            pending.extend(node.iter_child_nodes())
    return total


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(budget: Budget, left: Any, right: Any) -> None:
    """`'x' * n`, `[a] * n` (shared items counted n times), `a * b` on big integers."""
    if _integer(left) and _integer(right):
        budget.integer(left.bit_length() + right.bit_length(), "'*'")
        return
    sequence, count = (left, right) if _integer(right) else (right, left)
    if _integer(count) and isinstance(sequence, (str, list, tuple)):
        size = len(sequence) if isinstance(sequence, str) else budget.weigh(sequence, "'*'")
        budget.fits(size * max(count, 0), "'*'")


def _check_power(budget: Budget, base: Any, exponent: Any) -> None:
    if _integer(base) and _integer(exponent) and exponent > 0 and abs(base) > 1:
        budget.integer(math.ceil(exponent * math.log2(abs(base))), "'**'")


def _check_printf(budget: Budget, text: str, arguments: Any) -> None:
    """`'%*d' % (10**9, 1)` or `'%999999999s'`: widths are sizes."""
    values = arguments if isinstance(arguments, tuple) else (arguments,)
    for width, precision in _PRINTF_FIELD.findall(text):
        for number in (width, precision):
            if number == "*":
                for value in values:
                    if _integer(value):
                        budget.fits(value, "a '%' width")
            elif number:
                budget.fits(int(number), "a '%' width")


def _check_string_method(budget: Budget, text: str, name: str, args: tuple, kwargs: dict) -> None:
    if name in WIDTH_METHODS or name in ("format", "format_map"):
        for value in (*args, *kwargs.values()):
            if _integer(value):
                budget.fits(value, f"str.{name}()")
    if name in ("format", "format_map"):
        for field in _FORMAT_FIELD.findall(text):
            for number in re.findall(r"\d+", field.partition(":")[2]):
                budget.fits(int(number), "a format width")
    elif name == "join" and args:
        budget.fits(budget.weigh(args[0], "str.join()") + len(text) * _length(args[0]), "str.join()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _check_replace(budget, text, args[0], args[1])


def _check_filter_arguments(budget: Budget, name: str, value: Any, args: tuple, kwargs: dict) -> None:
    """Filters whose arguments are sizes: center(width), indent(width), batch/slice counts..."""
    def argument(index: int, key: str, default: Any = None) -> Any:
        return args[index] if len(args) > index else kwargs.get(key, default)

    if name == "center" and _integer(argument(0, "width")):
        budget.fits(argument(0, "width"), "center()")
    elif name == "indent" and isinstance(value, str):
        width = argument(0, "width", 4)
        per_line = width if _integer(width) else len(str(width))
        budget.fits(len(value) + (value.count("\n") + 1) * per_line, "indent()")
    elif name in ("batch", "slice") and _integer(argument(0, "linecount" if name == "batch" else "slices")):
        if argument(0, "linecount" if name == "batch" else "slices") > budget.limits.range_items:
            raise LimitExceeded(f"{name}() is limited to {budget.limits.range_items:,} parts")
    elif name == "join" and value is not None:
        budget.fits(budget.weigh(value, "join") + len(str(argument(0, "d", ""))) * _length(value), "join")
    elif name == "replace" and isinstance(value, str) and isinstance(argument(0, "old"), str):
        _check_replace(budget, value, argument(0, "old"), str(argument(1, "new", "")))
    elif name == "regex_replace" and isinstance(value, str):
        replacement = str(argument(1, "replacement", ""))
        if len(replacement) > 1:
            matches = sum(1 for _ in re.finditer(str(argument(0, "pattern", "")), value))
            budget.fits(len(value) + matches * len(replacement), "regex_replace")
    elif name in ("format", "string") and isinstance(value, str) and name == "format":
        _check_printf(budget, value, tuple(args))


def _check_replace(budget: Budget, text: str, old: str, new: str) -> None:
    if len(new) > len(old):
        count = text.count(old) if old else len(text) + 1
        budget.fits(len(text) + count * (len(new) - len(old)), "replace")


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


GUARDED_FILTERS: Mapping[str, Any] = {
    **{name: _guard(name, function) for name, function in {**jinja2.filters.FILTERS, **FILTERS}.items()},
    "provision_loop": _loop, "provision_concat": _concat,
}


def new_environment(limits: Limits = DEFAULT_LIMITS) -> SandboxedTemplates:
    """The Jinja2 environment provision uses everywhere (also for static analysis in validation)."""
    return SandboxedTemplates(limits)


class Templar:
    """Renders values with one set of variables; `search_dirs` is where lookup('file') looks."""

    def __init__(self, variables: Mapping[str, Any], search_dirs: list[str] | None = None,
                 limits: Limits = DEFAULT_LIMITS):
        # a variable on a cycle fails where a template uses it, naming the ring
        self.variables = {name: _ChainedStrictUndefined(hint=value.message, name=name, exc=VariableCycle)
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
            if not (to_bool(value) if isinstance(value, str) else bool(value)):
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
    """True when the template is one `{{ }}` and nothing else (so its value can stay native)."""
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
