"""YAML for user files: plain dicts and lists that remember where each key and value came from.

Inventory, playbooks, roles and vars files all load through here, so every error can point at a
file:line:column. Mappings are `MarkedDict` (a dict) and sequences `MarkedList` (a list): code
that does not care about marks sees ordinary containers.

The easy thing to get wrong: PyYAML silently keeps the last of two equal keys; Ansible users hit
that as "my setting is ignored". Here a duplicate key is an error, pointed at the second one.

Reading is bounded (provision.limits): a file larger than `file_bytes` is refused before it is
read whole, nesting deeper than `yaml_depth` before Python's recursion gives out, and aliases
that would add more than `yaml_alias_nodes` nodes (a "billion laughs") while composing, each
error pointed at where it happens. NUL bytes, non-UTF-8 bytes, vault files and tags such as
`!vault` or `!!python/...` are refused with their place too.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from provision.errors import InputError, Mark, ValidationFailed
from provision.limits import DEFAULT_LIMITS, Limits, readable
from provision.vault import VaultError, decrypt_text, remember_values

VAULT_HEADER = "$ANSIBLE_VAULT;"


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


class _TooCostly(yaml.MarkedYAMLError):
    """Valid YAML that would cost too much to load (provision.limits), raised where it happens."""


class _MarkingLoader(yaml.SafeLoader):
    """SafeLoader building MarkedDict/MarkedList, collecting duplicate keys, and bounding nesting
    and alias expansion while composing (before anything is built from the nodes)."""

    def __init__(self, stream: str, filename: str, limits: Limits = DEFAULT_LIMITS):
        super().__init__(stream)
        self.filename = filename
        self.limits = limits
        self.duplicates: list[tuple[str, Mark]] = []
        self.depth = 0
        self.open_anchors: list[str] = []  # anchors of the nodes being composed: an alias to one loops
        self.sizes: dict[int, int] = {}  # id(collection node) -> nodes below it, aliases expanded
        self.aliased = 0  # nodes the aliases of this document add

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """`[[[[...`: refused while scanning, before PyYAML looks 1024 characters ahead at every level."""
        if self.flow_level >= self.limits.yaml_depth:
            raise _TooCostly(None, None, f"nested more than {self.limits.yaml_depth} levels deep", self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.open_anchors:
                raise _TooCostly(None, None, f"alias *{event.anchor} refers to the node that contains it "
                                 "(a structure that loops)", event.start_mark)
            node = super().compose_node(parent, index)
            self.aliased += self.sizes.get(id(node), 1)
            if self.aliased > self.limits.yaml_alias_nodes:
                raise _TooCostly(None, None, f"aliases expand to more than {readable(self.limits.yaml_alias_nodes)} "
                                 "nodes (a 'billion laughs'?); the limit keeps one file from taking the "
                                 "controller's memory", event.start_mark)
            return node
        self.depth += 1
        if self.depth > self.limits.yaml_depth:
            raise _TooCostly(None, None, f"nested more than {self.limits.yaml_depth} levels deep", event.start_mark)
        self.open_anchors.append(event.anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.open_anchors.pop()
        if isinstance(node, yaml.CollectionNode):
            children = [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else node.value
            self.sizes[id(node)] = 1 + sum(self.sizes.get(id(child), 1) for child in children)
        return node

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


class UnsafeStr(str):
    """`!unsafe` text: never rendered as a template, as Ansible keeps it."""


def _construct_vault(loader: _MarkingLoader, node: yaml.ScalarNode) -> str:
    """`!vault |` value: decrypted with the command's vault passwords (provision.vault)."""
    return decrypt_text(str(loader.construct_scalar(node)), loader.to_mark(node.start_mark))


def _construct_unsafe(loader: _MarkingLoader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, "!unsafe is for text values", node.start_mark)
    return UnsafeStr(loader.construct_scalar(node))


_MarkingLoader.add_constructor("!vault", _construct_vault)
_MarkingLoader.add_constructor("!unsafe", _construct_unsafe)
_MarkingLoader.add_constructor("tag:yaml.org,2002:map", _MarkingLoader.construct_yaml_map)
_MarkingLoader.add_constructor("tag:yaml.org,2002:seq", _MarkingLoader.construct_yaml_seq)


