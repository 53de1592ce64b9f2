"""Ansible's YAML inventory -> an Inventory of Host and Group, with each host's variables resolved.

Precedence inside the inventory level follows Ansible's documented order, lowest first:
  1. group vars written in the inventory file, groups ordered by depth (`all` first, children
     after parents), then `ansible_group_priority`, then name (later wins);
  2. group_vars/all beside the inventory, then beside the playbook (when a playbook folder is
     given); then group_vars/<group> of the other groups, in the same order, all of those beside
     the inventory before any beside the playbook (Ansible's VARIABLE_PRECEDENCE);
  3. host vars written in the inventory file;
  4. host_vars/<host> (beside the inventory, then beside the playbook).

The easy thing to get wrong: a group's vars apply to the hosts of all its descendant groups, and
a deeper group wins over its parent even when the parent is listed later in the file.
"""
from __future__ import annotations

import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Any

from provision.booleans import NotABoolean, to_bool
from provision.errors import InputError, Mark, ValidationFailed
from provision.ini_inventory import looks_like_ini, parse_ini
from provision.transport.sshargs import retries_problem
from provision.hostpatterns import select_hosts  # noqa: F401  (re-exported: --limit lives with the inventory)
from provision.yamlsource import MarkedDict, input_error, load_file_with_problems, mark_of, read_text, value_mark

GROUP_KEYS = ("hosts", "vars", "children")
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
CONNECTIONS = ("ssh", "smart", "paramiko", "local")  # ssh, smart and paramiko all mean ssh here
# Connection variables that must be one word of text (a number is fine: `ansible_user: 1000`).
TEXT_VARIABLES = ("ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user", "ansible_become_user",
                  "ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_become_password",
                  "ansible_become_pass", "provision_known_hosts_file")
KNOWN_HOSTS_MARKERS = ("@cert-authority", "@revoked")


@dataclass(frozen=True)
class Connection:
    """How to reach a host, read from its ansible_* variables (raw: they may still hold Jinja2)."""

    address: str
    port: int = 22
    user: str | None = None
    private_key_file: str | None = None
    become: bool | str = False  # a str is Jinja2, rendered by the runner
    become_user: str | None = None
    become_method: str | None = None  # ansible_become_method: sudo or su
    become_password: str | None = None
    connection: str = "ssh"  # "ssh" or "local"


@dataclass
class Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)  # as written in the inventory file
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # direct members only
    parents: list[str] = field(default_factory=list)
    depth: int = 0
    priority: int = 1  # ansible_group_priority
    file_vars: dict[str, Any] = field(default_factory=dict)  # from group_vars/
    mark: Mark | None = None


@dataclass
class Host:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)  # merged inventory level, per precedence
    groups: list[str] = field(default_factory=list)  # every group holding it, ancestors too, `all` first
    mark: Mark | None = None

    @property
    def group_names(self) -> list[str]:
        """Ansible's `group_names`: sorted, without `all`."""
        return sorted(name for name in self.groups if name != "all")

    @property
    def connection(self) -> Connection:
        return connection_view(self.name, self.vars)


@dataclass
class Inventory:
    path: str
    hosts: dict[str, Host] = field(default_factory=dict)  # in the order they first appear
    groups: dict[str, Group] = field(default_factory=dict)


def _boolean(value: Any) -> Any:
    """A connection flag read with provision.booleans; Jinja2 is kept for the runner to render, as
    every connection setting is (`ansible_become: "{{ use_sudo }}"`)."""
    return value if _templated(value) else to_bool(value)


# Each connection setting's variables, the one that wins first; old ansible_ssh_* spellings accepted.
CONNECTION_VARIABLES: dict[str, tuple[str, ...]] = {
    "connection": ("ansible_connection",),
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "private_key_file": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "become": ("ansible_become",),
    "become_user": ("ansible_become_user",),
    "become_method": ("ansible_become_method",),
    "become_password": ("ansible_become_password", "ansible_become_pass"),
}


