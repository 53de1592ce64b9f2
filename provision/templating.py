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

import copy
import glob
import itertools
import math
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
from provision.yamlsource import UnsafeStr, read_text

OMIT = "__omit_place_holder__provision__"
_SINGLE_EXPRESSION = re.compile(r"\A\{\{(?P<expression>.*)\}\}\Z", re.DOTALL)  # text around it: a string
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
SUPPORTED_LOOKUPS = ("dict", "env", "file", "fileglob", "filetree", "first_found", "indexed_items", "items", "list",
                     "nested", "password", "sequence", "subelements", "template", "together", "vars")


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
    """True for a string Jinja2 would change (never for `!unsafe` text)."""
    return (isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)
            and not isinstance(value, UnsafeStr))


class VarsView(Mapping):
    """Ansible's magic `vars`: the variables a template sees, by name (`item in vars`,
    `vars[name]`), without copying them; it leaves itself out, so it never contains itself."""

    def __init__(self, variables: Mapping[str, Any]):
        self._variables = variables

    def __getitem__(self, name: str) -> Any:
        if name == "vars":
            raise KeyError(name)
        return self._variables[name]

    def __iter__(self):
        return (name for name in self._variables if name != "vars")

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Jinja2's delimiter settings, as the template module names them (each is also a module argument)
DELIMITERS = ("variable_start_string", "variable_end_string", "block_start_string", "block_end_string",
              "comment_start_string", "comment_end_string")


class Templar:
    """Renders values with one set of variables; `search_dirs` is where lookup('file') looks."""

    def __init__(self, variables: Mapping[str, Any], search_dirs: list[str] | None = None,
                 limits: Limits = DEFAULT_LIMITS):
        # a variable on a cycle fails where a template uses it, naming the ring
        self.variables = {name: ChainedStrictUndefined(hint=value.message, name=name, exc=VariableCycle)
                          if type(value) is CyclicValue else value for name, value in variables.items()}
        self.variables.setdefault("omit", OMIT)
        if "vars" not in self.variables or isinstance(self.variables["vars"], VarsView):
            self.variables["vars"] = VarsView(self.variables)  # Ansible's `vars`: every variable in scope
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

    def render_text(self, text: str, trim_blocks: bool = False, lstrip_blocks: bool = False, **delimiters: str) -> str:
        """Render a whole text to text (the template module): never a native value. The template
        module asks for Jinja2's trim_blocks, as Ansible's does by default, and may name other
        delimiters (variable_start_string, block_end_string, comment_start_string...)."""
        unknown = set(delimiters) - set(DELIMITERS)
        if unknown:
            raise TemplateError(f"unknown template options: {', '.join(sorted(unknown))}", text[:200])

        def run() -> str:
            environment = self.environment
            if trim_blocks or lstrip_blocks or delimiters:  # made after _run's fresh budget: it shares it
                environment = environment.overlay(trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks, **delimiters)
            result = environment.from_string(text).render(self.variables)
            self.environment.budget.fits(len(result), "the template")
            return result

        return self._run(text, run)

    def render_loop(self, loop: Any, lookup: str | None = None) -> Any:
        """A task's `loop:` rendered; more than `loop_items` items is refused (each is a module run).
        `lookup`: a `with_<lookup>:` loop, whose rendered value is the lookup's terms."""
        items = self.render(loop)
        if lookup is not None:
            try:
                items = self.query(lookup, *(items if isinstance(items, list) else [items]))
            except (FilterError, TypeError, ValueError) as error:
                raise TemplateError(f"with_{lookup}: {error}", str(loop)[:200]) from None
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
            if isinstance(value, VarsView):
                return dict(value)  # `{{ vars }}` as a value: a plain mapping of that moment, not a live view
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

    def query(self, kind: str, *terms: Any, errors: str = "strict", **options: Any) -> list[Any]:
        """`query('env', 'HOME')`: lookups as lists. `errors='ignore'` (or 'warn'), as in Ansible:
        a lookup that fails gives nothing instead of failing the template."""
        if errors not in ("strict", "warn", "ignore"):
            raise FilterError(f"lookup errors= must be strict, warn or ignore, not {errors!r}")
        values = self._guarded(kind, terms, errors, options)
        return [] if values is None else values

    def _guarded(self, kind: str, terms: tuple[Any, ...], errors: str, options: dict[str, Any]) -> list[Any] | None:
        """The lookup's values, or None for a failure `errors` ('warn', 'ignore') says to pass over."""
        try:
            return self._query(kind, *terms, **options)
        except FilterError:
            if errors not in ("warn", "ignore") or kind not in SUPPORTED_LOOKUPS:
                raise
            return None

    def _query(self, kind: str, *terms: Any, **options: Any) -> list[Any]:
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
        if kind in CONTROLLER_LOOKUPS:
            return CONTROLLER_LOOKUPS[kind](self, list(terms), options)
        raise FilterError(f"lookup plugin '{kind}' is not supported ({', '.join(SUPPORTED_LOOKUPS)} are)")

    def lookup(self, kind: str, *terms: Any, wantlist: bool = False, errors: str = "strict", **options: Any) -> Any:
        """`lookup('env', 'HOME')`: like query, but several values are joined with commas; a
        failure ignored by errors='ignore' (or 'warn') gives None, as Ansible's does."""
        values = self._guarded(kind, terms, errors, options)
        if values is None:
            return [] if wantlist else None
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


