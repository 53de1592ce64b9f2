"""ansible.cfg, found where Ansible finds it, for the settings a project keeps there.

Ansible reads the first of: $ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg, /etc/ansible/ansible.cfg.
provision takes from its [defaults] what decides which content runs and how hosts are reached:
`roles_path` (with $ANSIBLE_ROLES_PATH above it), `remote_user`, `private_key_file` and
`become`/`become_user` (the command line's -u/--private-key/-b/--become-user defaults, below every
inventory variable, as in Ansible), and `host_key_checking = False`, which provision reads as
OpenSSH's accept-new (a new key is recorded, a changed one still refused). The other settings are
about the ansible program itself and are left aside.
"""
from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field

from provision.booleans import NotABoolean, to_bool
from provision.errors import InputError, Mark

SEARCH = ("ansible.cfg", "~/.ansible.cfg", "/etc/ansible/ansible.cfg")  # the first: in the current folder


@dataclass
class AnsibleConfig:
    path: str | None = None
    roles_path: list[str] = field(default_factory=list)
    remote_user: str | None = None
    private_key_file: str | None = None
    become: bool | None = None
    become_user: str | None = None
    host_key_checking: bool = True


def find_config(environment: dict[str, str] | None = None, cwd: str | None = None) -> str | None:
    environment = os.environ if environment is None else environment
    if environment.get("ANSIBLE_CONFIG"):
        return os.path.expanduser(environment["ANSIBLE_CONFIG"])
    for candidate in SEARCH:
        path = os.path.expanduser(candidate) if candidate.startswith(("~", "/")) else \
            os.path.join(cwd or os.getcwd(), candidate)
        if os.path.isfile(path):
            return path
    return None


def load_config(environment: dict[str, str] | None = None, cwd: str | None = None) -> AnsibleConfig:
    """The settings provision takes; an unreadable file is an InputError naming it."""
    environment = os.environ if environment is None else environment
    path = find_config(environment, cwd)
    config = AnsibleConfig(path=path)
    defaults: dict[str, str] = {}
    if path is not None:
        parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
        try:
            with open(path, encoding="utf-8") as handle:
                parser.read_file(handle)
        except FileNotFoundError:
            raise InputError("ansible.cfg not found ($ANSIBLE_CONFIG names it)", Mark(path)) from None
        except (OSError, UnicodeDecodeError, configparser.Error) as error:
            raise InputError(f"cannot read ansible.cfg: {error}", Mark(path)) from None
        defaults = dict(parser["defaults"]) if parser.has_section("defaults") else {}
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    roles = environment.get("ANSIBLE_ROLES_PATH") or defaults.get("roles_path", "")
    config.roles_path = [os.path.join(base, os.path.expanduser(part)) for part in roles.split(os.pathsep) if part.strip()]
    config.remote_user = defaults.get("remote_user") or None
    key = defaults.get("private_key_file")
    config.private_key_file = os.path.join(base, os.path.expanduser(key)) if key else None
    config.become_user = defaults.get("become_user") or None
    try:
        if "become" in defaults:
            config.become = to_bool(defaults["become"])
        if "host_key_checking" in defaults:
            config.host_key_checking = to_bool(defaults["host_key_checking"])
        if "ANSIBLE_HOST_KEY_CHECKING" in environment:
            config.host_key_checking = to_bool(environment["ANSIBLE_HOST_KEY_CHECKING"])
    except NotABoolean as error:
        raise InputError(f"ansible.cfg: {error}", Mark(path or "ansible.cfg")) from None
    return config
