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
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from provision.modules.base import Arg, ModuleFailed
from provision.modules.outcome import MayNotChange
from provision.modules.remote_file import (
    FileState,
    attribute_changes,
    attribute_command,
    attribute_data,
    describe_attributes,
    desired_mode,
    split_after,
    then_read,
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
        its attributes, its checksum in the `checksum` algorithm and its sha1 (Ansible's
        checksum_dest)."""
        algorithm, _ = self.expected()
        sums = f'{algorithm}sum < "$f" | cut -d" " -f1'
        if algorithm != "sha1":
            sums += '; sha1sum < "$f" | cut -d" " -f1'
        return (
            f"d={quote(self.args['dest'])}; b={quote(self.file_name())}\n"
            'if [ -d "$d" ]; then f="$d/$b"; else f="$d"; fi\n'
            'echo "$f"\n'
            'if [ -f "$f" ]; then stat -c "%a %u %g %U %G %s" -- "$f" || exit 1; '
            f'{sums}; else echo absent; fi\n'
        )

    def parse(self, result: CommandResult | None) -> tuple[FileState, str]:
        """(the destination's state with its sha1 as checksum, its digest in `checksum`'s algorithm)."""
        lines = result.stdout.splitlines() if result is not None else []
        if result is None or not result.ok or len(lines) < 2:
            stderr = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"get_url: cannot read {self.args['dest']}: {stderr}")
        path = lines[0]
        if lines[1] == "absent":
            return FileState(path, "absent"), ""
        fields = lines[1].split()
        if len(fields) < 5 or not fields[1].isdigit() or not fields[2].isdigit():
            raise ModuleFailed(f"get_url: cannot read {path}: unexpected output {result.stdout[:120]!r}")
        mode, uid, gid, owner, group, *size = fields
        digest = lines[2].strip() if len(lines) > 2 else ""
        state = FileState(path, "file", mode.rjust(4, "0"), int(uid), int(gid), owner, group,
                          int(size[0]) if size else 0)
        state.checksum = lines[3].strip() if len(lines) > 3 else digest
        return state, digest

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
        """Unchanged (or check mode): Ansible's keys for the file as it is; no request was made,
        so no status_code or checksum_src."""
        state, _ = current
        data: dict[str, Any] = {"dest": state.path, "url": self.args["url"]}
        if state.exists:
            data.update(checksum_dest=state.checksum, **attribute_data(state))
            if plan is None:
                data["msg"] = "file already exists"
        return data

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
        # curl says the HTTP status (Ansible's status_code); wget is only a fallback and does not
        fetch = (f'if command -v curl >/dev/null 2>&1; then code=$({join(curl)} -w "%{{http_code}}" -o "$tmp" {quote(url)});'
                 ' got=$?; echo "status_code=$code"; [ "$got" = 0 ]; '
                 f'else {join(wget)} -O "$tmp" {quote(url)}; fi')
        mode = self.args["mode"]
        return "\n".join([
            f"f={quote(dest)}",
            'tmp=$(mktemp "$(dirname "$f")/.provision-XXXXXX") || exit 1',
            "trap 'rm -f \"$tmp\"' EXIT",
            fetch + ' || { echo "download failed" >&2; exit 1; }',
            f'sum=$({algorithm}sum < "$tmp" | cut -d" " -f1); echo "checksum=$sum"',
            'echo "checksum_src=$(sha1sum < "$tmp" | cut -d" " -f1)"',
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
        """Ansible's keys: dest, url, msg, status_code (curl), checksum_src (sha1 of what came),
        elapsed (whole seconds of the download), checksum_dest and the file's attributes after."""
        data: dict[str, Any] = {"dest": plan.dest, "url": self.args["url"]}
        written = False
        if plan.download:
            started = time.monotonic()
            command = then_read(self.download_command(plan.dest), plan.dest)
            result = self.context.run(command, timeout=self.args["timeout"] + 60)
            data["elapsed"] = int(time.monotonic() - started)
            own, after = split_after(plan.dest, result.stdout)
            values = dict(line.split("=", 1) for line in own.splitlines() if "=" in line)
            if values.get("status_code", "").isdigit() and values["status_code"] != "000":
                data["status_code"] = int(values["status_code"])
            if not result.ok:
                raise ModuleFailed(f"get_url: {self.args['url']}: {result.stderr.strip() or 'failed'}",
                                   {"rc": result.rc, **data})
            if "checksum_src" in values:
                data["checksum_src"] = values["checksum_src"]
            written = "written" in own.split()
            if "same" in own.split() and "checksum_src" in data:
                data["checksum_dest"] = data["checksum_src"]  # dest holds exactly these bytes
            if after is not None and not plan.attributes:
                data.update(checksum_dest=after.checksum, **attribute_data(after))
                data["msg"] = f"OK ({after.size} bytes)"
        if plan.attributes and not written:
            result = self.context.run(then_read(attribute_command(plan.dest, plan.attributes), plan.dest))
            if not result.ok:
                raise ModuleFailed(f"get_url: {plan.dest}: {result.stderr.strip()}")
            _, after = split_after(plan.dest, result.stdout)
            if after is not None:
                data.update(checksum_dest=after.checksum, **attribute_data(after))
        data["changed"] = written or bool(plan.attributes)
        return data
