"""authorized_key: SSH public keys in (or out of) a user's authorized_keys, as Ansible's authorized_key.

One read: the user's home from the passwd database and the file. A key is matched by its type and
base64 blob, so a changed comment or option list is an update of that line, never a second line;
`exclusive` leaves only the given keys. The file is written atomically with the user as owner and
mode 0600, and `manage_dir` makes ~/.ssh (0700, the user's) first, as sshd's StrictModes wants.
The easy thing to get wrong: a key that is not one (a pasted fingerprint, a private key) fails the
task by name instead of being written where it locks nobody in and nobody out.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.modules.remote_file import unified_diff, write_file
from provision.shell import join, quote
from provision.transport.base import CommandResult

KEY_TYPE = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$")


@dataclass(frozen=True)
class Key:
    options: str
    kind: str
    blob: str
    comment: str

    @property
    def line(self) -> str:
        return " ".join(part for part in (self.options, self.kind, self.blob, self.comment) if part)


def parse_key(line: str) -> Key | None:
    """One authorized_keys line (options, type, blob, comment), or None for blanks and comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    words = text.split()
    for index, word in enumerate(words):
        if KEY_TYPE.match(word) and index + 1 < len(words):
            return Key(" ".join(words[:index]), word, words[index + 1], " ".join(words[index + 2:]))
    return None


@dataclass
class Account:
    home: str
    path: str
    text: str | None  # the file, None when absent


class AuthorizedKey(Module):
    name = "authorized_key"
    spec = {
        "user": Arg("str", required=True),
        "key": Arg("str", required=True, help="one key per line (a URL is not fetched: give the keys)"),
        "path": Arg("path", help="default: ~USER/.ssh/authorized_keys"),
        "manage_dir": Arg("bool", default=True),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "exclusive": Arg("bool", default=False),
        "key_options": Arg("str"),
        "comment": Arg("str"),
    }

    def keys(self) -> list[Key]:
        if self.args["key"].strip().startswith(("http://", "https://")):
            raise ModuleFailed("authorized_key: give the keys themselves; provision does not fetch them from a URL")
        keys = []
        for line in self.args["key"].splitlines():
            if not line.strip() or line.strip().startswith("#"):
                continue
            key = parse_key(line)
            if key is None:
                raise ModuleFailed(f"authorized_key: not a public key: {line.strip()[:60]!r}")
            options = self.args["key_options"] if self.args["key_options"] is not None else key.options
            comment = self.args["comment"] if self.args["comment"] is not None else key.comment
            keys.append(Key(options, key.kind, key.blob, comment))
        return keys

    def read_command(self) -> str:
        user = self.args["user"]
        if not user or user.startswith("-") or ":" in user:
            raise ModuleFailed(f"authorized_key: {user!r} is not a user name")
        path = self.args["path"]
        return "\n".join([
            f"u={quote(user)}",
            "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
            'h=$(getent passwd "$u" | cut -d: -f6)',
            's home; printf "%s\\n" "$h"',
            f'f={quote(path)}' if path else 'f="$h/.ssh/authorized_keys"',
            's path; printf "%s\\n" "$f"',
            's file; if [ -n "$h" ] && [ -f "$f" ]; then echo present; cat -- "$f"; fi',
            "s end",
        ]) + "\n"

    def parse(self, result: CommandResult | None) -> Account:
        output = result.stdout if result is not None else ""
        head, _, tail = output.partition("\n@@provision:file@@\n")
        sections = split_sections(head)
        body, found, _ = tail.rpartition("\n@@provision:end@@")
        if not found or not sections.get("home"):
            raise ModuleFailed(f"authorized_key: user {self.args['user']!r} does not exist on the host")
        text = body[len("present\n"):] if body.startswith("present\n") else (None if not body.startswith("present") else "")
        return Account(sections["home"], sections.get("path", ""), text)

    def diff(self, current: Account) -> str | None:
        self.account = current
        wanted = self.keys()
        lines = (current.text or "").splitlines()
        blobs = {(key.kind, key.blob): key for key in wanted}
        kept, seen = [], set()
        for line in lines:
            key = parse_key(line)
            if key is None:  # comments and blank lines stay, unless only the given keys may
                if not self.args["exclusive"]:
                    kept.append(line)
                continue
            match = blobs.get((key.kind, key.blob))
            if match is None:
                if not self.args["exclusive"]:
                    kept.append(line)
            elif self.args["state"] == "present" and (key.kind, key.blob) not in seen:
                kept.append(match.line)
                seen.add((key.kind, key.blob))
        if self.args["state"] == "present":
            kept += [key.line for key in wanted if (key.kind, key.blob) not in seen]
        text = "\n".join(kept) + ("\n" if kept else "")
        return None if text == (current.text or "") and (current.text is not None or not kept) else text

    def describe(self, current: Account, plan: str) -> str:
        return unified_diff(current.text, plan, current.path)

    def apply(self, plan: str) -> dict[str, Any]:
        account = self.account
        user = self.args["user"]
        folder = posixpath.dirname(account.path)
        if self.args["manage_dir"] and not self.args["path"]:
            made = self.context.run(f"[ -d {quote(folder)} ] || {{ {join(['mkdir', '-m', '0700', '--', folder])} && "
                                    f"{join(['chown', user + ':', '--', folder])}; }}")
            if made.rc != 0:
                raise ModuleFailed(f"authorized_key: cannot make {folder}: {made.stderr.strip()}")
        written = write_file(self.context, account.path, plan.encode(), owner=user, mode="0600")
        return {"user": user, "path": account.path, "state": self.args["state"], "exclusive": self.args["exclusive"],
                "key": self.args["key"], "manage_dir": self.args["manage_dir"], "changed": True,
                "checksum": written.get("checksum")}

    def result_data(self, current: Account, plan: str | None) -> dict[str, Any]:
        return {"user": self.args["user"], "path": current.path, "state": self.args["state"],
                "exclusive": self.args["exclusive"], "key": self.args["key"], "manage_dir": self.args["manage_dir"]}
