"""What module tests look at on a sandbox host: a scratch folder per test, and a file's real state.

Everything here goes through the real OpenSSH client (tests.conftest.ssh), never through the
transport under test, so a module cannot vouch for itself.
"""
from __future__ import annotations

import base64
import shlex
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import ssh


@dataclass(frozen=True)
class HostFile:
    """A path as the host sees it. `content` is the exact bytes; `inode` changes on an atomic replace."""

    exists: bool
    content: bytes = b""
    mode: str = ""
    owner: str = ""
    group: str = ""
    inode: int = 0
    kind: str = ""

    @property
    def text(self) -> str:
        return self.content.decode()


class Remote:
    """A scratch folder on one sandbox host (root's, mode 0755) and helpers to look into it."""

    def __init__(self, sandbox, host: str, folder: str):
        self.sandbox = sandbox
        self.host = host
        self.folder = folder

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def sh(self, command: str, user: str = "root") -> str:
        return ssh(self.sandbox, self.host, command, user=user).stdout

    def put(self, name: str, content: bytes | str, mode: str = "0644", owner: str = "root:root") -> str:
        """Create a file with exact bytes; returns its path."""
        data = content.encode() if isinstance(content, str) else content
        path = self.path(name)
        encoded = base64.b64encode(data).decode()
        self.sh(f"printf %s {encoded} | base64 -d > {shlex.quote(path)} && chmod {mode} {shlex.quote(path)}"
                f" && chown {owner} {shlex.quote(path)}")
        return path

    def look(self, path: str) -> HostFile:
        quoted = shlex.quote(path)
        output = self.sh(
            f"if [ -e {quoted} ] || [ -L {quoted} ]; then stat -c '%F|%i|%a|%U|%G' -- {quoted};"
            f" if [ -f {quoted} ]; then base64 -w0 < {quoted}; fi; else echo absent; fi"
        )
        first, _, rest = output.partition("\n")
        if first == "absent":
            return HostFile(False)
        kind, inode, mode, owner, group = first.split("|")
        return HostFile(True, base64.b64decode(rest.strip()), mode.rjust(4, "0"), owner, group, int(inode), kind)

    def listing(self, folder: str | None = None) -> list[str]:
        """Every name in the folder, hidden ones too (a leftover temp file shows here)."""
        return sorted(self.sh(f"ls -A {shlex.quote(folder or self.folder)}").split())


@pytest.fixture
def remote(sandbox):
    """A fresh scratch folder on host01, removed afterwards."""
    folder = f"/srv/provision-test-{uuid.uuid4().hex[:10]}"
    ssh(sandbox, "host01", f"mkdir -p {folder} && chmod 0755 {folder}")
    yield Remote(sandbox, "host01", folder)
    ssh(sandbox, "host01", f"rm -rf {folder}", check=False)