def connection_view(name: str, variables: dict[str, Any]) -> Connection:
    """Connection settings from ansible_* variables (CONNECTION_VARIABLES)."""
    def first(setting: str) -> Any:
        return next((variables[key] for key in CONNECTION_VARIABLES[setting] if variables.get(key) is not None), None)

    kind = str(first("connection") or "ssh")
    port = first("port")
    return Connection(
        address=str(first("address") or name),
        port=int(port) if port is not None else 22,
        user=first("user"),
        private_key_file=first("private_key_file"),
        become=_boolean(first("become")),
        become_user=first("become_user"),
        become_method=first("become_method"),
        become_password=first("become_password"),
        connection="local" if kind == "local" else "ssh",
    )


def rendered_connection(name: str, variables: dict[str, Any]) -> tuple[Connection, dict[str, Any]]:
    """The connection settings with their Jinja2 rendered, and the rendered ansible_*/provision_*
    variables (`provision_known_hosts_file`...). Apply, verify and onboard all reach a host through
    this, so they agree on where it is. Raises TemplateError."""
    from provision.templating import Templar, TemplateError  # templating needs no inventory; keep imports one-way

    rendered = Templar(variables).render({key: value for key, value in variables.items()
                                          if key.startswith(("ansible_", "provision_"))})
    try:
        return connection_view(name, rendered), rendered
    except NotABoolean as error:  # `ansible_become: "{{ x }}"` with x: maybe
        raise TemplateError(f"ansible_become: {error}", str(variables.get("ansible_become"))) from None


def expand_host_range(name: str) -> list[str]:
    """`web[01:03].lan` -> web01.lan web02.lan web03.lan (numeric or single letters, optional :step)."""
    match = re.search(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]", name)
    if not match:
        return [name]
    start, end, step = match.group(1), match.group(2), int(match.group(3) or 1)
    head, tail = name[:match.start()], name[match.end():]
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        items = [str(number).zfill(width) for number in range(int(start), int(end) + 1, step)]
    elif len(start) == 1 and len(end) == 1:
        items = [chr(code) for code in range(ord(start), ord(end) + 1, step)]
    else:
        return [name]
    return [expanded for item in items for expanded in expand_host_range(head + item + tail)]


class _Builder:
    """Collects groups, hosts and errors while walking the inventory file."""

    def __init__(self, path: str):
        self.inventory = Inventory(path)
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.errors: list[InputError] = []

    def group(self, name: str, mark: Mark | None) -> Group:
        if name not in self.inventory.groups:
            self.inventory.groups[name] = Group(name, vars=MarkedDict(), mark=mark)
        return self.inventory.groups[name]

    def link(self, parent: str, child: str) -> None:
        if child not in self.inventory.groups[parent].children:
            self.inventory.groups[parent].children.append(child)
        if parent not in self.inventory.groups[child].parents:
            self.inventory.groups[child].parents.append(parent)

    def walk_group(self, name: str, data: Any, where: Mark) -> None:
        group = self.group(name, where)
        if data is None:
            return
        if not isinstance(data, dict):
            self.errors.append(input_error(
                f"group '{name}' must be a mapping of hosts/vars/children, not {type(data).__name__}", where))
            return
        for key, value in data.items():
            key_mark = mark_of(data, key, where)
            if key not in GROUP_KEYS:
                self.errors.append(input_error(
                    f"unknown key '{key}' in group '{name}' (expected one of: {', '.join(GROUP_KEYS)})", key_mark))
            elif value is None:
                continue
            elif not isinstance(value, dict):
                self.errors.append(input_error(
                    f"'{key}' of group '{name}' must be a mapping, not {type(value).__name__}", key_mark))
            elif key == "vars":
                _update_marked(group.vars, value)
                if "ansible_group_priority" in value:
                    group.priority = self.priority(value, key_mark)
            elif key == "hosts":
                for host_name, host_vars in value.items():
                    self.add_host(group, str(host_name), host_vars, mark_of(value, host_name, key_mark))
            else:
                for child_name, child_data in value.items():
                    child_mark = mark_of(value, child_name, key_mark)
                    self.group(str(child_name), child_mark)
                    self.link(name, str(child_name))
                    self.walk_group(str(child_name), child_data, child_mark)

    def priority(self, variables: dict, mark: Mark) -> int:
        try:
            return int(variables["ansible_group_priority"])
        except (TypeError, ValueError):
            self.errors.append(input_error("ansible_group_priority must be an integer", mark))
            return 1

    def add_host(self, group: Group, name: str, variables: Any, mark: Mark) -> None:
        if variables is not None and not isinstance(variables, dict):
            self.errors.append(input_error(
                f"host '{name}' must map to a mapping of variables (or nothing), not {type(variables).__name__}", mark))
            variables = None
        for host_name in expand_host_range(name):
            if host_name not in self.inventory.hosts:
                self.inventory.hosts[host_name] = Host(host_name, mark=mark)
            if host_name not in group.hosts:
                group.hosts.append(host_name)
            _update_marked(self.host_vars.setdefault(host_name, MarkedDict()), variables or {})


