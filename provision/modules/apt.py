"""apt: Debian/Ubuntu packages present, absent or latest, with version pins, holds and purge.

The state is read in one round trip that is the same text for every apt task: the host's clock and
package-index age and one `dpkg-query` of every package the host knows (version, held, config files
left). The runner batches it with the other reads and serves it to all the apt tasks of a run, so
a host's package state is read once, as pyinfra's package facts are. `apt-cache policy` (it loads
the whole package cache, the slow part) runs, in a second round trip, only for the packages that
need a candidate or the version table: one not installed, a pin the installed version does not
match, `state: latest`. A pin (`nvidia-driver=550.*`) is resolved there to the newest matching
version in that table, so apt is always asked for an exact version.

The easy thing to get wrong: another apt or unattended-upgrades holding the dpkg lock. Every apt
command waits for it, bounded by `lock_timeout`, instead of failing at once. And a refreshed index
(`update_cache`) is not a change by itself: the packages are planned again after the refresh and
the task is changed only when a package was.
"""
from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from provision.facts import split_sections
from provision.modules.base import APT_SOURCES, PACKAGES, Arg, ModuleFailed
from provision.modules.outcome import MayNotChange
from provision.shell import join
from provision.transport.base import CommandResult

PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9\-]+)?$")
CACHE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
NOT_INSTALLED = ("not-installed", "config-files")
NOT_YET = "(not checkable yet: an earlier task in this check adds apt sources it may come from)"

# Retries an apt command while another process holds the dpkg or lists lock, up to $lock_wait
# seconds; DPkg::Lock::Timeout covers dpkg itself, this also covers `apt-get update` and apt-mark.
LOCK_WAIT = r"""
apt_locked() {
  end=$(( $(date +%s) + lock_wait ))
  while :; do
    err=$(mktemp) || return 1
    rc=0; "$@" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -qE 'Could not get lock|Unable to acquire|is another process using it' "$err" \
       && [ "$(date +%s)" -lt "$end" ]; then
      rm -f "$err"; sleep 2; continue
    fi
    cat "$err" >&2; rm -f "$err"; return "$rc"
  done
}
"""


# `apt-get update` exits 0 when a repository cannot be reached: it only warns, and the packages of
# that repository then have "no installation candidate". These lines are the real cause.
_FETCH_FAILED = re.compile(r"^[WE]: Failed to fetch (\S+)\s+(.+)$", re.M)


def fetch_failures(output: str) -> list[str]:
    """'URL: reason' for every index `apt-get update` could not fetch, from its output (pure)."""
    failures: list[str] = []
    for url, reason in _FETCH_FAILED.findall(output):
        line = f"{url}: {reason.strip()}"
        if line not in failures:
            failures.append(line)
    return failures


@dataclass
class Installed:
    status: str  # dpkg's third status word: installed, config-files, not-installed, half-configured...
    version: str
    held: bool

    @property
    def present(self) -> bool:
        return self.status not in NOT_INSTALLED


@dataclass
class Available:
    candidate: str | None
    versions: list[str]  # newest first, as apt-cache policy lists them


@dataclass
class AptState:
    now: int
    cache_time: int | None
    installed: dict[str, Installed]
    available: dict[str, Available]


@dataclass
class AptPlan:
    refresh: bool = False
    install: list[str] = field(default_factory=list)  # `name` or `name=version`
    remove: list[str] = field(default_factory=list)
    purge: list[str] = field(default_factory=list)
    hold: list[str] = field(default_factory=list)
    unhold: list[str] = field(default_factory=list)
    downgrade: bool = False
    upgrade_held: bool = False
    summary: list[str] = field(default_factory=list)

    @property
    def packages_change(self) -> bool:
        return bool(self.install or self.remove or self.purge or self.hold or self.unhold)


def split_pin(spec: str) -> tuple[str, str | None]:
    """'nginx=1.2*' -> ('nginx', '1.2*'); 'nginx' -> ('nginx', None)."""
    name, _, version = spec.partition("=")
    name = name.strip()
    if not PACKAGE_NAME.match(name):
        raise ModuleFailed(f"apt: {name!r} is not a valid package name")
    return name, (version.strip() or None) if "=" in spec else None