def _place(text: str, position: int) -> tuple[int, int]:
    """1-based (line, column) of a character index."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _reader_error(error: yaml.reader.ReaderError, filename: str, text: str) -> InputError:
    """A character YAML does not allow (NUL, other control characters), at its place."""
    line, column = _place(text, error.position)
    what = "a NUL byte: is this a binary file?" if error.character == 0 else "a control character"
    message = f"YAML syntax error: character #x{error.character:04x} is not allowed in YAML ({what})"
    return InputError(message, Mark(filename, line, column), text.splitlines()[line - 1] if text else None)


def _tag_message(problem: str) -> str | None:
    """`!vault`, `!unsafe`, `!!python/...`: say what the tag is, not only that it has no constructor."""
    found = re.search(r"constructor for the tag '([^']*)'", problem)
    if not found:
        return None
    tag = found.group(1).replace("tag:yaml.org,2002:", "!!")
    return f"YAML tag '{tag}' is not supported: provision reads plain YAML (with !vault and !unsafe; no !!python tags)"


def _syntax_error(error: yaml.YAMLError, filename: str, text: str) -> InputError:
    if isinstance(error, yaml.reader.ReaderError):
        return _reader_error(error, filename, text)
    problem_mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    context_mark = getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    lines = text.splitlines()
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if isinstance(error, _TooCostly):
        message = f"YAML refused: {problem}"
    elif _tag_message(problem):
        message = f"YAML refused: {_tag_message(problem)}"
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


def load_text_with_problems(text: str, filename: str,
                            limits: Limits = DEFAULT_LIMITS) -> tuple[Any, list[InputError]]:
    """Parse YAML text: (data, problems). A syntax error gives no data; duplicate keys are problems
    but the data is kept (last value wins), so what follows in the file is still checked."""
    vaulted = text.startswith(VAULT_HEADER)
    if vaulted:  # a whole vault file: its plaintext is the YAML, and each of its values a secret
        try:
            text = decrypt_text(text, Mark(filename, 1, 1), remember=False)
        except VaultError as error:
            return None, [InputError(error.message, error.mark, text.splitlines()[0])]
    try:
        loader = _MarkingLoader(text, filename, limits)  # the reader checks every character here
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        return None, [_syntax_error(error, filename, text)]
    except VaultError as error:  # a !vault value that cannot be decrypted
        return None, [InputError(error.message, error.mark, source_line(error.mark))]
    if vaulted:
        remember_values(data)
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


def read_text(path: str, limits: Limits = DEFAULT_LIMITS, what: str = "file") -> str:
    """A UTF-8 text file the controller reads as input, at most `limits.file_bytes` long (read no
    further, so /dev/zero or a log file by mistake costs nothing). Errors carry the place."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.file_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{what} not found", Mark(path)) from None
    except OSError as error:
        raise InputError(f"cannot read {what}: {error.strerror or error}", Mark(path)) from None
    if len(data) > limits.file_bytes:
        first = data[:data.find(b"\n") if b"\n" in data[:500] else 500].decode("utf-8", errors="replace")
        raise InputError(f"{what} is larger than {readable(limits.file_bytes)}, the limit for an input file "
                         "(is it the file you meant?)", Mark(path, 1, 1), first)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        line = data.count(b"\n", 0, error.start) + 1
        column = len(data[data.rfind(b"\n", 0, error.start) + 1:error.start].decode("utf-8", errors="replace")) + 1
        raise InputError(f"{what} is not UTF-8 text: byte 0x{data[error.start]:02x} cannot be decoded "
                         "(save it as UTF-8)", Mark(path, line, column), text.splitlines()[line - 1]) from None


def load_file(path: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Load a YAML file with marks. A missing or unreadable file is an InputError naming it."""
    return load_text(read_text(path, limits), path)


def load_file_with_problems(path: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, list[InputError]]:
    """Like load_text_with_problems for a file; an unreadable file is a problem too."""
    try:
        text = read_text(path, limits)
    except InputError as error:
        return None, [error]
    return load_text_with_problems(text, path, limits)


def load_data(text: str, filename: str, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Every document of YAML that is data rather than a user's file (from_yaml, from_yaml_all):
    the same limits as files, and a repeated key keeps the last value, as in PyYAML. Raises
    InputError."""
    try:
        loader = _MarkingLoader(text, filename, limits)
        try:
            documents = []
            while loader.check_data():
                documents.append(loader.get_data())
            return documents
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise _syntax_error(error, filename, text) from None


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
