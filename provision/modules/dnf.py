"""dnf: RHEL-family packages present, absent or latest, with version pins (`cuda-drivers=550.*`).

One round trip reads what rpm has installed and, when needed, what dnf offers (upgrades for
`latest`, every available version for a pin); then the plan is one `dnf -y` command per action.
`update_cache` makes those reads use fresh metadata (`--refresh`): refreshed metadata is not a
change. The easy thing to get wrong: rpm prints "package X is not installed" on stdout, so only
tab-separated lines from the query format are trusted.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join
from provision.transport.base import CommandResult

PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_+.\-]*$")
RPM_FORMAT = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"


@dataclass
class RpmState:
    installed: dict[str, str]  # name -> "VERSION-RELEASE" (epoch dropped when 0)
    upgrades: dict[str, str]  # name -> newer "VERSION-RELEASE"
    available: dict[str, list[str]]  # name -> versions dnf offers, as listed


@dataclass
class DnfPlan:
    install: list[str] = field(default_factory=list)
    upgrade: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


def split_pin(spec: str) -> tuple[str, str | None]:
    name, has_pin, version = spec.partition("=")
    name = name.strip()
    if not PACKAGE_NAME.match(name):
        raise ModuleFailed(f"dnf: {name!r} is not a valid package name")
    return name, version.strip() or None if has_pin else None


def parse_rpm(text: str) -> dict[str, str]:
    installed = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            name, evr, _ = parts
            installed[name] = evr[2:] if evr.startswith("0:") else evr
    return installed


def parse_list(text: str) -> dict[str, list[str]]:
    """`dnf -q list` lines ('name.arch  version  repo') -> {name: [versions]}, headers skipped."""
    versions: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) != 3 or "." not in words[0] or words[0].endswith(":"):
            continue
        name = words[0].rsplit(".", 1)[0]
        version = words[1].split(":", 1)[1] if ":" in words[1] else words[1]
        versions.setdefault(name, []).append(version)
    return versions


def pin_matches(version: str, pin: str) -> bool:
    """'550.*' matches '550.54.15-1.el9' by its version or its version-release."""
    return fnmatch.fnmatchcase(version, pin) or fnmatch.fnmatchcase(version.rsplit("-", 1)[0], pin)


class Dnf(Module):
    name = "dnf"
    opaque = True
    spec = {
        # Ansible's dnf takes update_cache alone (required_one_of name, list, update_cache); here
        # update_cache only refreshes the metadata of the reads, so a package is needed
        "name": Arg("list", elements="str", required=True, aliases=("pkg", "package")),
        "state": Arg("str", default="present", choices=("present", "installed", "latest", "absent", "removed")),
        "update_cache": Arg("bool", default=False, aliases=("update-cache",)),
        "enablerepo": Arg("list", elements="str", default=[]),
        "disablerepo": Arg("list", elements="str", default=[]),
        "disable_gpg_check": Arg("bool", default=False),
        "install_weak_deps": Arg("bool", default=True),
        "allowerasing": Arg("bool", default=False, help="let dnf remove installed packages that conflict"),
        "nobest": Arg("bool", help="take a lower version when the best one cannot be installed"),
        "autoremove": Arg("bool", default=False, help="absent: also remove what only the removed packages needed"),
    }

    @property
    def state(self) -> str:
        return {"installed": "present", "removed": "absent"}.get(self.args["state"], self.args["state"])

    def wanted(self) -> list[tuple[str, str | None]]:
        return [split_pin(spec) for spec in self.args["name"] or []]

    def repo_options(self) -> list[str]:
        options = [f"--enablerepo={repo}" for repo in self.args["enablerepo"]]
        options += [f"--disablerepo={repo}" for repo in self.args["disablerepo"]]
        return options

    def read_command(self) -> str:
        if not self.args["name"]:
            raise ModuleFailed("dnf: name is required")
        wanted = self.wanted()
        if self.state == "latest":
            pinned = next((f"{name}={pin}" for name, pin in wanted if pin), None)
            if pinned:
                raise ModuleFailed(f"dnf: state=latest cannot be used with a version pin ({pinned})")
        names = [name for name, _ in wanted]
        refresh = ["--refresh"] if self.args["update_cache"] else []
        script = ["s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
                  "s rpm; " + join(["rpm", "-q", "--qf", RPM_FORMAT, "--", *names]) + " 2>/dev/null"]
        if self.state == "latest":
            script.append("s upgrades; " + join(["dnf", "-q", *refresh, *self.repo_options(), "list", "--upgrades",
                                                 *names]) + " 2>/dev/null")
        pinned = [name for name, pin in wanted if pin]
        if pinned and self.state == "present":
            script.append("s available; " + join(["dnf", "-q", *refresh, *self.repo_options(), "list",
                                                  "--showduplicates", "--available", *pinned]) + " 2>/dev/null")
        script.append("s end")
        return "\n".join(script) + "\n"

    def parse(self, result: CommandResult | None) -> RpmState:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            error = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"dnf: could not read the package state: {error}")
        upgrades = {name: versions[-1] for name, versions in parse_list(sections.get("upgrades", "")).items()}
        return RpmState(parse_rpm(sections.get("rpm", "")), upgrades, parse_list(sections.get("available", "")))

    def diff(self, current: RpmState) -> DnfPlan | None:
        plan = DnfPlan()
        for name, pin in self.wanted():
            have = current.installed.get(name)
            if self.state == "absent":
                if have:
                    plan.remove.append(name)
                    plan.summary.append(f"remove {name} {have}")
                continue
            if self.state == "latest":
                if have is None:
                    plan.install.append(name)
                    plan.summary.append(f"install {name}")
                elif name in current.upgrades:
                    plan.upgrade.append(name)
                    plan.summary.append(f"upgrade {name} {have} -> {current.upgrades[name]}")
                continue
            if pin:
                if have and pin_matches(have, pin):
                    continue
                offered = [version for version in current.available.get(name, []) if pin_matches(version, pin)]
                if not offered:
                    raise ModuleFailed(f"dnf: no version of {name} matches {pin!r}")
                plan.install.append(f"{name}-{offered[-1]}")  # dnf lists versions oldest first
                plan.summary.append(f"install {name} {offered[-1]}" + (f" (was {have})" if have else ""))
            elif have is None:
                plan.install.append(name)
                plan.summary.append(f"install {name}")
        return plan if plan.install or plan.upgrade or plan.remove else None

    def commands(self, plan: DnfPlan) -> list[str]:
        """The dnf commands for a plan (pure: tests read them as data)."""
        options = ["-y", *self.repo_options()]
        if self.args["disable_gpg_check"]:
            options.append("--nogpgcheck")
        if not self.args["install_weak_deps"]:
            options.append("--setopt=install_weak_deps=False")
        if self.args["allowerasing"]:
            options.append("--allowerasing")
        if self.args["nobest"] is not None:  # unset: the host's dnf.conf decides, as in Ansible
            options.append("--nobest" if self.args["nobest"] else "--best")
        commands = []
        if plan.install:  # `install name-version` also moves an installed package to that version
            commands.append(join(["dnf", *options, "install", *plan.install]))
        if plan.upgrade:
            commands.append(join(["dnf", *options, "upgrade", *plan.upgrade]))
        if plan.remove:
            # dnf's clean_requirements_on_remove: what only these packages needed goes with them
            extra = ["--setopt=clean_requirements_on_remove=True"] if self.args.get("autoremove") else []
            commands.append(join(["dnf", *options, *extra, "remove", *plan.remove]))
        return commands

    def describe(self, current: RpmState, plan: DnfPlan) -> str:
        return "".join(line + "\n" for line in plan.summary)

    def result_data(self, current: RpmState, plan: Any) -> dict[str, Any]:
        return {"installed": {name: current.installed.get(name) for name, _ in self.wanted()},
                "results": []}

    def apply(self, plan: DnfPlan) -> dict[str, Any]:
        output = ""
        for command in self.commands(plan):
            result = self.context.run(command)
            output += result.stdout
            if not result.ok:
                raise ModuleFailed(f"dnf: {command} failed (rc {result.rc}): {result.stderr.strip()[-1500:]}",
                                   {"rc": result.rc, "stdout": output, "stderr": result.stderr})
        # Ansible's keys: results (here provision's action lines) and rc
        return {"actions": plan.summary, "results": plan.summary, "rc": 0,
                "stdout": output, "stdout_lines": output.splitlines()}