def bare(name: str) -> str:
    return name.split(":", 1)[0]


def parse_dpkg(text: str) -> dict[str, Installed]:
    """`Package\\tStatus\\tVersion` lines from dpkg-query -> {name: Installed}."""
    installed = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, status, version = parts
        words = status.split()
        if len(words) == 3:
            installed[name] = Installed(words[2], version, words[0] == "hold")
    return installed


_VERSION_LINE = re.compile(r"^\s+(?:\*\*\*\s+)?(\S+)\s+-?\d+$")


def parse_policy(text: str) -> dict[str, Available]:
    """apt-cache policy output (LC_ALL=C) -> {name: Available}."""
    available: dict[str, Available] = {}
    current: Available | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = available.setdefault(bare(line[:-1]), Available(None, []))
        elif current is None:
            continue
        elif line.strip().startswith("Candidate:"):
            value = line.split(":", 1)[1].strip()
            current.candidate = None if value == "(none)" else value
        elif line.strip().startswith("Installed:"):
            continue
        else:
            match = _VERSION_LINE.match(line)
            if match:
                current.versions.append(match.group(1))
    return available


def read_command(names: list[str] | None, with_policy: bool) -> str:
    """names None: every package dpkg knows (the one read all apt tasks share)."""
    script = [
        "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
        "s now; date +%s",
        f"s cache; [ -e {CACHE_STAMP} ] && stat -c %Y {CACHE_STAMP}",
        "ls /var/lib/apt/lists/ 2>/dev/null | grep -q _Packages && stat -c %Y /var/lib/apt/lists",
    ]
    if names is None:
        script.append("s dpkg; dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n' 2>/dev/null")
    elif names:
        script.append("s dpkg; dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n' "
                      + join(["--", *names]) + " 2>/dev/null")
    if names and with_policy:
        script.append("s policy; LC_ALL=C apt-cache policy " + join(names) + " 2>/dev/null")
    script.append("s end")
    return "\n".join(script) + "\n"


def parse_state(output: str) -> AptState:
    """The state from a read's output. A fresh AptState each time (Apt.read adds to it), made from
    one parse per distinct output: every apt task of a host gets the same shared read, and parsing
    a whole dpkg database for each of them was the controller's biggest cost after Jinja2."""
    parsed = _parse_state(output)
    return AptState(parsed.now, parsed.cache_time, dict(parsed.installed), dict(parsed.available))


@functools.lru_cache(maxsize=64)
def _parse_state(output: str) -> AptState:
    sections = split_sections(output)
    if "end" not in sections:
        raise ModuleFailed("apt: could not read the package state")
    times = [int(word) for word in sections.get("cache", "").split() if word.isdigit()]
    now = sections.get("now", "0").strip()
    return AptState(
        now=int(now) if now.isdigit() else 0,
        cache_time=max(times) if times else None,
        installed=parse_dpkg(sections.get("dpkg", "")),
        available=parse_policy(sections.get("policy", "")),
    )


@dataclass
class Upgrade:
    """What `upgrade:` would install or upgrade (apt-get's simulation), by package name."""

    packages: list[str]


@dataclass
class DebState:
    """A .deb file's package and version, and the version of that package installed (None: none)."""

    package: str
    version: str
    installed: str | None


def deb_fetch(deb: str) -> str:
    """Shell text leaving the .deb at ./provision.deb in a new temporary folder (the current one)."""
    if deb.startswith(("http://", "https://", "ftp://")):
        get = join(["curl", "-fsSL", "--max-time", "300", "-o", "provision.deb", "--", deb])
    else:
        get = join(["cp", "--", deb, "provision.deb"])
    return f'cd "$(mktemp -d)" && trap \'rm -rf "$PWD"\' EXIT && {get}'


def deb_read_command(deb: str) -> str:
    return ("s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }\n"
            f"( {deb_fetch(deb)} && s deb && dpkg-deb -f provision.deb Package Version && "
            "s installed && dpkg-query -W -f='${db:Status-Abbrev} ${Version}\\n' \"$(dpkg-deb -f provision.deb Package)\" "
            "2>/dev/null; s end ) 2>&1\n")


