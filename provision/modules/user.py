"""user: a local account present with the wanted uid, groups, shell, home and password, or absent.

Ansible's `user` module on Linux, done with shadow-utils (useradd, usermod, userdel) as Ansible
does. One round trip reads the passwd entry, the groups the account is in, whether the groups the
task names exist, and the shadow hash only when a password is managed, so a converged account costs
no more than a read of the batch. The easy things to get wrong, each as Ansible does them:
- `groups` without `append: true` is the exact list of supplementary groups (the primary group is
  never counted among them); with `append` only the missing ones are added;
- a new account whose name is already a group's name joins that group (`useradd -g NAME`), since
  Debian's useradd would refuse to make a user group of the same name;
- `password` is a crypted hash compared as it is, and `update_password: on_create` leaves an
  existing account's password alone;
- a group the task names that does not exist fails the task before anything runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote
from provision.transport.base import CommandResult


@dataclass(frozen=True)
class Account:
    """A passwd entry (None fields when the account does not exist)."""

    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str


@dataclass
class UserState:
    account: Account | None
    primary: str = ""  # the primary group's name
    groups: list[str] = field(default_factory=list)  # supplementary groups, primary excluded
    password: str | None = None  # the shadow hash, read only when a password is managed
    known_groups: set[str] = field(default_factory=set)  # of the groups the task names, those that exist


@dataclass
class UserPlan:
    argv: list[str]
    changes: list[tuple[str, str, str]]  # (what, before, after) for the diff
    generate_key: bool = False  # generate_ssh_key and the key file is not there yet


@dataclass(frozen=True)
class SshKey:
    """The account's key file as the host has it (generate_ssh_key): path, fingerprint, public key."""

    path: str
    exists: bool = False
    fingerprint: str = ""
    public: str = ""


