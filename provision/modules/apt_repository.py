"""apt_repository: an apt source with its own signing key (a vendor repository: CUDA, Docker...).

Writes /etc/apt/sources.list.d/NAME.sources (deb822, from `uris`/`suites`/`components`) or
NAME.list (from a one-line `repo`), with `Signed-By` pointing at a keyring under /etc/apt/keyrings
that only this source trusts. The key comes from a local file (`key_src`), inline text
(`key_content`) or a URL fetched on the host (`key_url`). One round trip reads the source file,
the keyring's checksum and, for `key_url`, the checksum of what the URL serves now; everything is
written atomically and the package index is refreshed after a change.

The easy thing to get wrong: apt reads an ASCII-armored key only from a `.asc` file and a binary
one only from `.gpg`; the keyring's extension follows the key's form.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from provision.facts import split_sections
from provision.modules.apt import LOCK_WAIT, fetch_failures
from provision.modules.base import APT_SOURCES, Arg, Module, ModuleFailed
from provision.modules.remote_file import unified_diff, write_file
from provision.shell import join, quote
from provision.transport.base import CommandResult

NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
LIST_LINE = re.compile(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)\s*$")
ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


@dataclass
class RepoState:
    text: str | None  # the source file, None when absent
    keyring_sum: str | None  # sha256 of the keyring, None when absent
    url_sum: str | None  # sha256 of what key_url serves now


@dataclass
class RepoPlan:
    text: str | None  # new source file; None: remove it (when `remove_source`)
    write_source: bool
    remove_source: bool = False
    key: str = ""  # "", "write", "fetch", "remove"


def list_line(repo: str, keyring: str | None) -> str:
    """A one-line source with signed-by added to its options (unless it names one already)."""
    match = LIST_LINE.match(repo.strip())
    if not match:
        raise ModuleFailed(f"apt_repository: {repo!r} is not a source line (deb [options] URI SUITE [COMPONENT...])")
    kind, options, uri, suite, components = match.groups()
    words = (options or "").split()
    if keyring and not any(word.startswith("signed-by=") for word in words):
        words.insert(0, f"signed-by={keyring}")
    bracket = f"[{' '.join(words)}] " if words else ""
    return f"{kind} {bracket}{uri} {suite}{' ' + ' '.join(components.split()) if components.strip() else ''}\n"


def deb822(fields: dict[str, Any]) -> str:
    lines = []
    for key, value in fields.items():
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append(f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}")
    return "\n".join(lines) + "\n"


class AptRepository(Module):
    name = "apt_repository"
    spec = {
        "name": Arg("str", aliases=("filename",),
                    help="file name under sources.list.d, no extension (default: from repo, as Ansible names it)"),
        "repo": Arg("str", help="one-line source: deb [arch=amd64] URI SUITE COMPONENT..."),
        "uris": Arg("list", elements="str"),
        "suites": Arg("list", elements="str"),
        "components": Arg("list", elements="str"),
        "types": Arg("list", elements="str", default=["deb"]),
        "architectures": Arg("list", elements="str"),
        "options": Arg("dict", default={}, help="more deb822 fields (Trusted: yes, Languages: none...)"),
        "key_src": Arg("path", help="local key file (role files/ searched)"),
        "key_content": Arg("str", help="the key itself, armored"),
        "key_url": Arg("str", help="a URL the host fetches the key from"),
        "keyring": Arg("path", help="default /etc/apt/keyrings/NAME.asc (or .gpg for a binary key)"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "update_cache": Arg("bool", default=True),
        "mode": Arg("str", default="0644"),
        "lock_timeout": Arg("int", default=120),
    }

    # One key source at most (the check that read() did by hand). Ansible's apt_repository and
    # deb822_repository declare no rules across these arguments: they have no key_src/key_url pair.
    mutually_exclusive = (("key_src", "key_content", "key_url"),)

    def check_leaves(self) -> set[str]:
        return {APT_SOURCES}  # a source line: a later apt task's package may come from it

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_args(args)
        if not checked["name"] and not checked["repo"]:
            raise ModuleFailed("apt_repository: give name (the file) or repo")
        return checked

    def expanded_repo(self) -> str | None:
        """`ppa:OWNER/NAME` as the line Launchpad serves it for this host's release, anything else as given."""
        repo = self.args["repo"]
        if repo and repo.startswith("ppa:"):
            owner, _, name = repo[len("ppa:"):].partition("/")
            codename = self.context.facts.get("ansible_distribution_release")
            if not owner or not codename:
                raise ModuleFailed(f"apt_repository: {repo} needs the host's release (gather facts)")
            return f"deb https://ppa.launchpadcontent.net/{owner}/{name or 'ppa'}/ubuntu {codename} main"
        return repo

    @property
    def file_name(self) -> str:
        """`name`, else Ansible's name for the repo's file: its URL without scheme, options or
        credentials, every run of other characters made one '_'."""
        if self.args["name"]:
            return self.args["name"]
        line = re.sub(r"\[[^\]]+\]", "", self.expanded_repo() or "")
        line = re.sub(r"\w+://", "", line)
        parts = [part for part in line.split() if part not in ("deb", "deb-src")]
        if not parts:
            raise ModuleFailed(f"apt_repository: cannot name a file for {self.args['repo']!r} (give name)")
        return "_".join(re.sub(r"[^a-zA-Z0-9]", " ", parts[0].rpartition("@")[2]).split())

    # ---- what is wanted ----------------------------------------------------------------------
    @property
    def key(self) -> bytes | None:
        """The key's bytes when they come from the controller (key_src, key_content); read once."""
        if not hasattr(self, "_key"):
            self._key = self.key_bytes()
        return self._key

    def key_bytes(self) -> bytes | None:
        if self.args["key_src"]:
            with open(self.context.find_file("files", self.args["key_src"]), "rb") as handle:
                return handle.read()
        if self.args["key_content"]:
            return self.args["key_content"].encode()
        return None

    def keyring(self) -> str | None:
        if self.args["keyring"]:
            return self.args["keyring"]
        if not (self.args["key_src"] or self.args["key_content"] or self.args["key_url"]):
            return None
        key = self.key
        armored = key.lstrip().startswith(ARMOR) if key is not None else not self.args["key_url"].endswith(".gpg")
        return f"/etc/apt/keyrings/{self.file_name}.{'asc' if armored else 'gpg'}"

    def source_path(self) -> str:
        extension = "list" if self.args["repo"] else "sources"
        return f"/etc/apt/sources.list.d/{self.file_name}.{extension}"

    def source_text(self) -> str:
        keyring = self.keyring()
        if self.args["repo"]:
            return list_line(self.expanded_repo() or "", keyring)
        if not self.args["uris"] or not self.args["suites"]:
            raise ModuleFailed("apt_repository: give repo (one line) or uris and suites (deb822)")
        fields: dict[str, Any] = {
            "Types": self.args["types"], "URIs": self.args["uris"], "Suites": self.args["suites"],
            "Components": self.args["components"], "Architectures": self.args["architectures"],
            "Signed-By": keyring,
        }
        fields.update({key: value for key, value in self.args["options"].items()})
        return deb822(fields)

    # ---- read --------------------------------------------------------------------------------
    def read_command(self) -> str:
        if not NAME.match(self.file_name):
            raise ModuleFailed(f"apt_repository: {self.file_name!r} is not a valid file name")
        if self.args["state"] == "present":
            self.source_text()  # a source that cannot be written fails before the host is asked
        source, keyring = self.source_path(), self.keyring()
        script = ["s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }"]
        if keyring:
            script.append(f"s keyring; [ -f {quote(keyring)} ] && sha256sum < {quote(keyring)} | cut -d' ' -f1")
        if self.args["key_url"] and self.args["state"] == "present":
            script.append(f"s url; t=$(mktemp); if curl -fsSL --max-time 30 -o \"$t\" {quote(self.args['key_url'])};"
                          ' then sha256sum < "$t" | cut -d" " -f1; else echo failed; fi; rm -f "$t"')
        script.append(f"s exists; [ -f {quote(source)} ] && echo yes")
        script.append(f"s source; [ ! -f {quote(source)} ] || cat {quote(source)}")
        return "\n".join(script) + "\n"

    def parse(self, result: CommandResult | None) -> RepoState:
        marker = "\n@@provision:source@@\n"
        if result is None or marker not in result.stdout:
            error = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"apt_repository: cannot read {self.source_path()}: {error}")
        head, text = result.stdout.split(marker, 1)
        sections = split_sections(head)
        url_sum = sections.get("url", "").split()
        if "failed" in url_sum:
            raise ModuleFailed(f"apt_repository: the host could not fetch the key from {self.args['key_url']}")
        return RepoState(text if sections.get("exists") == "yes" else None,
                         sections.get("keyring") or None, url_sum[0] if url_sum else None)

    def diff(self, current: RepoState) -> RepoPlan | None:
        self.current = current  # apply reports whether the source file was added
        if self.args["state"] == "absent":
            plan = RepoPlan(None, False, remove_source=current.text is not None,
                            key="remove" if current.keyring_sum and self.keyring() else "")
            return plan if plan.remove_source or plan.key else None
        text = self.source_text()
        key = ""
        if self.key is not None and current.keyring_sum != hashlib.sha256(self.key).hexdigest():
            key = "write"
        elif self.args["key_url"] and current.keyring_sum != current.url_sum:
            key = "fetch"
        plan = RepoPlan(text, current.text != text, key=key)
        return plan if plan.write_source or plan.key else None

    def describe(self, current: RepoState, plan: RepoPlan) -> str:
        text = ""
        if plan.write_source or plan.remove_source:
            text += unified_diff(current.text, plan.text, self.source_path())
        if plan.key:
            verb = {"write": "write", "fetch": f"fetch {self.args['key_url']} into", "remove": "remove"}[plan.key]
            text += f"{verb} keyring {self.keyring()}\n"
        return text

    def result_data(self, current: RepoState, plan: RepoPlan | None) -> dict[str, Any]:
        return self.returns(current.text is None, plan)

    def returns(self, source_was_absent: bool, plan: RepoPlan | None) -> dict[str, Any]:
        """Register data: provision's own keys and Ansible's (repo, state, sources_added/removed)."""
        source = self.source_path()
        added = plan is not None and plan.write_source and source_was_absent
        return {"sources_file": source, "keyring": self.keyring(), "state": self.args["state"],
                # the one-line source as given (apt_repository), else the deb822 text (deb822_repository)
                "repo": self.args["repo"] or (self.source_text() if self.args["uris"] and self.args["suites"] else None),
                "sources_added": [source] if added else [],
                "sources_removed": [source] if plan is not None and plan.remove_source else []}

    # ---- apply -------------------------------------------------------------------------------
    def apply(self, plan: RepoPlan) -> dict[str, Any]:
        keyring, source = self.keyring(), self.source_path()
        data = {**self.returns(self.current.text is None, plan), "cache_updated": False}
        mode = self.args["mode"]
        if plan.key in ("write", "fetch"):
            self._run(join(["mkdir", "-p", "-m", "0755", "--", posixpath.dirname(keyring)]), "create the keyring folder")
        if plan.key == "write":
            write_file(self.context, keyring, self.key, mode=mode)
        elif plan.key == "fetch":
            self._run("\n".join([
                f"k={quote(keyring)}",
                'tmp=$(mktemp "$(dirname "$k")/.provision-XXXXXX") || exit 1',
                "trap 'rm -f \"$tmp\"' EXIT",
                f'curl -fsSL --max-time 30 -o "$tmp" {quote(self.args["key_url"])} || exit 1',
                join(["chmod", mode, "--"]) + ' "$tmp" && mv -f -- "$tmp" "$k"',
            ]), f"fetch the key from {self.args['key_url']}")
        if plan.write_source:
            write_file(self.context, source, plan.text.encode(), mode=mode)
        if plan.remove_source:
            self._run(join(["rm", "-f", "--", source]), f"remove {source}")
        if plan.key == "remove":
            self._run(join(["rm", "-f", "--", keyring]), f"remove {keyring}")
        if self.args["update_cache"]:
            update = (f"lock_wait={int(self.args['lock_timeout'])}\n" + LOCK_WAIT
                      + "apt_locked apt-get -q update\n")
            result = self.context.run(update)
            output = result.stdout + "\n" + result.stderr
            if not result.ok or re.search(r"^(W|E): .*(GPG error|NO_PUBKEY|not signed)", output, re.M):
                raise ModuleFailed(f"apt_repository: {source} was written, but apt-get update failed: "
                                   f"{(result.stderr.strip() or result.stdout.strip())[-1500:]}", data)
            # apt-get update only warns about a repository it cannot reach: this one must be reached
            ours = [failure for failure in fetch_failures(output) if self._serves(failure)]
            if ours:
                raise ModuleFailed(f"apt_repository: {source} was written, but the repository is unreachable: "
                                   + "; ".join(ours), data)
            data["cache_updated"] = True
        return data

    def _serves(self, failure: str) -> bool:
        """Whether a 'URL: reason' fetch failure is about one of this task's repository URIs."""
        uris = list(self.args["uris"] or [])
        if self.args["repo"]:
            uris += [word for word in str(self.args["repo"]).split() if "://" in word]
        return any(failure.startswith(uri.rstrip("/") + "/") for uri in uris)

    def _run(self, command: str, what: str) -> None:
        result = self.context.run(command)
        if not result.ok:
            raise ModuleFailed(f"apt_repository: could not {what}: {result.stderr.strip()}")