def _marked_layer(*levels: dict | None) -> MarkedDict:
    """variables.layer() that keeps where each winning value was written, for errors about it."""
    merged = MarkedDict()
    for level in levels:
        if level:
            _update_marked(merged, level)
    return merged


def _update_marked(target: dict, source: dict) -> None:
    """dict.update that also keeps where each value was written, for errors about it later."""
    target.update(source)
    if isinstance(target, MarkedDict) and isinstance(source, MarkedDict):
        target.key_marks.update(source.key_marks)
        target.value_marks.update(source.value_marks)
    elif isinstance(target, MarkedDict):  # a value without a place: the old place is wrong now
        for key in source:
            target.key_marks.pop(key, None)
            target.value_marks.pop(key, None)


def _set_depths(inventory: Inventory, errors: list[InputError]) -> None:
    """Depth of each group below `all`; a cycle in children is an error."""
    def depth(name: str, trail: tuple[str, ...]) -> int:
        group = inventory.groups[name]
        if name in trail:
            errors.append(input_error(f"group '{name}' is its own ancestor: {' -> '.join(trail + (name,))}", group.mark))
            return 0
        if not group.parents:
            return 0
        return 1 + max(depth(parent, trail + (name,)) for parent in group.parents)

    for name, group in inventory.groups.items():
        group.depth = depth(name, ())


def _ancestors(inventory: Inventory, group_name: str) -> set[str]:
    found: set[str] = set()
    pending = [group_name]
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(inventory.groups[name].parents)
    return found


def vars_files(base: str, kind: str, name: str) -> list[str]:
    """Ansible's lookup of base/kind/NAME: the first of NAME (a file, or a folder read recursively in
    name order), NAME.yml, NAME.yaml, NAME.json. Only the first found is used, as in Ansible."""
    for extension in VARS_EXTENSIONS:
        candidate = os.path.join(base, kind, name + extension)
        if os.path.isdir(candidate) and not extension:
            return _folder_files(candidate)
        if os.path.isfile(candidate):
            return [candidate]
    return []