class User(Module):
    name = "user"
    spec = {
        "name": Arg("str", required=True, aliases=("user",)),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "uid": Arg("int"),
        "non_unique": Arg("bool", default=False, help="allow a uid another account has"),
        "group": Arg("str", help="primary group (name or gid)"),
        "groups": Arg("list", elements="str", help="supplementary groups"),
        "append": Arg("bool", default=False, help="add to `groups` instead of setting them exactly"),
        "comment": Arg("str"),
        "home": Arg("path"),
        "move_home": Arg("bool", default=False),
        "create_home": Arg("bool", default=True, aliases=("createhome",)),
        "shell": Arg("path"),
        "system": Arg("bool", default=False),
        "password": Arg("str", no_log=True, help="the crypted hash, as in /etc/shadow"),
        "update_password": Arg("str", default="always", choices=("always", "on_create")),
        "password_lock": Arg("bool"),
        "remove": Arg("bool", default=False, help="absent: remove the home folder and mail spool too"),
        "force": Arg("bool", default=False, help="absent: remove even while the user is logged in"),
        "generate_ssh_key": Arg("bool", default=False, help="an SSH key pair for the account, made once (ssh-keygen)"),
        "ssh_key_type": Arg("str", default="rsa"),
        "ssh_key_bits": Arg("int", default=0, help="0: ssh-keygen's default for the type"),
        "ssh_key_file": Arg("path", help="default .ssh/id_TYPE, relative to the account's home"),
        "ssh_key_comment": Arg("str", help="default 'ansible-generated on HOSTNAME', as Ansible's"),
    }

    # ---- read --------------------------------------------------------------------------------
    def named_groups(self) -> list[str]:
        names = list(self.args["groups"] or [])
        if self.args["group"] is not None:
            names.append(self.args["group"])
        return [name for name in names if name]

    def read_command(self) -> str:
        name = self.args["name"]
        if not name or name.startswith("-") or ":" in name or any(char.isspace() for char in name):
            raise ModuleFailed(f"user: {name!r} is not a valid user name")
        script = [
            f"n={quote(name)}",
            "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
            's passwd; getent passwd "$n"',
            's primary; id -gn "$n" 2>/dev/null',
            's groups; id -Gn "$n" 2>/dev/null',
            # a group named like the user (useradd would refuse to create it again)
            's namesake; getent group "$n" >/dev/null && echo yes',
        ]
        named = self.named_groups()
        if named:
            script.append(f"s known; for g in {join(named)}; do getent group \"$g\" | cut -d: -f1,3; done")
        if self.args["password"] is not None or self.args["password_lock"] is not None:
            script.append('s shadow; getent shadow "$n" | cut -d: -f2')
        if self.args["generate_ssh_key"]:
            script.append(f"s sshkey; {self._key_path()}; echo \"$k\"; [ -e \"$k\" ] && {{ echo exists; "
                          'ssh-keygen -l -f "$k" 2>&1 | head -n 1; cat "$k.pub" 2>/dev/null; }')
        script.append("s end")
        return "\n".join(script) + "\n"

    def parse(self, result: CommandResult | None) -> UserState:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            error = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"user: cannot read the account: {error or 'no output'}")
        account = None
        fields = sections.get("passwd", "").split(":")
        if len(fields) >= 7 and fields[2].isdigit() and fields[3].isdigit():
            account = Account(fields[0], int(fields[2]), int(fields[3]), fields[4], fields[5], fields[6])
        primary = sections.get("primary", "")
        known = set()
        for line in sections.get("known", "").splitlines():
            group_name, _, gid = line.partition(":")
            known.update({group_name, gid})
        shadow = sections.get("shadow")
        state = UserState(account, primary, [group for group in sections.get("groups", "").split() if group != primary],
                          shadow if shadow is not None and account is not None else None, known)
        self.namesake = sections.get("namesake") == "yes"
        key = sections.get("sshkey", "").splitlines() + ["", "", "", ""]
        path = key[0] if account is not None else self.args["ssh_key_file"] or f".ssh/id_{self.args['ssh_key_type']}"
        self.key = SshKey(path, key[1] == "exists", key[2] if key[1] else "", key[3] if key[1] else "")
        return state

    def _key_path(self) -> str:
        """Shell setting $k to the key file: ssh_key_file (default .ssh/id_TYPE) from the home of
        the account ($n), as Ansible resolves it."""
        name = self.args["ssh_key_file"] or f".ssh/id_{self.args['ssh_key_type']}"
        return (f'k={quote(name)}; h=$(getent passwd "$n" | cut -d: -f6); '
                'case $k in /*) ;; *) k="$h/$k";; esac')

    def _key_command(self) -> str:
        """Make the key pair as Ansible's user module does: the folder 0700 and both files the
        account's, no passphrase, the comment 'ansible-generated on HOSTNAME' unless given."""
        args = self.args
        comment = quote(args["ssh_key_comment"]) if args["ssh_key_comment"] is not None else \
            '"ansible-generated on $(hostname)"'
        bits = f"-b {int(args['ssh_key_bits'])} " if args["ssh_key_bits"] else ""
        return (f"n={quote(args['name'])}; {self._key_path()}; o=$(id -u \"$n\"):$(id -g \"$n\") || exit 1; "
                'd=$(dirname "$k"); '
                'if [ ! -d "$d" ]; then mkdir -p "$d" && chmod 700 "$d" && chown "$o" "$d" || exit 1; fi; '
                f"ssh-keygen -q -t {quote(args['ssh_key_type'])} {bits}-C {comment} -N '' -f \"$k\" </dev/null "
                '&& chown "$o" "$k" "$k.pub"')

    # ---- plan --------------------------------------------------------------------------------
    def diff(self, current: UserState) -> UserPlan | None:
        self.current = current
        args = self.args
        if args["state"] == "absent":
            if current.account is None:
                return None
            argv = ["userdel", *(["-r"] if args["remove"] else []), *(["-f"] if args["force"] else []), args["name"]]
            return UserPlan(argv, [("state", "present", "absent")])
        missing = [group for group in self.named_groups() if group not in current.known_groups]
        if missing:
            raise ModuleFailed(f"user: group{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                               f"do{'' if len(missing) > 1 else 'es'} not exist on the host")
        plan = self._create() if current.account is None else self._modify(current)
        if self.args["generate_ssh_key"] and not self.key.exists:
            plan = plan or UserPlan([], [])
            plan.generate_key = True
            key = self.args["ssh_key_file"] or f".ssh/id_{self.args['ssh_key_type']}"
            plan.changes.append(("ssh_key_file", "(none)", key if current.account is None else self.key.path))
        return plan

    def _create(self) -> UserPlan:
        args = self.args
        argv = ["useradd"]
        if args["uid"] is not None:
            argv += ["-u", str(args["uid"])] + (["-o"] if args["non_unique"] else [])
        if args["group"] is not None:
            argv += ["-g", args["group"]]
        elif self.namesake:
            argv += ["-g", args["name"]]
        if args["groups"]:
            argv += ["-G", ",".join(args["groups"])]
        if args["comment"] is not None:
            argv += ["-c", args["comment"]]
        if args["home"] is not None:
            argv += ["-d", args["home"]]
        if args["shell"] is not None:
            argv += ["-s", args["shell"]]
        if args["password"] is not None:
            argv += ["-p", args["password"]]
        if args["system"]:
            argv.append("-r")
        argv.append("-m" if args["create_home"] else "-M")
        argv.append(args["name"])
        return UserPlan(argv, [("state", "absent", "present")])

    def _modify(self, current: UserState) -> UserPlan | None:
        args, account = self.args, current.account
        assert account is not None
        argv: list[str] = []
        changes: list[tuple[str, str, str]] = []

        def wanted(option: str, what: str, have: Any, want: Any) -> None:
            if want is not None and str(want) != str(have):
                argv.extend([option, str(want)])
                changes.append((what, str(have), str(want)))

        wanted("-u", "uid", account.uid, args["uid"])
        if args["uid"] is not None and args["non_unique"] and "-u" in argv:
            argv.append("-o")
        group = args["group"]
        if group is not None and group not in (current.primary, str(account.gid)):
            argv += ["-g", group]
            changes.append(("group", current.primary, group))
        if args["groups"] is not None:
            have = set(current.groups)
            wanted_groups = [name for name in args["groups"] if name not in (current.primary, group)]
            if args["append"]:
                if not set(wanted_groups) <= have:
                    argv += ["-a", "-G", ",".join(wanted_groups)]
                    changes.append(("groups", ",".join(current.groups), ",".join(sorted(have | set(wanted_groups)))))
            elif set(wanted_groups) != have:
                argv += ["-G", ",".join(wanted_groups)]
                changes.append(("groups", ",".join(current.groups), ",".join(wanted_groups)))
        wanted("-c", "comment", account.comment, args["comment"])
        if args["home"] is not None and args["home"] != account.home:
            argv += ["-d", args["home"]] + (["-m"] if args["move_home"] else [])
            changes.append(("home", account.home, args["home"]))
        wanted("-s", "shell", account.shell, args["shell"])
        if (args["password"] is not None and args["update_password"] == "always"
                and current.password is not None and args["password"] != current.password.lstrip("!")):
            argv += ["-p", args["password"]]
            changes.append(("password", "(hidden)", "(changed)"))
        if args["password_lock"] is not None and current.password is not None:
            locked = current.password.startswith("!")
            if args["password_lock"] and not locked:
                argv.append("-L")
                changes.append(("password_lock", "false", "true"))
            elif not args["password_lock"] and locked:
                argv.append("-U")
                changes.append(("password_lock", "true", "false"))
        if not argv:
            return None
        return UserPlan(["usermod", *argv, args["name"]], changes)

    # ---- apply -------------------------------------------------------------------------------
    def apply(self, plan: UserPlan) -> dict[str, Any]:
        result = self.context.run(join(plan.argv)) if plan.argv else CommandResult(0, "", "")
        if result.rc == 0 and plan.generate_key:
            made = self.context.run(self._key_command())
            if made.rc != 0:
                raise ModuleFailed(f"user: ssh-keygen failed (rc={made.rc}): {(made.stderr or made.stdout).strip()}",
                                   {"rc": made.rc})
        if result.rc != 0:
            # the password hash never reaches a message
            shown = ["********" if index and plan.argv[index - 1] == "-p" else word
                     for index, word in enumerate(plan.argv)]
            raise ModuleFailed(f"user: {' '.join(shown)} failed (rc={result.rc}): "
                               f"{(result.stderr or result.stdout).strip()}", {"rc": result.rc})
        return self.result_data(self.read(), None)

    def describe(self, current: UserState, plan: UserPlan) -> str:
        before = "".join(f"{what}: {old}\n" for what, old, _ in plan.changes)
        after = "".join(f"{what}: {new}\n" for what, _, new in plan.changes)
        return f"--- before: user {self.args['name']}\n+++ after: user {self.args['name']}\n" + "".join(
            f"-{line}\n" for line in before.splitlines()) + "".join(f"+{line}\n" for line in after.splitlines())

    def result_data(self, current: UserState, plan: UserPlan | None) -> dict[str, Any]:
        """Ansible's keys: for an existing account its uid, group (gid), groups, home, shell, comment."""
        data: dict[str, Any] = {"name": self.args["name"], "state": self.args["state"],
                                "append": self.args["append"], "move_home": self.args["move_home"]}
        account = current.account
        if account is not None and self.args["state"] == "present":
            data.update(uid=account.uid, group=account.gid, groups=",".join(current.groups),
                        home=account.home, shell=account.shell, comment=account.comment,
                        system=self.args["system"], create_home=self.args["create_home"])
        elif self.args["state"] == "absent":
            data.update(force=self.args["force"], remove=self.args["remove"])
        if self.args["generate_ssh_key"] and self.args["state"] == "present" and getattr(self, "key", None):
            data.update(ssh_key_file=self.key.path, ssh_fingerprint=self.key.fingerprint,
                        ssh_public_key=self.key.public or None)
        return data