# ---- lookups that read this machine or reshape lists (Ansible's names and results) ------------------

def _fileglob(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[str]:
    """Files (not folders) matching each pattern: an absolute one as it is, a relative one in the
    `files/` folder of the role or playbook, then the folder itself, as Ansible looks."""
    found: list[str] = []
    for term in terms:
        pattern = str(term)
        bases = [""] if os.path.isabs(pattern) else [os.path.join(base, sub) for base in templar.search_dirs
                                                      for sub in ("files", "")]
        for base in bases:
            matches = sorted(path for path in glob.glob(os.path.join(base, pattern)) if os.path.isfile(path))
            if matches:
                found += [os.path.abspath(path) for path in matches]
                break
    return found


def _first_found(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[str]:
    """The first file that exists, of names (or {files, paths} mappings) looked up as Ansible's
    first_found does: a relative name in the role's or playbook's files/, vars/, templates/ and itself."""
    names: list[str] = []
    skip = bool(options.get("skip", False))
    flat: list[Any] = []
    for term in terms:  # a list of names (`lookup('first_found', files)`) is its names, in order
        flat += term if isinstance(term, list) else [term]
    for term in flat:
        if isinstance(term, Mapping):
            files = term.get("files", [])
            files = [files] if isinstance(files, str) else list(files)
            paths = term.get("paths", [])
            paths = [paths] if isinstance(paths, str) else list(paths)
            names += [os.path.join(str(path), str(name)) for name in files for path in paths] if paths else \
                [str(name) for name in files]
            skip = skip or bool(term.get("skip", False))
        else:
            names += [part.strip() for part in str(term).split(",")] if "," in str(term) else [str(term)]
    for name in names:
        candidates = [name] if os.path.isabs(name) else [
            os.path.join(base, sub, name) for base in templar.search_dirs for sub in ("files", "vars", "templates", "")]
        for path in candidates:
            if os.path.isfile(path):
                return [os.path.abspath(path)]
    if skip:
        return []
    raise FilterError("No file was found when using first_found (looked for " + ", ".join(names) + ")")


_SHORT_SEQUENCE = re.compile(r"^(?:(-?[0-9a-fx]+)-)?(-?[0-9a-fx]+)(?:/(-?[0-9a-fx]+))?(?::(.+))?$", re.I)


def _password(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[str]:
    """Ansible's password lookup for `/dev/null`: a new random password each time, kept nowhere
    (length=20, chars=ascii_letters,digits,".,:-_" by default, as Ansible's). Any other path
    would store it in a file on the controller, which a lookup of provision never writes."""
    import secrets
    import string

    values = []
    for term in terms:
        path, *words = str(term).split()
        settings = {str(key): str(value) for key, value in options.items()}
        settings.update(word.partition("=")[::2] for word in words)
        if path != "/dev/null":
            raise FilterError(f"lookup('password'): {path!r} would keep the password in a file on the controller; "
                              "provision's lookups write nothing: use '/dev/null' (a new password, kept nowhere), "
                              "or put the password in a vault file")
        if settings.get("encrypt"):
            raise FilterError("lookup('password'): encrypt= is not supported; hash it with the password_hash filter")
        chars = settings.get("chars")
        alphabet = ("".join(getattr(string, name, name) for name in chars.split(",") if name) if chars
                    else string.ascii_letters + string.digits + ".,:-_")
        length = int(settings.get("length", 20))
        if length < 1:
            raise FilterError("lookup('password'): length must be at least 1")
        values.append("".join(secrets.choice(alphabet) for _ in range(length)))
    return values


def _sequence(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[str]:
    """`start=1 end=5 stride=1 format=%02d` or `count=3`, or the short form `1-5/2:host%02d`:
    strings, as Ansible's sequence lookup gives."""
    values: list[str] = []
    for term in terms:
        settings: dict[str, str] = {str(key): str(value) for key, value in options.items()}
        text = str(term).strip()
        if "=" in text:
            for word in text.split():
                key, _, value = word.partition("=")
                settings[key] = value
        elif text:
            match = _SHORT_SEQUENCE.match(text)
            if not match:
                raise FilterError(f"lookup('sequence'): cannot read {text!r}")
            start, end, stride, pattern = match.groups()
            settings.update({key: value for key, value in (("start", start), ("end", end), ("stride", stride),
                                                           ("format", pattern)) if value is not None})

        def number(key: str, default: int) -> int:
            return int(settings[key], 0) if key in settings else default

        start, stride = number("start", 1), number("stride", 1)
        if "count" in settings:
            end = start + (number("count", 0) - 1) * stride
        elif "end" in settings:
            end = number("end", 0)
        else:
            raise FilterError("lookup('sequence'): give end= or count=")
        if stride == 0 or (end - start) * stride < 0:
            if start == end:
                values.append(settings.get("format", "%d") % start)
            continue
        count = (end - start) // stride + 1
        if len(values) + count > templar.limits.loop_items:
            raise FilterError(f"lookup('sequence'): {count:,} items, more than {templar.limits.loop_items:,}")
        values += [settings.get("format", "%d") % (start + index * stride) for index in range(count)]
    return values


def _listed(term: Any) -> list[Any]:
    return term if isinstance(term, list) else [term]


def _together(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[list[Any]]:
    return [list(row) for row in itertools.zip_longest(*(_listed(term) for term in terms))]


def _nested(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[list[Any]]:
    sizes = [len(_listed(term)) for term in terms]
    if math.prod(sizes) > templar.limits.loop_items:
        raise FilterError(f"lookup('nested'): {math.prod(sizes):,} items, more than {templar.limits.loop_items:,}")
    return [list(row) for row in itertools.product(*(_listed(term) for term in terms))]


def _indexed_items(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[list[Any]]:
    flat = [item for term in terms for item in _listed(term)]
    return [[index, item] for index, item in enumerate(flat)]


def _dict(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = []
    for term in terms:
        if not isinstance(term, Mapping):
            raise FilterError(f"lookup('dict') expects a mapping, got {type(term).__name__}")
        items += [{"key": key, "value": value} for key, value in term.items()]
    return items


def _subelements(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[list[Any]]:
    """Ansible's subelements: for each mapping of the first term (a list, or a mapping's values),
    one [mapping, element] pair per element of the list its second term names (dotted keys walk
    into nested mappings); a third term {skip_missing: true} passes over a key that is missing.
    As in Ansible the list is taken out of the mapping (`item.0` no longer holds it), and with
    skip_missing a missing step of a dotted path is passed over, not the whole path."""
    if len(terms) not in (2, 3) or not isinstance(terms[0], (list, Mapping)) or not isinstance(terms[1], str):
        raise FilterError("subelements lookup expects a list of two or three items, first a dict or a list, "
                          "second a string pointing to the subkey")
    first = copy.deepcopy(terms[0])  # the lists are taken out of copies, never out of the variables
    if isinstance(first, Mapping):
        if first.get("skipped", False) is not False:
            return []
        first = list(first.values())
    flags = terms[2] if len(terms) == 3 else {}
    if not isinstance(flags, Mapping) or set(flags) - {"skip_missing"}:
        raise FilterError("subelements lookup: the optional third item must be a dict with flags ['skip_missing']")
    skip_missing = to_bool(flags.get("skip_missing", False))
    path = terms[1].split(".")
    pairs: list[list[Any]] = []
    for element in first:
        if not isinstance(element, dict):
            raise FilterError(f"subelements lookup expects a dictionary, got '{str(element)[:100]}'")
        if element.get("skipped", False) is not False:
            continue  # a skipped item of a registered loop
        here, found = element, []
        for depth, key in enumerate(path):
            if key not in here:
                if skip_missing:
                    continue
                raise FilterError(f"could not find '{key}' key in iterated item '{str(here)[:100]}'")
            if depth < len(path) - 1:
                if isinstance(here[key], dict):
                    here = here[key]
                elif not skip_missing:
                    raise FilterError(f"the key {key} should point to a dictionary, got '{str(here[key])[:100]}'")
            elif not isinstance(here[key], list):
                raise FilterError(f"the key {key} should point to a list, got '{str(here[key])[:100]}'")
            else:
                found = here.pop(key)
        pairs += [[element, sub] for sub in found]
        if len(pairs) > templar.limits.loop_items:
            raise FilterError(f"lookup('subelements'): more than {templar.limits.loop_items:,} items")
    return pairs


def _filetree(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """community.general's filetree: every entry below each folder (a relative one is looked up
    in the role's or playbook's files/, then the folder itself), parents before children, with
    root, path (relative), state (file, directory or link), src (a file's full path, a link's
    target), mode, owner, group, uid, gid, size, mtime, ctime; `exclude` a regular expression on
    names. A path found below an earlier folder is not listed again."""
    import grp
    import pwd
    import stat as stat_module

    exclude = options.get("exclude")
    try:
        pattern = re.compile(str(exclude)) if exclude else None
    except re.error as error:
        raise FilterError(f"Invalid exclude regular expression {exclude!r}: {error}") from None
    entries: list[dict[str, Any]] = []
    listed: set[str] = set()
    for term in (str(term) for term in terms):
        folders = [term] if os.path.isabs(term) else [
            os.path.join(base, sub, term) for base in templar.search_dirs for sub in ("files", "")]
        root = next((folder for folder in folders if os.path.isdir(folder)), None)
        if root is None:
            continue  # as Ansible: a folder that is not there gives nothing
        for here, dirs, files in os.walk(root, topdown=True):
            dirs[:] = sorted(name for name in dirs if not (pattern and pattern.match(name)))
            for name in dirs + sorted(name for name in files if not (pattern and pattern.match(name))):
                path = os.path.relpath(os.path.join(here, name), root)
                if path in listed:
                    continue
                full = os.path.join(root, path)
                info = os.lstat(full)
                entry: dict[str, Any] = {"root": root, "path": path}
                if stat_module.S_ISLNK(info.st_mode):
                    entry.update(state="link", src=os.readlink(full))
                elif stat_module.S_ISDIR(info.st_mode):
                    entry["state"] = "directory"
                elif stat_module.S_ISREG(info.st_mode):
                    entry.update(state="file", src=full)
                else:
                    continue
                try:
                    owner: Any = pwd.getpwuid(info.st_uid).pw_name
                except KeyError:
                    owner = info.st_uid
                try:
                    group: Any = grp.getgrgid(info.st_gid).gr_name
                except KeyError:
                    group = info.st_gid
                entry.update(uid=info.st_uid, gid=info.st_gid, owner=owner, group=group,
                             mode=f"0{stat_module.S_IMODE(info.st_mode):03o}", size=info.st_size,
                             mtime=info.st_mtime, ctime=info.st_ctime)
                entries.append(entry)
                listed.add(path)
                if len(entries) > templar.limits.loop_items:
                    raise FilterError(f"lookup('filetree'): more than {templar.limits.loop_items:,} entries")
    return entries


def _template(templar: Templar, terms: list[Any], options: Mapping[str, Any]) -> list[str]:
    """Each template file (the role's or playbook's templates/) rendered with the task's variables."""
    rendered = []
    for term in terms:
        name = str(term)
        candidates = [name] if os.path.isabs(name) else [
            os.path.join(base, sub, name) for base in templar.search_dirs for sub in ("templates", "")]
        path = next((candidate for candidate in candidates if os.path.isfile(candidate)), None)
        if path is None:
            raise FilterError(f"lookup('template'): '{name}' not found in {', '.join(templar.search_dirs) or 'no folder'}")
        try:
            text = read_text(path, templar.limits)
        except InputError as error:
            raise FilterError(f"lookup('template'): {error}") from None
        rendered.append(templar.extended(dict(options.get("template_vars") or {})).render_text(text))
    return rendered


CONTROLLER_LOOKUPS = {"fileglob": _fileglob, "first_found": _first_found, "sequence": _sequence, "password": _password,
                      "together": _together, "nested": _nested, "indexed_items": _indexed_items, "dict": _dict,
                      "template": _template, "subelements": _subelements, "filetree": _filetree}
