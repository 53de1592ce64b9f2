"""apt_key: a signing key apt trusts for every source, or not, as Ansible's apt_key.

apt-key is gone from current Debian and Ubuntu, so the key goes where apt reads trusted keys itself:
`/etc/apt/trusted.gpg.d/<KEYID>.asc` (or the `keyring` given). One read on the host lists the
fingerprints of every trusted keyring (`/etc/apt/trusted.gpg`, `trusted.gpg.d/`) with gpg, and,
for `url`/`file`/`data`, the key's own; a key already trusted is left alone. `state: absent`
removes the file that holds only that key, or deletes the key from a shared keyring. `id` (8 or 16
hex digits, or the fingerprint) is compared on its last digits, as apt-key did.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from provision.facts import split_sections
from provision.modules.base import APT_SOURCES, Arg, Module, ModuleFailed
from provision.modules.remote_file import write_file
from provision.shell import join, quote
from provision.transport.base import CommandResult

KEY_ID = re.compile(r"^(0x)?[0-9A-Fa-f]{8,40}$")
ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


@dataclass
class Trusted:
    keyrings: dict[str, list[str]] = field(default_factory=dict)  # file -> fingerprints
    key: list[str] = field(default_factory=list)  # fingerprints of the key given (url/file/data)
    key_text: str = ""  # the key itself, armored, as fetched (url/file)

    def holding(self, wanted: str) -> list[str]:
        return [path for path, prints in self.keyrings.items() if any(fpr.endswith(wanted) for fpr in prints)]


class AptKey(Module):
    name = "apt_key"
    spec = {
        "id": Arg("str"),
        "url": Arg("str"),
        "file": Arg("path", help="a key file on the host"),
        "data": Arg("str", help="the key itself"),
        "keyring": Arg("path", help="default /etc/apt/trusted.gpg.d/KEYID.asc"),
        "keyserver": Arg("str"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "validate_certs": Arg("bool", default=True),
    }
    mutually_exclusive = (("url", "file", "data", "keyserver"),)

    def check_leaves(self) -> set[str]:
        return {APT_SOURCES}  # a trusted key: a later apt task's package may come from it

    def wanted_id(self) -> str | None:
        key_id = self.args["id"]
        if key_id is None:
            return None
        if not KEY_ID.match(key_id):
            raise ModuleFailed(f"apt_key: id {key_id!r} is not a key id (8 or 16 hex digits, or a fingerprint)")
        return key_id.upper().removeprefix("0X")

    def read_command(self) -> str:
        if self.args["keyserver"]:
            raise ModuleFailed("apt_key: keyserver is not supported (give url, file or data)")
        if self.args["state"] == "present" and not (self.args["url"] or self.args["file"] or self.args["data"]):
            raise ModuleFailed("apt_key: state present needs url, file or data")
        if self.args["state"] == "absent" and not self.wanted_id():
            raise ModuleFailed("apt_key: state absent needs id")
        # a throwaway home: reading keys must not make ~/.gnupg (check mode writes nothing)
        # k FILE: the fingerprints of the keys in FILE. The file must be gpg's input, not the
        # pipeline's last command's: `k` keeps the redirection on gpg.
        script = ["s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
                  "k() { gpg --homedir \"$g\" --batch --with-colons --show-keys < \"$1\" 2>/dev/null"
                  " | grep '^fpr:' | cut -d: -f10; }",
                  "g=$(mktemp -d) && trap 'rm -rf \"$g\"' EXIT",
                  "for f in /etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/*.gpg /etc/apt/trusted.gpg.d/*.asc"
                  + (f" {quote(self.args['keyring'])}" if self.args["keyring"] else "") + "; do "
                  '[ -f "$f" ] || continue; s "ring:$f"; k "$f"; done']
        if self.args["url"]:
            fetch = join(["curl", "-fsSL", *([] if self.args["validate_certs"] else ["-k"]), "--", self.args["url"]])
            script.append(f"t=$(mktemp); {fetch} > \"$t\" 2>/dev/null; s key; k \"$t\"; s text; cat \"$t\"; rm -f \"$t\"")
        elif self.args["file"]:
            script.append(f"s key; k {quote(self.args['file'])}; s text; cat -- {quote(self.args['file'])}")
        script.append("s end")
        return "\n".join(script) + "\n"

    def parse(self, result: CommandResult | None) -> Trusted:
        output = result.stdout if result is not None else ""
        head, _, text = output.partition("\n@@provision:text@@\n")
        sections = split_sections(head if text else output)
        if "end" not in sections and not text:
            raise ModuleFailed(f"apt_key: cannot read apt's keys: {(result.stderr if result else '').strip()}")
        trusted = Trusted()
        for name, body in sections.items():
            if name.startswith("ring:"):
                trusted.keyrings[name[len("ring:"):]] = [line.strip().upper() for line in body.splitlines() if line.strip()]
        trusted.key = [line.strip().upper() for line in sections.get("key", "").splitlines() if line.strip()]
        trusted.key_text = text.rpartition("\n@@provision:end@@")[0]
        if self.args["data"]:
            trusted.key_text = self.args["data"]
        return trusted

    def diff(self, current: Trusted) -> dict[str, Any] | None:
        wanted = self.wanted_id()
        if self.args["state"] == "absent":
            holders = current.holding(wanted or "")
            return {"remove": holders, "id": wanted} if holders else None
        if (self.args["url"] or self.args["file"]) and not current.key:
            raise ModuleFailed(f"apt_key: {self.args['url'] or self.args['file']} is not a readable GPG key")
        if wanted and current.key and not any(fpr.endswith(wanted) for fpr in current.key):
            raise ModuleFailed(f"apt_key: the key given is not {wanted} (it is {', '.join(current.key)})")
        key_id = wanted or (current.key[0] if current.key else None)
        if key_id and current.holding(key_id) and (not self.args["keyring"]
                                                    or self.args["keyring"] in current.holding(key_id)):
            return None
        if not current.key_text.strip():
            raise ModuleFailed("apt_key: no key text to install")
        armored = current.key_text.lstrip().startswith(ARMOR)
        name = (key_id or "key")[-16:]
        path = self.args["keyring"] or f"/etc/apt/trusted.gpg.d/{name}.{'asc' if armored else 'gpg'}"
        return {"write": path, "text": current.key_text, "id": key_id}

    def describe(self, current: Trusted, plan: dict[str, Any]) -> str:
        if "remove" in plan:
            return "".join(f"remove key {plan['id']} from {path}\n" for path in plan["remove"])
        return f"trust key {plan['id']} in {plan['write']}\n"

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        if "write" in plan:
            written = write_file(self.context, plan["write"], plan["text"].encode(), mode="0644")
            return {"id": plan["id"], "keyring": plan["write"], "checksum": written.get("checksum")}
        for path in plan["remove"]:
            if path.startswith("/etc/apt/trusted.gpg.d/") or path == self.args["keyring"]:
                command = join(["rm", "-f", "--", path])
            else:  # a shared keyring: only this key goes
                command = join(["gpg", "--batch", "--yes", "--no-default-keyring", "--keyring", path,
                                "--delete-keys", plan["id"]])
            result = self.context.run(command)
            if result.rc != 0:
                raise ModuleFailed(f"apt_key: cannot remove key {plan['id']} from {path}: {result.stderr.strip()}")
        return {"id": plan["id"], "removed_from": plan["remove"]}
