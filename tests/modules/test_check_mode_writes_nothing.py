"""Check mode writes nothing on a host, for EVERY module: each one runs in check mode, with arguments
that would change the host, against one real sandbox host; then one `find` proves that no file
changed (content, metadata or a folder's entries) since a marker made before the first module, and
the packages, services, kernel settings and boot id read the same as before.

A module added to the registry without a case here fails the walk (test_every_module_has_a_case).
Where the plain host lacks what a module needs (Docker and GPUs, an RPM host, systemd, an apt
repository), its arguments make it read and decide without it, or its case says why the module
fails here; the walk still proves it wrote nothing before failing. No case is skipped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from provision.modules import MODULES
from provision.templating import Templar
from tests.conftest import run_module, ssh

WALK = "/srv/check-walk"  # a prefix no path on the host has: every path a case names is new
MARKER = "/root/.check-walk-marker"
# What the host itself changes while the walk runs, whatever the modules do: the marker, and /run
# (a tmpfs: -xdev stays out of it, but its mount point's time moves as sshd logs sessions in).
# /tmp: a read may use a private temporary folder or file it removes (gpg's throwaway home for a
# key's fingerprint, unarchive's archive for tar --diff): made and gone, nothing left.
OS_TOUCHES = (MARKER, "/run", "/tmp")


@dataclass(frozen=True)
class Case:
    args: dict[str, Any]
    # what the module says in check mode; "failed" only with the reason the plain host makes it fail
    status: str
    why_it_fails: str = ""


CASES: dict[str, Case] = {
    "apt": Case({"name": ["cowsay"], "state": "present", "update_cache": True}, "changed"),
    "apt_repository": Case({"name": "walk", "repo": "deb [trusted=yes] http://127.0.0.1:9/ stable main"}, "changed"),
    "assert": Case({"that": ["1 + 1 == 2"]}, "ok"),
    "async_status": Case({"jid": "j1.1"}, "failed", "no such job on the host: Ansible's 'could not find job'"),
    "blockinfile": Case({"path": "/etc/motd", "block": "managed by the walk"}, "changed"),
    "command": Case({"_raw_params": f"touch {WALK}-command"}, "skipped"),
    "copy": Case({"dest": f"{WALK}-copy", "content": "new\n", "mode": "0600"}, "changed"),
    "debug": Case({"msg": "hello"}, "ok"),
    "dnf": Case({"name": ["nvidia-driver"]}, "changed"),  # no rpm on Debian: nothing installed, it would install
    "fail": Case({"msg": "as asked"}, "failed", "fail always fails, in check mode too"),
    "file": Case({"path": f"{WALK}-folder", "state": "directory"}, "changed"),
    "get_url": Case({"url": "http://127.0.0.1:9/file", "dest": f"{WALK}-download"}, "changed"),
    "gpu_driver_facts": Case({"packages": ["nvidia-open"]}, "ok"),
    "gpu_image_check": Case({"image": "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "cuda_version": "12.8",
                             "arch_list": ["sm_90"], "gpus": []}, "ok"),
    "gpu_preflight": Case({"require_gpu": False, "min_free_gb": 0}, "ok"),
    "gpu_verify": Case({"image": "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "require_gpu": False}, "failed",
                       "no Docker on the plain host: the container cannot start (its check-mode writes are "
                       "data in tests/verify/test_module.py)"),
    "json_merge": Case({"path": f"{WALK}-daemon.json", "keys": {"runtimes": {"nvidia": {}}}, "create": True},
                       "changed"),
    "lineinfile": Case({"path": "/etc/hosts", "line": "10.9.9.9 walk"}, "changed"),
    "modprobe": Case({"name": "dummy", "persistent": "present"}, "changed"),
    "ping": Case({}, "ok"),
    "reboot": Case({}, "changed"),
    "service": Case({"name": "ssh", "state": "restarted"}, "changed"),
    "set_fact": Case({"walked": True}, "ok"),
    "setup": Case({}, "ok"),
    "shell": Case({"_raw_params": f"echo x > {WALK}-shell"}, "skipped"),
    "stat": Case({"path": "/etc/hostname"}, "ok"),
    "sysctl": Case({"name": "net.ipv4.ip_forward", "value": "1", "sysctl_set": True}, "changed"),
    "systemd": Case({"name": "ssh", "state": "restarted", "daemon_reload": True}, "changed"),
    "template": Case({"src": "walk.j2", "dest": f"{WALK}-rendered.conf"}, "changed"),
    "user": Case({"name": "walker", "groups": ["adm"], "shell": "/bin/sh"}, "changed"),
    "authorized_key": Case({"user": "root", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsab"
                                                          "gH5C9okWi0dh2l9GKJl walk@test"}, "changed"),
    "kernel_blacklist": Case({"name": "walkmod", "blacklist_file": f"{WALK}-blacklist.conf"}, "changed"),
    "apt_key": Case({"url": "http://127.0.0.1:9/key"}, "failed",
                    "nothing answers on that port: there is no key to read"),
    "fetch": Case({"src": "/etc/hostname", "dest": "/tmp/provision-walk-fetch-never"}, "changed"),
    "unarchive": Case({"src": "http://127.0.0.1:9/tool.tar.gz", "dest": "/opt", "remote_src": True}, "changed"),
    "find": Case({"paths": ["/etc"], "patterns": ["*.conf"]}, "ok"),
    "getent": Case({"database": "passwd", "key": "root"}, "ok"),
    "group": Case({"name": "walkgroup"}, "changed"),
    "hostname": Case({"name": "walk-host.example"}, "changed"),
    "include_vars": Case({"file": "walk-vars.yaml"}, "ok"),
    "package": Case({"name": ["cowsay"]}, "failed",
                    "the plain host has no package lists: no installation candidate, as apt itself would say"),
    "pause": Case({"seconds": 0}, "ok"),
    "raw": Case({"_raw_params": f"touch {WALK}-raw"}, "skipped"),
    "script": Case({"_raw_params": "walk.j2 arg"}, "skipped"),
    "replace": Case({"path": "/etc/hosts", "regexp": "localhost", "replace": "walkhost"}, "changed"),
    "service_facts": Case({}, "ok"),
    "timezone": Case({"name": "Europe/Berlin"}, "changed"),
    "tempfile": Case({}, "skipped"),
    "wait_for_connection": Case({"timeout": 5}, "ok"),
    "yum": Case({"name": ["nvidia-driver"]}, "changed"),
    "yum_repository": Case({"name": "walk", "description": "Walk", "baseurl": "http://127.0.0.1:9/repo",
                            "reposdir": f"{WALK}-repos"}, "changed"),
    "rpm_key": Case({"key": "http://127.0.0.1:9/key"}, "failed",
                    "nothing answers on that port: the key cannot be fetched to know its id"),
    "wait_for": Case({"path": f"{WALK}-never", "timeout": 1}, "skipped"),
}

# Read before and after the walk: what a module could change without a file newer than the marker.
STATE = ("dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n'; apt-mark showhold; "
         "service --status-all 2>&1; cat /run/sshd.pid; cat /proc/sys/net/ipv4/ip_forward; "
         "cat /proc/sys/kernel/random/boot_id")


def test_every_module_has_a_case():
    assert sorted(MODULES) == sorted(CASES), "a module without a check-mode case (or a case without a module)"


@pytest.mark.sandbox
def test_check_mode_writes_nothing_for_every_module(fresh_host, sandbox, module_context, tmp_path):
    (tmp_path / "walk.j2").write_text("value={{ 1 + 1 }}\n")
    (tmp_path / "walk-vars.yaml").write_text("walked: true\n")
    templar = Templar({"inventory_hostname": "host01"})
    context = module_context("host01", check=True, search_dirs=[str(tmp_path)], render_text=templar.render_text,
                             evaluate_expression=templar.evaluate,
                             facts={"ansible_distribution": "Debian", "ansible_distribution_version": "12",
                                    "ansible_pkg_mgr": "apt"})
    # overlayfs marks a folder it first looks into (an xattr, so a new ctime): one walk before the
    # marker, so the walk after it sees only what the modules changed
    # and its first write into a lower folder copies that folder up, a new entry in / : /tmp is
    # copied up now, so the modules' temporary files there (OS_TOUCHES) do not touch /
    ssh(sandbox, "host01", "find / -xdev >/dev/null 2>&1; t=$(mktemp) && rm -f \"$t\"; true")
    before = ssh(sandbox, "host01", STATE).stdout
    ssh(sandbox, "host01", f"touch {MARKER}")
    time.sleep(0.05)  # a file written in the marker's own tick would not be newer than it

    outcomes = {name: run_module(name, case.args, context) for name, case in CASES.items()}

    excluded = " ".join(f"! -path {path}" for path in OS_TOUCHES)
    written = ssh(sandbox, "host01", f"find / -xdev \\( -newer {MARKER} -o -cnewer {MARKER} \\) {excluded}"
                                     " 2>/dev/null; true").stdout.split()
    assert written == [], f"check mode wrote on the host: {written}"
    assert ssh(sandbox, "host01", STATE).stdout == before, "packages, services, sysctl or boot id changed"
    said = {name: (result.status, result.msg) for name, result in outcomes.items()}
    assert {name: status for name, (status, _) in said.items()} == \
        {name: case.status for name, case in CASES.items()}, said
