"""rpm_key: a GPG key in (or out of) the RPM database, as Ansible's rpm_key: RHEL-family hosts trust
a vendor repository (CUDA, the NVIDIA container toolkit) through it.

One read on the host: the key (a URL fetched with curl, or a file on the host) is looked at with
`gpg --show-keys`, and `rpm -q gpg-pubkey` lists the keys rpm has; a key is in when its short id
(the last 8 hex digits, lower case, rpm's `gpg-pubkey-<id>` version) is listed. `fingerprint`
refuses a key that is not the one expected, before anything is imported.
"""
from __future__ import annotations

import re
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote
from provision.transport.base import CommandResult

KEY_ID = re.compile(r"^(0x)?[0-9A-Fa-f]{8,40}$")


class RpmKey(Module):
    name = "rpm_key"
    spec = {
        "key": Arg("str", required=True, help="a URL, a key file on the host, or a key id (state: absent)"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "fingerprint": Arg("list", elements="str"),
        "validate_certs": Arg("bool", default=True),
    }

    def read_command(self) -> str:
        key = self.args["key"]
        script = ["s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
                  "s installed; rpm -q gpg-pubkey --qf '%{VERSION}\\n' 2>/dev/null"]
        if not KEY_ID.match(key):
            fetch = (join(["curl", "-fsSL", *([] if self.args["validate_certs"] else ["-k"]), "--", key])
                     if key.startswith(("http://", "https://")) else join(["cat", "--", key]))
            # a throwaway home: reading the key must not make ~/.gnupg (check mode writes nothing)
            script.append("g=$(mktemp -d) && trap 'rm -rf \"$g\"' EXIT")
            script.append(f"s key; {fetch} 2>/dev/null | gpg --homedir \"$g\" --batch --with-colons --show-keys 2>/dev/null "
                          "| grep -E '^(pub|fpr):'")
        script.append("s end")
        return "\n".join(script) + "\n"

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            raise ModuleFailed(f"rpm_key: cannot read the keys: {(result.stderr if result else '').strip() or 'no output'}")
        installed = {line.strip().lower() for line in sections.get("installed", "").splitlines() if line.strip()}
        key_id, fingerprints = None, []
        if KEY_ID.match(self.args["key"]):
            key_id = self.args["key"].lower().removeprefix("0x")[-8:]
        else:
            for line in sections.get("key", "").splitlines():
                fields = line.split(":")
                if fields[0] == "pub" and len(fields) > 4 and key_id is None:
                    key_id = fields[4][-8:].lower()
                elif fields[0] == "fpr" and len(fields) > 9:
                    fingerprints.append(fields[9].upper())
            if key_id is None:
                raise ModuleFailed(f"rpm_key: {self.args['key']} is not a readable GPG key (could not fetch or read it)")
        return {"installed": installed, "key_id": key_id, "fingerprints": fingerprints}

    def diff(self, current: dict[str, Any]) -> list[str] | None:
        wanted = [value.replace(" ", "").upper() for value in self.args["fingerprint"] or []]
        missing = [value for value in wanted if value not in current["fingerprints"]]
        if wanted and missing and self.args["state"] == "present":
            raise ModuleFailed(f"rpm_key: the key's fingerprint is not {', '.join(missing)} "
                               f"(it has {', '.join(current['fingerprints']) or 'none'})")
        there = current["key_id"] in current["installed"]
        if self.args["state"] == "present" and not there:
            return ["rpm", "--import", self.args["key"]]
        if self.args["state"] == "absent" and there:
            return ["rpm", "--erase", "--allmatches", f"gpg-pubkey-{current['key_id']}"]
        return None

    def describe(self, current: dict[str, Any], plan: list[str]) -> str:
        return f"{'import' if plan[1] == '--import' else 'remove'} key {current['key_id']}\n"

    def apply(self, plan: list[str]) -> dict[str, Any]:
        result = self.context.run(join(plan) if plan[1] == "--erase" else
                                  f"{join(plan[:2])} {quote(plan[2])}")
        if result.rc != 0:
            raise ModuleFailed(f"rpm_key: {' '.join(plan)} failed (rc={result.rc}): {result.stderr.strip()}")
        return {}