def parse_deb(result: CommandResult | None, deb: str) -> DebState:
    sections = split_sections(result.stdout if result is not None else "")
    fields = dict(line.split(": ", 1) for line in sections.get("deb", "").splitlines() if ": " in line)
    if "end" not in sections or "Package" not in fields:
        detail = (result.stdout if result is not None else "").strip().splitlines()[-1:] or ["no output"]
        raise ModuleFailed(f"apt: cannot read the package file {deb}: {detail[0][:200]}")
    words = sections.get("installed", "").split()
    installed = words[1] if len(words) >= 2 and words[0].startswith("ii") else None
    return DebState(fields["Package"], fields.get("Version", ""), installed)


class Apt(MayNotChange):
    name = "apt"
    spec = {
        "name": Arg("list", elements="str", aliases=("pkg", "package"),
                    help="packages, each optionally pinned: nvidia-driver=550.*"),
        "state": Arg("str", default="present", choices=("present", "absent", "latest", "installed", "removed")),
        "update_cache": Arg("bool", default=False, aliases=("update-cache",)),
        "cache_valid_time": Arg("int", default=0, help="seconds an index stays fresh enough to skip update_cache"),
        "purge": Arg("bool", default=False, help="absent: remove configuration files too"),
        "autoremove": Arg("bool", default=False),
        "hold": Arg("bool", help="true: apt-mark hold the packages; false: unhold them"),
        "install_recommends": Arg("bool", aliases=("install-recommends",)),
        "allow_downgrade": Arg("bool", default=False, aliases=("allow-downgrade", "allow_downgrades")),
        "default_release": Arg("str", aliases=("default-release",)),
        "dpkg_options": Arg("str", default="force-confdef,force-confold"),
        "lock_timeout": Arg("int", default=120, help="seconds to wait for another apt/dpkg to finish"),
        "deb": Arg("str", help="a .deb on the host, or a URL the host fetches it from (the CUDA keyring...)"),
        "upgrade": Arg("str", choices=("no", "yes", "safe", "full", "dist"),
                       help="upgrade the installed packages: yes/safe (apt-get upgrade --with-new-pkgs), "
                            "full/dist (apt-get dist-upgrade)"),
    }
    mutually_exclusive = (("deb", "name"), ("deb", "upgrade"))

    # ---- read --------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return {"installed": "present", "removed": "absent"}.get(self.args["state"], self.args["state"])

    def wanted(self) -> list[tuple[str, str | None]]:
        return [split_pin(spec) for spec in self.args["name"] or []]

    @property
    def upgrading(self) -> list[str] | None:
        """apt-get's words for `upgrade:`, or None when it asks for no upgrade."""
        return {"yes": ["upgrade", "--with-new-pkgs"], "safe": ["upgrade", "--with-new-pkgs"],
                "full": ["dist-upgrade"], "dist": ["dist-upgrade"]}.get(self.args.get("upgrade") or "no")

    def read_command(self) -> str:
        if self.args.get("deb"):
            return deb_read_command(self.args["deb"])
        if self.upgrading and not self.args["name"]:  # what an upgrade would do, simulated
            return "LC_ALL=C " + join(["apt-get", "-s", "-o", "Debug::NoLocking=1", *self.upgrading]) + " 2>&1\n"
        wanted = self.wanted()
        if self.state == "latest":
            pinned = next((f"{name}={pin}" for name, pin in wanted if pin), None)
            if pinned:
                raise ModuleFailed(f"apt: state=latest cannot be used with a version pin ({pinned})")
            return read_command([name for name, _ in wanted], True)  # candidates are always needed
        return read_command(None, False)

    def parse(self, result: CommandResult | None) -> AptState:
        return parse_state(result.stdout if result is not None else "")

    def read(self) -> AptState | DebState | Upgrade:
        if self.args.get("deb"):
            return parse_deb(self.context.run(self.read_command()), self.args["deb"])
        if self.upgrading and not self.args["name"]:
            result = self.context.run(self.read_command())
            if result.rc != 0:
                raise ModuleFailed(f"apt: the upgrade cannot be planned: {result.stdout.strip()[-500:]}")
            return Upgrade([line.split()[1] for line in result.stdout.splitlines() if line.startswith("Inst ")])
        state = self.parse(self.context.run(self.read_command()))
        needed = [name for name, pin in self.wanted() if bare(name) not in state.available
                  and self._needs_candidates(state.installed.get(bare(name)), pin)]
        if needed:
            extra = self.parse(self.context.run(read_command(needed, True)))
            state.installed.update(extra.installed)
            state.available.update(extra.available)
        return state

    def source_pending(self) -> bool:
        """Check mode, after an earlier task would have added an apt source, key or pin: a package
        apt does not know yet may come from it, which only the real run can tell."""
        return self.context.check and APT_SOURCES in getattr(self.context, "check_pending", ())

    def check_leaves(self) -> set[str]:
        # a package brings files, units and users later tasks may read; a package file may carry
        # an apt source too (cuda-keyring does)
        return {PACKAGES, APT_SOURCES} if self.args.get("deb") else {PACKAGES}

    def _needs_candidates(self, have: Installed | None, pin: str | None) -> bool:
        """Whether planning this package needs apt-cache policy (absent and converged ones do not)."""
        if self.state == "absent":
            return False
        if have is None or not have.present or self.state == "latest":
            return True
        return pin is not None and not fnmatch.fnmatchcase(have.version, pin)

    # ---- plan --------------------------------------------------------------------------------
    def diff(self, current: AptState | DebState) -> AptPlan | DebState | None:
        if isinstance(current, Upgrade):  # a refresh alone is no change: check mode shows only upgrades
            wanted = current.packages or (self.needs_refresh_for_upgrade() and not self.context.check)
            return current if wanted else None
        if isinstance(current, DebState):  # deb: installed unless that version of its package is
            if self.state == "absent":
                raise ModuleFailed("apt: deb installs a package file; remove a package by name (state: absent)")
            return None if current.installed == current.version else current
        return self._package_diff(current)

    def _package_diff(self, current: AptState) -> AptPlan | None:
        self.current = current  # apply reports the index age it did not refresh
        plan = self.plan_packages(current, refresh_pending=self.needs_refresh(current))
        plan.refresh = self.needs_refresh(current)
        return plan if plan.refresh or plan.packages_change else None

    def needs_refresh(self, current: AptState) -> bool:
        if not self.args["update_cache"]:
            return False
        valid = self.args["cache_valid_time"]
        return not valid or current.cache_time is None or current.now - current.cache_time > valid

    def plan_packages(self, current: AptState, refresh_pending: bool) -> AptPlan:
        plan = AptPlan()
        for name, pin in self.wanted():
            key = bare(name)
            have = current.installed.get(key)
            present = have is not None and have.present
            if self.state == "absent":
                if present:
                    (plan.purge if self.args["purge"] else plan.remove).append(name)
                    plan.summary.append(f"{'purge' if self.args['purge'] else 'remove'} {name} {have.version}")
                elif self.args["purge"] and have is not None and have.status == "config-files":
                    plan.purge.append(name)
                    plan.summary.append(f"purge {name} (configuration files)")
                continue
            target = self._target_version(name, pin, have, current, refresh_pending)
            if target is not None:
                version, word = target
                plan.install.append(word)
                if have is not None and have.present:
                    older = self._is_downgrade(key, have.version, version, current)
                    plan.downgrade |= older
                    if older and not self.args["allow_downgrade"]:
                        raise ModuleFailed(f"apt: {name} {have.version} would be downgraded to {version};"
                                           " set allow_downgrade: true to allow it")
                    plan.upgrade_held |= have.held
                    plan.summary.append(f"{'downgrade' if older else 'upgrade'} {name} {have.version} -> {version}")
                else:
                    plan.summary.append(f"install {name} {version}".rstrip())
            held = have is not None and have.held
            if self.args["hold"] is True and not held:
                plan.hold.append(name)
                plan.summary.append(f"hold {name}")
            elif self.args["hold"] is False and held:
                plan.unhold.append(name)
                plan.summary.append(f"unhold {name}")
        return plan

    def _target_version(self, name: str, pin: str | None, have: Installed | None, current: AptState,
                        refresh_pending: bool) -> tuple[str, str] | None:
        """(version, apt-get word) to install, or None when the package is as wanted."""
        key = bare(name)
        present = have is not None and have.present
        available = current.available.get(key)
        if pin:
            if present and fnmatch.fnmatchcase(have.version, pin):
                return None
            matching = [version for version in (available.versions if available else [])
                        if fnmatch.fnmatchcase(version, pin)]
            if matching:
                return matching[0], f"{name}={matching[0]}"
            if refresh_pending:  # the refreshed index may have it; planned again after the refresh
                return f"{pin} (after the cache update)", f"{name}={pin}"
            if self.source_pending():
                return f"{pin} {NOT_YET}", f"{name}={pin}"
            known = ", ".join(available.versions) if available and available.versions else "none"
            raise ModuleFailed(f"apt: no version of {name} matches {pin!r} (available: {known})")
        if available is None or available.candidate is None:
            if present:
                return None
            if refresh_pending:
                return "(after the cache update)", name
            if self.source_pending():
                return NOT_YET, name
            raise ModuleFailed(f"apt: no installation candidate for {name!r}"
                               + ("" if self.args["update_cache"] else " (update_cache: true?)"))
        if not present:
            return available.candidate, name
        if self.state == "latest" and available.candidate != have.version:
            return available.candidate, name
        return None

    @staticmethod
    def _is_downgrade(key: str, installed: str, version: str, current: AptState) -> bool:
        versions = current.available.get(key, Available(None, [])).versions
        if installed in versions and version in versions:
            return versions.index(version) > versions.index(installed)
        return False

    def needs_refresh_for_upgrade(self) -> bool:
        return bool(self.args["update_cache"]) and not self.args["cache_valid_time"]

    def describe(self, current: AptState | DebState | Upgrade, plan: AptPlan | DebState | Upgrade) -> str:
        if isinstance(plan, Upgrade):
            return (f"upgrade {len(plan.packages)} package(s): {' '.join(plan.packages)}" if plan.packages
                    else "update the package index, then upgrade what it offers") + "\n"
        if isinstance(plan, DebState):
            return f"install {plan.package} {plan.version} from {self.args['deb']}" + (
                f" (was {plan.installed})" if plan.installed else "") + "\n"
        lines = (["update the package index"] if plan.refresh else []) + plan.summary
        return "\n".join(lines) + "\n"

    def result_data(self, current: AptState | DebState, plan: AptPlan | None) -> dict[str, Any]:
        if isinstance(current, (DebState, Upgrade)):
            return {"cache_updated": False, "cache_update_time": 0}
        # Ansible's return values: cache_update_time is 0 when the index age is unknown
        data: dict[str, Any] = {"cache_updated": False, "cache_update_time": current.cache_time or 0}
        if plan is not None:
            data["changed"] = plan.packages_change
        return data

    # ---- apply -------------------------------------------------------------------------------
    def apt_get_options(self, plan: AptPlan) -> list[str]:
        options = ["-y", "-q", "-o", f"DPkg::Lock::Timeout={self.args['lock_timeout']}"]
        for option in (self.args["dpkg_options"] or "").split(","):
            if option.strip():
                options += ["-o", f"Dpkg::Options::=--{option.strip()}"]
        if self.args["install_recommends"] is True:
            options.append("--install-recommends")
        elif self.args["install_recommends"] is False:
            options.append("--no-install-recommends")
        if plan.downgrade:
            options.append("--allow-downgrades")
        if plan.upgrade_held or self.args["hold"] is not None:
            options.append("--allow-change-held-packages")
        if self.args["default_release"]:
            options += ["-t", self.args["default_release"]]
        return options

    def commands(self, plan: AptPlan) -> list[str]:
        """The apt commands carrying out a package plan (pure: tests read them as data)."""
        commands = []
        options = self.apt_get_options(plan)
        if plan.unhold:
            commands.append(join(["apt_locked", "apt-mark", "unhold", *plan.unhold]))
        if plan.install:
            commands.append(join(["apt_locked", "apt-get", *options, "install", *plan.install]))
        if plan.remove:
            commands.append(join(["apt_locked", "apt-get", *options, "remove", *plan.remove]))
        if plan.purge:
            commands.append(join(["apt_locked", "apt-get", *options, "purge", *plan.purge]))
        if (plan.remove or plan.purge) and self.args["autoremove"]:
            commands.append(join(["apt_locked", "apt-get", *options, "autoremove"]))
        if plan.hold:
            commands.append(join(["apt_locked", "apt-mark", "hold", *plan.hold]))
        return commands

    def run_apt(self, commands: list[str]) -> tuple[str, str]:
        script = ("export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a\n"
                  f"lock_wait={int(self.args['lock_timeout'])}\n" + LOCK_WAIT + "set -e\n" + "\n".join(commands) + "\n")
        result = self.context.run(script)
        if not result.ok:
            error = result.stderr.strip()
            if re.search(r"Could not get lock|Unable to acquire", error):
                error = f"another process held the dpkg lock for more than {self.args['lock_timeout']}s: " + error
            raise ModuleFailed(f"apt: {error or 'failed'}", {"rc": result.rc, "stdout": result.stdout,
                                                             "stderr": result.stderr})
        return result.stdout, result.stderr

    def apply(self, plan: AptPlan | DebState | Upgrade) -> dict[str, Any]:
        if isinstance(plan, Upgrade):
            commands = [join(["apt_locked", "apt-get", "-q", "update"])] if self.args["update_cache"] else []
            commands.append(join(["apt_locked", "apt-get", *self.apt_get_options(AptPlan()), *self.upgrading]))
            stdout, stderr = self.run_apt(commands)
            upgraded = re.search(r"^(\d+) upgraded, (\d+) newly installed", stdout, re.M)
            changed = bool(upgraded and (int(upgraded.group(1)) or int(upgraded.group(2)))) or bool(plan.packages)
            return {"changed": changed, "stdout": stdout, "stderr": stderr, "stdout_lines": stdout.splitlines(),
                    "msg": f"upgraded {' '.join(plan.packages)}" if plan.packages else ""}
        if isinstance(plan, DebState):
            fetch = deb_fetch(self.args["deb"])
            stdout, stderr = self.run_apt([fetch, join(["apt_locked", "apt-get", *self.apt_get_options(AptPlan()),
                                                         "install", "./provision.deb"])])
            return {"changed": True, "stdout": stdout, "stderr": stderr, "stdout_lines": stdout.splitlines(),
                    "actions": [self.describe(plan, plan).strip()]}
        stdout = stderr = ""
        data: dict[str, Any] = {"cache_updated": False, "cache_update_time": self.current.cache_time or 0}
        if plan.refresh:
            out, err = self.run_apt([
                join(["apt_locked", "apt-get", "-q", "update"]),
                join(["mkdir", "-p", "/var/lib/apt/periodic"]), join(["touch", CACHE_STAMP]),
            ])
            stdout, stderr = out, err
            current = self.read()
            data.update(cache_updated=True, cache_update_time=current.cache_time or 0)
            failures = fetch_failures(out + "\n" + err)
            try:
                plan = self.plan_packages(current, refresh_pending=False)
            except ModuleFailed as error:
                if not failures:
                    raise
                raise ModuleFailed(f"{error}; the cache update could not reach "
                                   + "; ".join(failures), {**data, "fetch_failures": failures}) from None
            if failures:
                data["fetch_failures"] = failures
        if plan.packages_change:
            out, err = self.run_apt(self.commands(plan))
            stdout, stderr = stdout + out, stderr + err
        data.update(changed=plan.packages_change, stdout=stdout, stderr=stderr,
                    stdout_lines=stdout.splitlines(), actions=plan.summary)
        return data
