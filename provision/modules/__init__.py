"""Every module by name. `get_module` also accepts `ansible.builtin.X` and the few community names
provision implements (community.general.modprobe, ...).

Adding a module: write provision/modules/NAME.py with one Module subclass, list it here, add its
tests under tests/modules/.
"""
from __future__ import annotations

from provision.modules.apt import Apt
from provision.modules.apt_key import AptKey
from provision.modules.apt_repository import AptRepository
from provision.modules.assert_ import Assert
from provision.modules.async_status import AsyncStatus
from provision.modules.authorized_key import AuthorizedKey
from provision.modules.base import Module, ModuleFailed
from provision.modules.blockinfile import BlockInFile
from provision.modules.command import Command, Raw, Script, Shell
from provision.modules.copy import Copy
from provision.modules.debug import Debug
from provision.modules.dnf import Dnf
from provision.modules.fail import Fail
from provision.modules.fetch import Fetch
from provision.modules.file import File
from provision.modules.find import Find
from provision.modules.get_url import GetUrl
from provision.modules.getent import Getent
from provision.modules.gpu_driver_facts import GpuDriverFacts
from provision.modules.gpu_image_check import GpuImageCheck
from provision.modules.gpu_preflight import GpuPreflight
from provision.modules.gpu_verify import GpuVerify
from provision.modules.group import Group
from provision.modules.hostname import Hostname
from provision.modules.include_vars import IncludeVars
from provision.modules.json_merge import JsonMerge
from provision.modules.kernel_blacklist import KernelBlacklist
from provision.modules.lineinfile import LineInFile
from provision.modules.modprobe import Modprobe
from provision.modules.package import Package, Yum
from provision.modules.pause import Pause
from provision.modules.ping import Ping
from provision.modules.reboot import Reboot
from provision.modules.replace import Replace
from provision.modules.rpm_key import RpmKey
from provision.modules.service_facts import ServiceFacts
from provision.modules.service import Service
from provision.modules.set_fact import SetFact
from provision.modules.setup import Setup
from provision.modules.stat import Stat
from provision.modules.sysctl import Sysctl
from provision.modules.systemd import Systemd
from provision.modules.template import Template
from provision.modules.tempfile import Tempfile
from provision.modules.timezone import Timezone
from provision.modules.unarchive import Unarchive
from provision.modules.user import User
from provision.modules.wait_for import WaitFor
from provision.modules.wait_for_connection import WaitForConnection
from provision.modules.yum_repository import YumRepository

MODULES: dict[str, type[Module]] = {
    module.name: module
    for module in (
        Apt, AptKey, AptRepository, Assert, AsyncStatus, AuthorizedKey, BlockInFile, Command, Copy, Debug, Dnf, Fail, Fetch, File, Find, GetUrl, Getent,
        GpuDriverFacts, GpuImageCheck, GpuPreflight, GpuVerify, Group, Hostname, IncludeVars, JsonMerge, KernelBlacklist, LineInFile,
        Modprobe, Package, Pause, Ping, Raw, Reboot, Replace, RpmKey, Script, ServiceFacts, SetFact, Service, Setup, Shell, Stat,
        Sysctl, Systemd, Template, Tempfile, Timezone, Unarchive, User, WaitFor, WaitForConnection, Yum, YumRepository,
    )
}

PREFIXES = ("ansible.builtin.", "ansible.legacy.", "community.general.", "ansible.posix.", "provision.")


def canonical_name(name: str) -> str:
    """'ansible.builtin.copy' -> 'copy'; unknown names come back unchanged."""
    for prefix in PREFIXES:
        if name.startswith(prefix) and name[len(prefix):] in MODULES:
            return name[len(prefix):]
    return name


def get_module(name: str) -> type[Module]:
    """The module class for a task's module name; raises KeyError for an unknown module."""
    short = canonical_name(name)
    if short not in MODULES:
        raise KeyError(f"unknown module {name!r}")
    return MODULES[short]


__all__ = ["MODULES", "Module", "ModuleFailed", "canonical_name", "get_module"]
