"""get_url: a file downloaded on the host (curl, or wget) to dest, verified by checksum, atomically.

One round trip reads the destination's checksum and attributes. A file that is there is not
fetched again unless `checksum` says it is wrong or `force` is set; a forced download that turns
out identical leaves the file alone and reports ok. The download goes to a temp file next to dest,
is checked, then renamed, so dest is never half-written. The easy thing to get wrong: without
`checksum`, an existing file is trusted as it is (like Ansible); give a checksum to pin content.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from provision.modules.base import Arg, ModuleFailed
from provision.modules.outcome import MayNotChange
from provision.modules.remote_file import (
    FileState,
    attribute_changes,
    attribute_command,
    describe_attributes,
    desired_mode,
)
from provision.shell import join, quote
from provision.transport.base import CommandResult

ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")


@dataclass
class UrlPlan:
    dest: str
    download: bool
    attributes: dict[str, str] = field(default_factory=dict)
    reason: str = ""


class GetUrl(MayNotChange):
    name = "get_url"
    spec = {
        "url": Arg("str", required=True),
        "dest": Arg("path", required=True, help="a file, or a folder to put the URL's file name in"),
        "checksum": Arg("str", help="ALGORITHM:HEX, e.g. sha256:9f86d0..."),
        "force": Arg("bool", default=False, help="download even when dest exists (changed only if it differs)"),
        "mode": Arg("raw"),
        "owner": Arg("str"),
        "group": Arg("str"),
        "timeout": Arg("int", default=10, help="seconds for the whole download"),
        "headers": Arg("dict", default={}),
        "validate_certs": Arg("bool", default=True),
    }

    # ---- arguments ---------------------------------------------------------------------------
    def expected(self) -> tuple[str, str]:
        """(algorithm, hex digest or '') from `checksum`."""
        checksum = (self.args["checksum"] or "").strip()
        if not checksum:
            return "sha256", ""
        algorithm, _, digest = checksum.partition(":")
        algorithm = algorithm.lower()
        if algorithm not in ALGORITHMS or not re.fullmatch(r"[0-9a-fA-F]+", digest):
            raise ModuleFailed(f"get_url: checksum must be ALGORITHM:HEX with one of {', '.join(ALGORITHMS)}")
        return algorithm, digest.lower()

    def check_url(self) -> str:
        url = self.args["url"]
        if urlparse(url).scheme not in ("http", "https", "ftp", "file"):
            raise ModuleFailed(f"get_url: {url!r} is not an http, https, ftp or file URL")
        return url

    def file_name(self) -> str:
        return posixpath.basename(urlparse(self.check_url()).path) or "index.html"

    # ---- read --------------------------------------------------------------------------------
    def read_command(self) -> str | None:
        """The path a download would write (dest, or the URL's file name inside a folder dest),
        its attributes and its checksum in the `checksum` algorithm."""
        algorithm, _ = self.expected()
        return (
            f"d={quote(self.args['dest'])}; b={quote(self.file_name())}\n"
            'if [ -d "$d" ]; then f="$d/$b"; else f="$d"; fi\n'
            'echo "$f"\n'
            'if [ -f "$f" ]; then stat -c "%a %u %g %U %G %s" -- "$f" || exit 1; '
            f'{algorithm}sum < "$f" | cut -d" " -f1; else echo absent; fi\n'
        )

    def parse(self, result: CommandResult | None) -> tuple[FileState, str]:
        lines = result.stdout.splitlines() if result is not None else []
        if result is None or not result.ok or len(lines) < 2:
            stderr = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"get_url: cannot read {self.args['dest']}: {stderr}")
        path = lines[0]
        if lines[1] == "absent":
            return FileState(path, "absent"), ""
        mode, uid, gid, owner, group, *size = lines[1].split()
        state = FileState(path, "file", mode.rjust(4, "0"), int(uid), int(gid), owner, group,
                          int(size[0]) if size else 0)
        return state, lines[2].strip() if len(lines) > 2 else ""

    def diff(self, current: tuple[FileState, str]) -> UrlPlan | None:
        state, digest = current
        _, wanted = self.expected()
        if not state.exists:
            return UrlPlan(state.path, True, reason=f"download {self.args['url']} to {state.path}")
        if wanted and digest != wanted:
            return UrlPlan(state.path, True, reason=f"{state.path} has checksum {digest}, want {wanted}: download")
        attributes = attribute_changes(state, self.args["owner"], self.args["group"], self.args["mode"])
        if self.args["force"] and not wanted:
            return UrlPlan(state.path, True, attributes, reason=f"download {self.args['url']} again (force)")
        if attributes:
            return UrlPlan(state.path, False, attributes, reason=describe_attributes(state, attributes).rstrip())
        return None

    def describe(self, current: tuple[FileState, str], plan: UrlPlan) -> str:
        return plan.reason + "\n"

    def result_data(self, current: tuple[FileState, str], plan: UrlPlan | None) -> dict[str, Any]:
        state, digest = current
        return {"dest": state.path, "url": self.args["url"], "checksum_dest": digest}

    # ---- apply -------------------------------------------------------------------------------
    def download_command(self, dest: str) -> str:
        algorithm, wanted = self.expected()
        url = self.check_url()
        curl = ["curl", "-fsSL", "--max-time", str(self.args["timeout"])]
        wget = ["wget", "-q", "-T", str(self.args["timeout"])]
        if not self.args["validate_certs"]:
            curl.append("--insecure")
            wget.append("--no-check-certificate")
        for key, value in (self.args["headers"] or {}).items():
            curl += ["-H", f"{key}: {value}"]
            wget.append(f"--header={key}: {value}")
        fetch = (f'if command -v curl >/dev/null 2>&1; then {join(curl)} -o "$tmp" {quote(url)}; '
                 f'else {join(wget)} -O "$tmp" {quote(url)}; fi')
        mode = self.args["mode"]
        return "\n".join([
            f"f={quote(dest)}",
            'tmp=$(mktemp "$(dirname "$f")/.provision-XXXXXX") || exit 1',
            "trap 'rm -f \"$tmp\"' EXIT",
            fetch + ' || { echo "download failed" >&2; exit 1; }',
            f'sum=$({algorithm}sum < "$tmp" | cut -d" " -f1); echo "checksum=$sum"',
            f"want={quote(wanted)}",
            '[ -z "$want" ] || [ "$sum" = "$want" ] || { echo "checksum mismatch: expected $want, got $sum" >&2; exit 2; }',
            'if [ -f "$f" ] && cmp -s "$tmp" "$f"; then echo same; exit 0; fi',
            'if [ -e "$f" ]; then chmod --reference="$f" "$tmp"; chown --reference="$f" "$tmp" 2>/dev/null; '
            'else chmod "$(printf %o $(( 0666 & ~$(umask) )))" "$tmp"; fi',
            (join(["chmod", desired_mode(mode) or "0644", "--"]) + ' "$tmp" || exit 1') if mode is not None else "",
            self._chown() + ' "$tmp" || exit 1' if (self.args["owner"] or self.args["group"]) else "",
            'mv -f -- "$tmp" "$f" || exit 1',
            "echo written",
        ]) + "\n"

    def _chown(self) -> str:
        who = (self.args["owner"] or "") + (f":{self.args['group']}" if self.args["group"] else "")
        return join(["chown", who, "--"])

    def apply(self, plan: UrlPlan) -> dict[str, Any]:
        data: dict[str, Any] = {"dest": plan.dest, "url": self.args["url"]}
        written = False
        if plan.download:
            result = self.context.run(self.download_command(plan.dest), timeout=self.args["timeout"] + 60)
            if not result.ok:
                raise ModuleFailed(f"get_url: {self.args['url']}: {result.stderr.strip() or 'failed'}", {"rc": result.rc})
            for line in result.stdout.splitlines():
                if line.startswith("checksum="):
                    data["checksum_dest"] = line.removeprefix("checksum=")
            written = "written" in result.stdout.split()
        if plan.attributes and not written:
            result = self.context.run(attribute_command(plan.dest, plan.attributes))
            if not result.ok:
                raise ModuleFailed(f"get_url: {plan.dest}: {result.stderr.strip()}")
        data["changed"] = written or bool(plan.attributes)
        return data
