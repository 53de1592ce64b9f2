"""The Jinja2 environment every template runs in: Jinja2's sandbox, plus a Budget per rendering.

The sandbox refuses attributes starting with `_` (so no `cycler.__init__.__globals__.os`) and
unsafe callables, and bounds range(); the filters provision offers work unchanged. On top, every
loop iteration, call, operator, filter and output of one rendering is charged to its Budget
(provision.limits), which `Templar._run` sets on the environment before each rendering.

The easy thing to get wrong: a size must be known BEFORE the value is built. `*`, `**`, `+`, `%`,
`~` (rewritten into provision_concat), widths (center, indent, str.format) and joins are estimated
from their operands; a value shared N times counts N times (limits.weight). Filters are wrapped
once, at import, and find the budget through what Jinja2 passes them first, so making a Templar
stays cheap (one is made per task, host and loop item).
"""
from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.environment import TemplateExpression
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

from provision.errors import LimitExceeded
from provision.filters import FILTERS, TESTS
from provision.limits import DEFAULT_LIMITS, Budget, Limits

# Filters whose output grows with everything inside their input, shared items counted each time.
PRINTING_FILTERS = frozenset({
    "string", "to_json", "to_nice_json", "to_yaml", "to_nice_yaml", "tojson", "pprint", "join", "flatten",
    "list", "unique", "sort", "dictsort", "b64encode", "urlencode", "xmlattr", "quote", "format", "sum",
    "union", "difference", "intersect", "symmetric_difference", "combine", "zip", "dict2items", "items2dict",
})
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class SelfChaining:
    """Every attribute and item of it is itself (`a.b['c']` is `a`), dunder names excepted."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


class ChainedStrictUndefined(SelfChaining, jinja2.StrictUndefined):
    """Fails when used, but `a.b` on an undefined `a` stays undefined, so `default()` can catch it."""


class CodeCache:
    """Compiled template code by its source text, for every environment of this process.

    A Templar (and so an environment) is made per task, host and loop item, and Jinja2 compiles a
    template again in each: at 50 hosts that was a third of the controller's CPU. What it compiles
    to depends only on the text and on the environment's configuration, which is the same for every
    SandboxedTemplates (the budget, the filters' and `lookup`'s targets are found through the
    environment at render time), so the code object is shared; each environment still makes its
    own Template from it. Bounded: the oldest half goes when it is full."""

    def __init__(self, size: int = 4096):
        self.size = size
        self.codes: dict[tuple, Any] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        return self.codes.get(key)

    def put(self, key: tuple, code: Any) -> None:
        with self.lock:
            if len(self.codes) >= self.size:
                for old in list(self.codes)[: self.size // 2]:
                    self.codes.pop(old, None)
            self.codes[key] = code


COMPILED = CodeCache()


class SandboxedTemplates(SandboxedEnvironment):
    """Jinja2's sandbox, plus a Budget per rendering (`budget`, set by Templar._run) that every loop
    iteration, call, operator, filter and output is charged to. One per Templar: never shared."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        super().__init__(undefined=ChainedStrictUndefined, keep_trailing_newline=True,
                         extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"], finalize=self._finalize)
        self.limits = limits
        self.budget = Budget(limits)
        self.filters = dict(GUARDED_FILTERS)
        self.tests.update(TESTS)
        self.globals.update(lipsum=self._lipsum, range=self._range)

    _expression: str | None = None  # the expression compile_expression is compiling (its cache key)

    def compile(self, source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                defer_init: bool = False) -> Any:
        """Jinja2's compile, through COMPILED for a template text or an expression's node tree."""
        if raw or name is not None or filename is not None:
            return super().compile(source, name, filename, raw, defer_init)
        if isinstance(source, str):
            key: tuple | None = ("template", source, defer_init, self.trim_blocks, self.lstrip_blocks)
        else:
            key = ("expression", self._expression, defer_init) if self._expression is not None else None
        code = COMPILED.get(key) if key else None
        if code is None:
            code = super().compile(source, name, filename, raw, defer_init)
            if key:
                COMPILED.put(key, code)
        return code

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> TemplateExpression:
        code = COMPILED.get(("expression", source, False))
        if code is not None:  # parsed and compiled before: only the Template is made here
            return TemplateExpression(self.template_class.from_code(self, code, self.make_globals(None)),
                                      undefined_to_none)
        self._expression = source
        try:
            return super().compile_expression(source, undefined_to_none)
        finally:
            self._expression = None

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        """Every template is compiled through here: loops and `~` are routed through the budget."""
        return super()._generate(_Instrument().visit(source), name, filename, defer_init)  # type: ignore[misc]

    # --- what the compiled template calls ------------------------------------------------------

    def _finalize(self, value: Any) -> Any:
        """Every `{{ }}` written: counted before it is turned into text. None is written as
        nothing, as Ansible writes it (`[{{ none }}]` is `[]`, in strings and template files)."""
        if value is None:
            return ""
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
    elif name == "format" and isinstance(value, str):
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
