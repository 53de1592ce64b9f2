"""YAML for user files: plain dicts and lists that remember where each key and value came from.

Inventory, playbooks, roles and vars files all load through here, so every error can point at a
file:line:column. Mappings are `MarkedDict` (a dict) and sequences `MarkedList` (a list): code
that does not care about marks sees ordinary containers.

The easy thing to get wrong: PyYAML silently keeps the last of two equal keys; Ansible users hit
that as "my setting is ignored". Here a duplicate key is an error, pointed at the second one.
"""
from __future__ import annotations

from typing import Any

import yaml

from provision.errors import InputError, Mark, ValidationFailed


class MarkedDict(dict):
    """A dict from YAML; `mark` is where it starts, `key_marks`/`value_marks` where each entry is."""

    mark: Mark
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.mark = Mark("<unknown>")
        self.key_marks = {}
        self.value_marks = {}


class MarkedList(list):
    """A list from YAML; `mark` is where it starts, `item_marks[i]` where item i is."""

    mark: Mark
    item_marks: list[Mark]

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.mark = Mark("<unknown>")
        self.item_marks = []


def mark_of(container: Any, key: Any = None, default: Mark | None = None) -> Mark:
    """Best mark for `container[key]` (its key line), else the container's own, else `default`."""
    if isinstance(container, MarkedDict) and key is not None and key in container.key_marks:
        return container.key_marks[key]
    if isinstance(container, MarkedList) and isinstance(key, int) and 0 <= key < len(container.item_marks):
        return container.item_marks[key]
    if isinstance(container, (MarkedDict, MarkedList)) and container.mark.file != "<unknown>":
        return container.mark
    return default or Mark("<unknown>")


def value_mark(container: Any, key: Any, default: Mark | None = None) -> Mark:
    """Mark of the value of `container[key]` (where the value text starts)."""
    if isinstance(container, MarkedDict) and key in container.value_marks:
        return container.value_marks[key]
    return mark_of(container, key, default)


def source_line(mark: Mark | None) -> str | None:
    """The text of the marked line, read when an error is reported (never cached: no globals)."""
    if mark is None or not mark.line:
        return None
    try:
        with open(mark.file, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if number == mark.line:
                    return text.rstrip("\n")
    except OSError:
        return None
    return None


def input_error(message: str, mark: Mark | None) -> InputError:
    """An InputError that carries the source line of its mark."""
    return InputError(message, mark, source_line(mark))


class _MarkingLoader(yaml.SafeLoader):
    """SafeLoader building MarkedDict/MarkedList and collecting duplicate keys."""

    def __init__(self, stream: str, filename: str):
        super().__init__(stream)
        self.filename = filename
        self.duplicates: list[tuple[str, Mark]] = []

    def to_mark(self, yaml_mark: yaml.Mark) -> Mark:
        return Mark(self.filename, yaml_mark.line + 1, yaml_mark.column + 1)

    def construct_yaml_map(self, node: yaml.MappingNode):  # type: ignore[override]
        data = MarkedDict()
        data.mark = self.to_mark(node.start_mark)
        yield data
        seen: set[Any] = set()
        for key_node, _ in node.value:  # explicit keys only: `<<` merges may override on purpose
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                continue  # unhashable; construct_mapping reports it
            if key in seen:
                self.duplicates.append((str(key), self.to_mark(key_node.start_mark)))
            seen.add(key)
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark)
            data[key] = self.construct_object(value_node, deep=True)
            data.key_marks[key] = self.to_mark(key_node.start_mark)
            data.value_marks[key] = self.to_mark(value_node.start_mark)

    def construct_yaml_seq(self, node: yaml.SequenceNode):  # type: ignore[override]
        data = MarkedList()
        data.mark = self.to_mark(node.start_mark)
        yield data
        for item in node.value:
            data.append(self.construct_object(item, deep=True))
            data.item_marks.append(self.to_mark(item.start_mark))


_MarkingLoader.add_constructor("tag:yaml.org,2002:map", _MarkingLoader.construct_yaml_map)
_MarkingLoader.add_constructor("tag:yaml.org,2002:seq", _MarkingLoader.construct_yaml_seq)


def _syntax_error(error: yaml.YAMLError, filename: str, text: str) -> InputError:
    problem_mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    context_mark = getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    lines = text.splitlines()
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if "\t" in problem or "'\\t'" in problem:
        message += "; tabs are not allowed for indentation in YAML, use spaces"
    if problem_mark is None:
        return InputError(message, Mark(filename))
    if context_mark is not None and problem_mark.line >= len(lines):
        # "unexpected end of stream": the end says nothing, where the unclosed thing opened does
        opened = (context or "a value").replace("while scanning ", "").replace("while parsing ", "")
        message = f"YAML syntax error: {opened} is never closed ({problem})"
        problem_mark = context_mark
    mark = Mark(filename, problem_mark.line + 1, problem_mark.column + 1)
    line = lines[problem_mark.line] if problem_mark.line < len(lines) else None
    return InputError(message, mark, line)


def load_text_with_problems(text: str, filename: str) -> tuple[Any, list[InputError]]:
    """Parse YAML text: (data, problems). A syntax error gives no data; duplicate keys are problems
    but the data is kept (last value wins), so what follows in the file is still checked."""
    loader = _MarkingLoader(text, filename)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        return None, [_syntax_error(error, filename, text)]
    finally:
        loader.dispose()
    lines = text.splitlines()
    problems = [InputError(f"duplicate key '{key}' (YAML keeps only the last one)", mark,
                           lines[mark.line - 1] if mark.line <= len(lines) else None)
                for key, mark in loader.duplicates]
    return data, problems


def load_text(text: str, filename: str) -> Any:
    """Parse YAML text; raise InputError (syntax) or ValidationFailed (several duplicate keys)."""
    data, problems = load_text_with_problems(text, filename)
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationFailed(problems)
    return data


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError("file not found", Mark(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read file: {error}", Mark(path)) from None


def load_file(path: str) -> Any:
    """Load a YAML file with marks. A missing or unreadable file is an InputError naming it."""
    return load_text(_read(path), path)


def load_file_with_problems(path: str) -> tuple[Any, list[InputError]]:
    """Like load_text_with_problems for a file; an unreadable file is a problem too."""
    try:
        text = _read(path)
    except InputError as error:
        return None, [error]
    return load_text_with_problems(text, path)


def errors_of(error: InputError | ValidationFailed) -> list[InputError]:
    """The InputErrors inside either error kind, for code that gathers all errors at once."""
    return list(error.errors) if isinstance(error, ValidationFailed) else [error]


class _PlainDumper(yaml.SafeDumper):
    """SafeDumper that writes MarkedDict/MarkedList as plain mappings and sequences."""


_PlainDumper.add_representer(MarkedDict, yaml.SafeDumper.represent_dict)
_PlainDumper.add_representer(MarkedList, yaml.SafeDumper.represent_list)


def dump(data: Any, **options: Any) -> str:
    """yaml.safe_dump that accepts values loaded here (use it instead of yaml.safe_dump)."""
    return yaml.dump(data, Dumper=_PlainDumper, **options)