def _folder_files(folder: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith(".") or entry.endswith("~"):
            continue
        if os.path.isdir(path):
            found.extend(_folder_files(path))
        elif os.path.splitext(entry)[1] in VARS_EXTENSIONS:
            found.append(path)
    return found


def read_vars_dir(base: str, kind: str, name: str, errors: list[InputError]) -> dict[str, Any]:
    """Variables from base/kind/NAME (see vars_files), merged in file order, marks kept."""
    merged = MarkedDict()
    for path in vars_files(base, kind, name):
        data, problems = load_file_with_problems(path)
        errors.extend(problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            errors.append(input_error(f"variables file must hold a mapping, not {type(data).__name__}",
                                      mark_of(data, None, Mark(path, 1, 1))))
            continue
        _update_marked(merged, data)
    return merged


def load_inventory(path: str, playbook_dir: str | None = None) -> Inventory:
    """Load a YAML (or Ansible INI) inventory and its group_vars/ and host_vars/; raise
    ValidationFailed with all errors.

    `playbook_dir`, when given, adds the playbook's own group_vars/ and host_vars/ just above the
    inventory's (Ansible precedence levels 5, 7 and 10).
    """
    builder = _Builder(path)
    data, problems = load_file_with_problems(path)
    if (data is None and problems) or isinstance(data, (str, list)):
        ini = _ini_text(path)
        if ini is not None:  # Ansible's INI format: read into the same shape
            data, problems = parse_ini(ini, path)
    if data is None and problems:
        raise ValidationFailed(problems)
    builder.errors.extend(problems)  # duplicate keys: reported, and the rest is still checked
    builder.group("all", Mark(path))
    if data is not None and not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else type(data).__name__.removeprefix("Marked").lower()
        hint = ""
        if isinstance(data, list) and any(isinstance(item, dict) and ("hosts" in item or "import_playbook" in item)
                                          for item in data):
            hint = ("; this file is a playbook (a list of plays): the inventory comes first, "
                    "`provision apply INVENTORY PLAYBOOK` (or `-i INVENTORY PLAYBOOK`)")
        raise ValidationFailed([input_error(
            f"inventory must be a mapping of groups (all:, children:, hosts:), not {kind}{hint}",
            mark_of(data, None, Mark(path, 1, 1)))])
    for name, group_data in (data or {}).items():
        builder.walk_group(str(name), group_data, mark_of(data, name, Mark(path)))
        if name != "all":
            builder.link("all", str(name))
    inventory = builder.inventory
    ungrouped = builder.group("ungrouped", Mark(path))
    builder.link("all", "ungrouped")
    for name in inventory.hosts:
        if not any(name in group.hosts for group in inventory.groups.values() if group.name not in ("all", "ungrouped")):
            ungrouped.hosts.append(name)
    all_group = inventory.groups["all"]
    all_group.hosts = [name for name in all_group.hosts if name in ungrouped.hosts]
    _set_depths(inventory, builder.errors)
    _resolve_vars(inventory, builder, playbook_dir)
    if builder.errors:
        raise ValidationFailed(builder.errors)
    return inventory


def _ini_text(path: str) -> str | None:
    """The file's text when it is an INI inventory ([group] and `host key=value` lines), else None."""
    try:
        text = read_text(path)
    except InputError:
        return None
    return text if looks_like_ini(text) else None


def _resolve_vars(inventory: Inventory, builder: _Builder, playbook_dir: str | None) -> None:
    bases = [os.path.dirname(os.path.abspath(inventory.path))]
    if playbook_dir and os.path.abspath(playbook_dir) != bases[0]:
        bases.append(os.path.abspath(playbook_dir))
    group_files = {name: [read_vars_dir(base, "group_vars", name, builder.errors) for base in bases]
                   for name in inventory.groups}
    for name, group in inventory.groups.items():
        group.file_vars = _marked_layer(*group_files[name])
    for host in inventory.hosts.values():
        member_of = set()
        for group in inventory.groups.values():
            if host.name in group.hosts:
                member_of |= _ancestors(inventory, group.name)
        member_of.add("all")
        ordered = sorted((inventory.groups[name] for name in member_of),
                         key=lambda group: (group.depth, group.priority, group.name))
        host.groups = [group.name for group in ordered]
        others = [group for group in ordered if group.name != "all"]
        # Ansible's VARIABLE_PRECEDENCE: inventory-file group vars; group_vars/all beside the
        # inventory, then beside the playbook; every other group's group_vars/ beside the
        # inventory, then every other group's beside the playbook; host vars likewise.
        levels = [
            *(group.vars for group in ordered),
            *group_files["all"],
            *(group_files[group.name][index] for index in range(len(bases)) for group in others),
            builder.host_vars.get(host.name),
            *(read_vars_dir(base, "host_vars", host.name, builder.errors) for base in bases),
        ]
        host.vars = _marked_layer(*levels)
        builder.errors.extend(_connection_problems(host, levels))
    checked: set[str] = set()
    for host in inventory.hosts.values():
        builder.errors.extend(_known_hosts_problems(host, checked))


def _connection_problems(host: Host, levels: list) -> list[InputError]:
    """Connection settings that cannot work, each pointed at where its value was written."""
    def where(key: str) -> Mark | None:
        return next((value_mark(level, key) for level in reversed(levels) if level and key in level), host.mark)

    problems = []
    kind = host.vars.get("ansible_connection", "ssh")
    if not _templated(kind) and (not isinstance(kind, str) or kind not in CONNECTIONS):
        problems.append(input_error(
            f"host '{host.name}': ansible_connection '{kind}' is not supported (use ssh or local)",
            where("ansible_connection")))
    for key in ("ansible_port", "ansible_ssh_port"):
        port = host.vars.get(key)
        if port is None or _templated(port):
            continue
        if isinstance(port, bool) or not str(port).strip().isdigit() or not 0 < int(str(port)) < 65536:
            problems.append(input_error(f"host '{host.name}': {key} must be a port number, not {port!r}", where(key)))
    retries = host.vars.get("ansible_ssh_retries")
    if retries is not None and not _templated(retries) and retries_problem(retries):
        problems.append(input_error(f"host '{host.name}': {retries_problem(retries)}", where("ansible_ssh_retries")))
    for key in TEXT_VARIABLES:
        value = host.vars.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            problems.append(input_error(f"host '{host.name}': {key} must be text, not {_kind(value)} {value!r}",
                                        where(key)))
        elif isinstance(value, str) and not value.strip():
            problems.append(input_error(f"host '{host.name}': {key} is empty", where(key)))
    become = host.vars.get("ansible_become")
    if not _is_boolean(become):
        problems.append(input_error(f"host '{host.name}': ansible_become must be true or false, not {become!r}",
                                    where("ansible_become")))
    return problems


def _is_boolean(value: Any) -> bool:
    try:
        _boolean(value)
    except NotABoolean:
        return False
    return True


def _kind(value: Any) -> str:
    return next((name for kind, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"))
                 if isinstance(value, kind)), type(value).__name__)


def _known_hosts_problems(host: Host, checked: set[str]) -> list[InputError]:
    """The known_hosts file an inventory names, read now: a file provision cannot use is one error
    with its line before any host is contacted, not an "unreachable" per host. Each file once."""
    name = host.vars.get("provision_known_hosts_file")
    if not isinstance(name, str) or _templated(name) or not name.strip():
        return []
    path = os.path.expanduser(name)
    if path in checked or not os.path.exists(path):  # a file not there yet: the first accepted key makes it
        return []
    checked.add(path)
    try:
        text = read_text(path, what="known_hosts file")
    except InputError as error:
        return [error]
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        problem = _known_hosts_line_problem(line.strip())
        if problem:
            column = len(line) - len(line.lstrip()) + 1
            problems.append(input_error(f"known_hosts file: {problem}", Mark(path, number, column)))
    return problems


def _known_hosts_line_problem(line: str) -> str | None:
    """What is wrong with one known_hosts line (OpenSSH's format: [@marker] HOSTS KEYTYPE BASE64 [comment])."""
    if not line or line.startswith("#"):
        return None
    fields = line.split()
    if fields[0] in KNOWN_HOSTS_MARKERS:
        fields = fields[1:]
    if len(fields) < 3 or not fields[1].startswith(("ssh-", "ecdsa-", "sk-")):
        return "not a known_hosts line (expected: HOSTS KEY-TYPE BASE64-KEY, such as 'web1 ssh-ed25519 AAAA...')"
    try:
        binascii.a2b_base64(fields[2].encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return f"the key of {fields[0]} is not base64 text"
    return None


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def graph(inventory: Inventory, group_name: str = "all") -> str:
    """Text tree like `ansible-inventory --graph`."""
    lines: list[str] = []

    def walk(name: str, depth: int) -> None:
        prefix = "  |" * depth + "--" if depth else ""
        lines.append(f"{prefix}@{name}:")
        group = inventory.groups[name]
        for child in sorted(group.children):
            walk(child, depth + 1)
        if name != "all":
            for host in sorted(group.hosts):
                lines.append("  |" * (depth + 1) + "--" + host)

    walk(group_name, 0)
    return "\n".join(lines)


def host_view(inventory: Inventory, name: str) -> dict[str, Any]:
    """A host's resolved inventory variables, like `ansible-inventory --host NAME`."""
    if name not in inventory.hosts:
        raise InputError(f"host '{name}' is not in the inventory", Mark(inventory.path))
    return dict(inventory.hosts[name].vars)
