"""group, package/yum, getent, service_facts, replace, tempfile, raw, include_vars, pause and
wait_for_connection as data: given what the host answers, expect these commands and Ansible's
registered keys (fake host, or this machine for what runs on the controller)."""
from __future__ import annotations

import os
import time

import pytest

from provision.modules.replace import replaced
from provision.modules.service_facts import parse_services
from provision.modules.context import TaskContext
from provision.templating import Templar
from provision.transport.base import CommandResult
from provision.transport.local import LocalTransport
from tests.conftest import run_module
from tests.modules.systemhost import ok, run_on


def group_entry(line=""):
    return f"\n@@provision:group@@\n{line}\n@@provision:end@@\n"


@pytest.mark.parametrize("args, line, command", [
    ({"name": "gpu"}, "", "groupadd gpu"),
    ({"name": "gpu", "gid": 990, "system": True}, "", "groupadd -g 990 -r gpu"),
    ({"name": "gpu"}, "gpu:x:990:alice", None),
    ({"name": "gpu", "gid": 991}, "gpu:x:990:", "groupmod -g 991 gpu"),
    ({"name": "gpu", "state": "absent"}, "gpu:x:990:", "groupdel gpu"),
    ({"name": "gpu", "state": "absent"}, "", None),
])
def test_group_commands(args, line, command):
    result, host = run_on("group", args, [("s group;", ok(group_entry(line)))])
    assert result.status == ("changed" if command else "ok"), result.msg
    assert host.actions()[:1] == ([command] if command else [])
    if line and args.get("state") != "absent" and not command:
        assert result.data == {"name": "gpu", "state": "present", "gid": 990, "system": False}


def test_package_runs_the_hosts_own_module():
    dpkg = "\n@@provision:now@@\n1\n@@provision:cache@@\n\n@@provision:dpkg@@\ncurl\tinstall ok installed\t7.88\n@@provision:end@@\n"
    result, host = run_on("package", {"name": "curl"}, [("s now", ok(dpkg))], facts={"ansible_pkg_mgr": "apt"})
    assert result.status == "ok" and "dpkg-query" in host.commands[0] and len(host.commands) == 1
    refused, nothing = run_on("package", {"name": "curl"}, [], facts={"ansible_pkg_mgr": "zypper"})
    assert refused.status == "failed" and "package manager is 'zypper'" in refused.msg and nothing.commands == []
    forced, used = run_on("package", {"name": "curl", "use": "dnf"}, [], facts={"ansible_pkg_mgr": "apt"})
    assert "rpm" in used.commands[0]


def test_getent_facts_and_missing_keys():
    passwd = "root:x:0:0:root:/root:/bin/bash\n@@rc=0\n"
    result, _ = run_on("getent", {"database": "passwd", "key": "root"}, [("getent", ok(passwd))])
    assert result.status == "ok"
    assert result.data["ansible_facts"] == {"getent_passwd": {"root": ["x", "0", "0", "root", "/root", "/bin/bash"]}}
    missing, _ = run_on("getent", {"database": "passwd", "key": "nobody2"}, [("getent", ok("@@rc=2\n"))])
    assert missing.status == "failed" and "could not be found" in missing.msg
    tolerated, _ = run_on("getent", {"database": "passwd", "key": "nobody2", "fail_key": False},
                          [("getent", ok("@@rc=2\n"))])
    assert tolerated.status == "ok" and tolerated.data["ansible_facts"] == {"getent_passwd": {"nobody2": None}}
    hosts, _ = run_on("getent", {"database": "hosts"}, [("getent", ok("127.0.0.1   localhost a\n@@rc=0\n"))])
    assert hosts.data["ansible_facts"]["getent_hosts"] == {"127.0.0.1": ["localhost", "a"]}


def test_service_facts_from_systemd_and_sysv():
    systemd = parse_services({
        "units": "ssh.service loaded active running OpenBSD Secure Shell server\n"
                 "cron.service loaded inactive dead Regular background program processing daemon",
        "files": "ssh.service enabled enabled\ncron.service disabled enabled\nx.service static -"})
    assert systemd["ssh.service"] == {"name": "ssh.service", "state": "running", "status": "enabled", "source": "systemd"}
    assert systemd["cron.service"]["state"] == "stopped" and systemd["x.service"]["status"] == "static"
    sysv = parse_services({"sysv": " [ + ]  ssh\n [ - ]  procps\n [ ? ]  hwclock.sh"})
    assert {name: entry["state"] for name, entry in sysv.items()} == {"ssh": "running", "procps": "stopped",
                                                                      "hwclock.sh": "unknown"}


def test_replace_between_markers_with_backreferences():
    text = "a=1\n# begin\nb=2\nc=3\n# end\nb=9\n"
    assert replaced(text, r"^(\w)=(\d)$", r"\1: \2", "# begin", "# end") == (
        "a=1\n# begin\nb: 2\nc: 3\n# end\nb=9\n", 2)
    assert replaced(text, "zzz", "y", None, None) == (text, 0)


def test_tempfile_is_skipped_in_check_mode_and_raw_runs_the_text_as_written():
    checked, host = run_on("tempfile", {"state": "directory"}, [], check=True)
    assert checked.status == "skipped" and host.commands == []
    made, host = run_on("tempfile", {"state": "directory", "suffix": ".build"},
                        [("mktemp", ok("/tmp/ansible.Ab12Cd34Ef.build\n"))])
    assert made.data == {"path": "/tmp/ansible.Ab12Cd34Ef.build", "state": "directory"}
    assert host.commands[0] == "mktemp -d -p \"${TMPDIR:-/tmp}\" ansible.XXXXXXXXXX.build"
    raw, host = run_on("raw", {"_raw_params": "echo $HOME | tr a-z A-Z"}, [("echo", ok("/ROOT\n"))])
    assert raw.status == "changed" and raw.data["stdout"] == "/ROOT" and "| tr a-z A-Z" in host.commands[0]


def test_include_vars_finds_the_file_in_vars_and_renders_it(tmp_path):
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "cuda.yaml").write_text("cuda_version: '12.4'\npackages: '{{ base + [\"cuda\"] }}'\n"
                                                 "label: 'v{{ cuda_major }}'\n")
    templar = Templar({"base": ["gcc"], "cuda_major": 12})
    context = TaskContext(LocalTransport(), search_dirs=[str(tmp_path)], render_text=templar.render_text,
                          evaluate_expression=templar.evaluate)
    result = run_module("include_vars", {"_raw_params": "cuda.yaml"}, context)
    assert result.status == "ok", result.msg
    assert result.data["ansible_facts"] == {"cuda_version": "12.4", "packages": ["gcc", "cuda"], "label": "v12"}
    named = run_module("include_vars", {"file": "cuda.yaml", "name": "cuda"}, context)
    assert list(named.data["ansible_facts"]) == ["cuda"]
    missing = run_module("include_vars", {"file": "nope.yaml"}, context)
    assert missing.status == "failed" and "could not find var 'nope.yaml'" in missing.msg


def test_pause_and_wait_for_connection_on_this_machine():
    context = TaskContext(LocalTransport())
    started = time.monotonic()
    paused = run_module("pause", {"seconds": 0.3}, context)
    assert paused.status == "ok" and time.monotonic() - started >= 0.3 and paused.data["user_input"] == ""
    assert run_module("wait_for_connection", {"timeout": 5}, context).data == {"elapsed": 0}


def test_wait_for_connection_times_out_with_the_reason():
    _, host = run_on("ping", {}, [])
    host.answers = [("true", CommandResult(1, "", ""))]
    result = run_module("wait_for_connection", {"timeout": 0.5, "sleep": 0.2}, host)
    assert result.status == "failed" and result.msg.startswith("timed out waiting for connection")


def test_yum_repository_writes_ansibles_repo_file_and_keeps_other_sections():
    from provision.modules.yum_repository import edited

    cuda = {"name": "CUDA", "baseurl": "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64",
            "enabled": "1", "gpgcheck": "1"}
    assert edited("", "cuda", cuda) == (
        "[cuda]\nbaseurl = https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64\n"
        "enabled = 1\ngpgcheck = 1\nname = CUDA\n")
    both = edited("[other]\nname = Other\nbaseurl = http://x\n", "cuda", cuda)
    assert both.startswith("[other]\nname = Other\nbaseurl = http://x\n\n[cuda]\n")
    assert edited(both, "cuda", None) == "[other]\nname = Other\nbaseurl = http://x\n"
    assert edited(edited("", "cuda", cuda), "cuda", None) == ""


def test_yum_repository_as_a_task():
    from tests.modules.filehost import host, on_host, run

    context = host(on_host("absent"), check=True)
    result = run("yum_repository", {"name": "nvidia-container-toolkit", "description": "NVIDIA Container Toolkit",
                                    "baseurl": "https://nvidia.github.io/libnvidia-container/stable/rpm/$basearch",
                                    "gpgcheck": False, "repo_gpgcheck": True,
                                    "gpgkey": ["https://nvidia.github.io/libnvidia-container/gpgkey"]}, context)
    assert result.status == "changed" and "+gpgcheck = 0" in result.diff and "+repo_gpgcheck = 1" in result.diff
    assert "/etc/yum.repos.d/nvidia-container-toolkit.repo" in result.diff and context.writes == []
    refused = run("yum_repository", {"name": "x", "description": "X"}, host(on_host("absent")))
    assert refused.status == "failed" and "one of baseurl, mirrorlist or metalink" in refused.msg


def test_rpm_key_imports_only_a_key_rpm_lacks_and_checks_the_fingerprint():
    key = ("pub:-:4096:1:A4B469963BF863CC:1633022716:::-:::escESC::::::23::0:\n"
           "fpr:::::::::EB693B3035CD5710E231E123A4B469963BF863CC:\n")
    listing = "\n@@provision:installed@@\nfd431d51\n@@provision:key@@\n" + key + "@@provision:end@@\n"
    url = "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/D42D0685.pub"
    result, host = run_on("rpm_key", {"key": url}, [("s installed", ok(listing))])
    assert result.status == "changed" and host.actions() == [f"rpm --import {url}"]
    assert "curl -fsSL -- " + url in host.commands[0]
    there = listing.replace("fd431d51", "fd431d51\n3bf863cc")
    assert run_on("rpm_key", {"key": url}, [("s installed", ok(there))])[0].status == "ok"
    wrong, host = run_on("rpm_key", {"key": url, "fingerprint": "0000 1111"}, [("s installed", ok(listing))])
    assert wrong.status == "failed" and "fingerprint is not 00001111" in wrong.msg and host.actions() == []
    gone, host = run_on("rpm_key", {"key": "0x3BF863CC", "state": "absent"},
                        [("s installed", ok(there.replace(key, "")))])
    assert gone.status == "changed" and host.actions() == ["rpm --erase --allmatches gpg-pubkey-3bf863cc"]


ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def keys_file(text=None, home="/home/alice"):
    body = "" if text is None else "present\n" + text
    return (f"\n@@provision:home@@\n{home}\n@@provision:path@@\n{home}/.ssh/authorized_keys\n@@provision:file@@\n"
            f"{body}\n@@provision:end@@\n")


def test_authorized_key_adds_updates_and_removes_by_blob():
    from tests.support.fakehost import ok as answered

    def run_keys(args, text):
        return run_on("authorized_key", {"user": "alice", **args},
                      [("s home;", answered(keys_file(text))), ("dest=", answered(""))])

    added, host = run_keys({"key": f"{ED} alice@laptop"}, None)
    assert added.status == "changed" and host.writes == {"/home/alice/.ssh/authorized_keys": f"{ED} alice@laptop\n".encode()}
    assert any(sent.startswith("[ -d /home/alice/.ssh ] || { mkdir -m 0700") for sent in host.commands)
    same, host = run_keys({"key": f"{ED} alice@laptop"}, f"# mine\n{ED} alice@laptop\n")
    assert same.status == "ok" and host.writes == {}
    renamed, host = run_keys({"key": ED, "comment": "alice@desk", "key_options": 'from="10.0.0.0/8"'},
                             f"ssh-rsa AAAAB3Nza other@x\n{ED} alice@laptop\n")
    assert renamed.status == "changed"
    assert host.writes["/home/alice/.ssh/authorized_keys"].decode() == (
        f'ssh-rsa AAAAB3Nza other@x\nfrom="10.0.0.0/8" {ED} alice@desk\n')
    only, host = run_keys({"key": ED, "exclusive": True}, f"# note\nssh-rsa AAAAB3Nza other@x\n{ED}\n")
    assert host.writes["/home/alice/.ssh/authorized_keys"].decode() == f"{ED}\n"
    removed, host = run_keys({"key": ED, "state": "absent"}, f"ssh-rsa AAAAB3Nza other@x\n{ED} alice@laptop\n")
    assert host.writes["/home/alice/.ssh/authorized_keys"].decode() == "ssh-rsa AAAAB3Nza other@x\n"


def test_authorized_key_refuses_what_is_not_a_key_or_a_user():
    from tests.support.fakehost import ok as answered

    bad, host = run_on("authorized_key", {"user": "alice", "key": "SHA256:abc alice"},
                       [("s home;", answered(keys_file("")))])
    assert bad.status == "failed" and "not a public key" in bad.msg and host.writes == {}
    nobody, _ = run_on("authorized_key", {"user": "ghost", "key": ED}, [("s home;", answered(keys_file(None, home="")))])
    assert nobody.status == "failed" and "user 'ghost' does not exist" in nobody.msg


def test_kernel_blacklist_adds_and_removes_its_line_only():
    from tests.modules.filehost import host, on_host, run

    context = host(on_host("file", "blacklist floppy\n"), after=on_host("file", "x"))
    added = run("kernel_blacklist", {"name": "nouveau"}, context)
    assert added.status == "changed" and "+blacklist nouveau" in added.diff
    assert "/etc/modprobe.d/blacklist-ansible.conf" in added.diff, "community.general's default file"
    assert run("kernel_blacklist", {"name": "nouveau"}, host(on_host("file", "blacklist nouveau\n"))).status == "ok"
    removed = run("kernel_blacklist", {"name": "nouveau", "state": "absent"},
                  host(on_host("file", "blacklist floppy\nblacklist nouveau\n"), check=True))
    assert removed.status == "changed" and "-blacklist nouveau" in removed.diff and " blacklist floppy" in removed.diff


def test_apt_deb_installs_the_file_unless_its_version_is_installed():
    from tests.support.fakehost import ok as answered

    def state(installed):
        return ("\n@@provision:deb@@\nPackage: cuda-keyring\nVersion: 1.1-1\n@@provision:installed@@\n"
                + (f"ii  {installed}\n" if installed else "") + "@@provision:end@@\n")

    url = "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/cuda-keyring_1.1-1_all.deb"
    result, host = run_on("apt", {"deb": url}, [("dpkg-deb -f", answered(state(None))), ("set -e", answered(""))])
    assert result.status == "changed", result.msg
    assert "curl -fsSL --max-time 300 -o provision.deb -- " + url in host.commands[0]
    script = host.commands[-1]
    assert "apt-get -y -q" in script and script.rstrip().endswith("install ./provision.deb")
    same, host = run_on("apt", {"deb": url}, [("dpkg-deb -f", answered(state("1.1-1")))])
    assert same.status == "ok" and len(host.commands) == 1
    older, _ = run_on("apt", {"deb": url}, [("dpkg-deb -f", answered(state("1.0-1")))], check=True)
    assert older.status == "changed" and older.diff == f"install cuda-keyring 1.1-1 from {url} (was 1.0-1)\n"
    broken, _ = run_on("apt", {"deb": "/tmp/nope.deb"}, [("dpkg-deb -f", answered("cp: cannot stat '/tmp/nope.deb'\n"))])
    assert broken.status == "failed" and "cannot read the package file /tmp/nope.deb" in broken.msg


def test_apt_repository_names_its_file_as_ansible_does():
    from provision.modules.apt_repository import AptRepository

    context = TaskContext(LocalTransport(), facts={"ansible_distribution_release": "jammy"})
    named = {repo: AptRepository(AptRepository.check_args({"repo": repo}), context).source_path() for repo in (
        "ppa:graphics-drivers/ppa",
        "deb [signed-by=/usr/share/keyrings/cuda.gpg] https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/ /")}
    assert named == {
        "ppa:graphics-drivers/ppa": "/etc/apt/sources.list.d/ppa_launchpadcontent_net_graphics_drivers_ppa_ubuntu.list",
        "deb [signed-by=/usr/share/keyrings/cuda.gpg] https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/ /":
            "/etc/apt/sources.list.d/developer_download_nvidia_com_compute_cuda_repos_ubuntu2204_x86_64.list"}


def test_apt_key_trusts_a_key_once_and_removes_it_by_id():
    from tests.support.fakehost import ok as answered

    fpr = "EB693B3035CD5710E231E123A4B469963BF863CC"
    armored = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBGFW\n-----END PGP PUBLIC KEY BLOCK-----\n"

    def listing(rings):
        return ("".join(f"\n@@provision:ring:{path}@@\n" + "".join(f"{value}\n" for value in prints)
                        for path, prints in rings.items())
                + f"\n@@provision:key@@\n{fpr}\n@@provision:text@@\n{armored}\n@@provision:end@@\n")

    url = "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2004/x86_64/7fa2af80.pub"
    added, host = run_on("apt_key", {"url": url}, [("s() {", answered(listing({"/etc/apt/trusted.gpg.d/debian.gpg": ["AAAA"]}))),
                                                   ("dest=", answered(""))])
    assert added.status == "changed" and host.writes == {"/etc/apt/trusted.gpg.d/A4B469963BF863CC.asc": armored.encode()}
    there, host = run_on("apt_key", {"url": url, "id": "3BF863CC"},
                         [("s() {", answered(listing({"/etc/apt/trusted.gpg.d/A4B469963BF863CC.asc": [fpr]})))])
    assert there.status == "ok" and host.writes == {}
    wrong, _ = run_on("apt_key", {"url": url, "id": "DEADBEEF"}, [("s() {", answered(listing({})))])
    assert wrong.status == "failed" and "the key given is not DEADBEEF" in wrong.msg
    gone, host = run_on("apt_key", {"id": "3BF863CC", "state": "absent"},
                        [("s() {", answered(listing({"/etc/apt/trusted.gpg": [fpr, "BBBB"]})))])
    assert gone.status == "changed"
    assert host.actions() == ["gpg --batch --yes --no-default-keyring --keyring /etc/apt/trusted.gpg --delete-keys 3BF863CC"]


def test_dnf_autoremove_takes_what_only_the_removed_packages_needed():
    from provision.modules.dnf import Dnf, DnfPlan

    module = Dnf(Dnf.check_args({"name": ["nvidia-driver"], "state": "absent", "autoremove": True}), TaskContext(LocalTransport()))
    assert module.commands(DnfPlan(remove=["nvidia-driver"])) == [
        "dnf -y --setopt=clean_requirements_on_remove=True remove nvidia-driver"]


def test_script_runs_a_local_file_with_its_arguments_and_leaves_nothing(tmp_path):
    (tmp_path / "files").mkdir()
    script = tmp_path / "files" / "probe.sh"
    script.write_text('#!/bin/sh\necho "args: $*"\necho "self: $0" >&2\n')
    context = TaskContext(LocalTransport(), search_dirs=[str(tmp_path)])
    ran = run_module("script", {"_raw_params": "probe.sh 'two words' x"}, context)
    assert ran.status == "changed" and ran.data["stdout"] == "args: two words x", ran.msg
    temporary = ran.data["stderr"].removeprefix("self: ")
    assert temporary.startswith("/tmp/") and not os.path.exists(temporary)
    skipped = run_module("script", {"_raw_params": "probe.sh", "creates": str(script)}, context)
    assert skipped.status == "skipped" and skipped.data["stdout"].startswith("skipped, since")
    checked = run_module("script", {"_raw_params": "probe.sh"}, TaskContext(LocalTransport(), check=True,
                                                                             search_dirs=[str(tmp_path)]))
    assert checked.status == "skipped"
    missing = run_module("script", {"_raw_params": "nope.sh"}, context)
    assert missing.status == "failed" and "could not find file 'nope.sh'" in missing.msg


def test_find_matches_names_types_sizes_and_content_as_ansible(tmp_path):
    for name, text in (("a.conf", "gpu=1\n"), ("b.conf", "x" * 5000), ("c.txt", "gpu=2\n"), (".hidden.conf", "")):
        (tmp_path / name).write_text(text)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.conf").write_text("deep\n")
    context = TaskContext(LocalTransport())

    def names(**args):
        result = run_module("find", {"paths": [str(tmp_path)], **args}, context)
        assert result.status == "ok", result.msg
        return sorted(entry["path"].removeprefix(str(tmp_path) + "/") for entry in result.data["files"])

    assert names(patterns=["*.conf"]) == ["a.conf", "b.conf"]
    assert names(patterns=["*.conf"], recurse=True) == ["a.conf", "b.conf", "sub/d.conf"]
    assert names(patterns=["*.conf"], hidden=True) == [".hidden.conf", "a.conf", "b.conf"]
    assert names(patterns=[r"^[ab]\..*"], use_regex=True) == ["a.conf", "b.conf"]
    assert names(size="4k") == ["b.conf"] and names(size="-1k", patterns=["*.conf"]) == ["a.conf"]
    assert names(contains="gpu=") == ["a.conf", "c.txt"]
    assert names(file_type="directory") == ["sub"]
    assert names(age="1d") == [] and names(age="-1d") == ["a.conf", "b.conf", "c.txt"]


def test_copy_remote_src_copies_a_file_of_the_host(tmp_path):
    (tmp_path / "from.conf").write_text("gpus=8\n")
    context = TaskContext(LocalTransport())
    args = {"src": str(tmp_path / "from.conf"), "dest": str(tmp_path / "to.conf"), "remote_src": True}
    first = run_module("copy", args, context)
    assert first.status == "changed" and (tmp_path / "to.conf").read_text() == "gpus=8\n", first.msg
    assert run_module("copy", args, context).status == "ok"
    missing = run_module("copy", {**args, "src": str(tmp_path / "nope")}, context)
    assert missing.status == "failed" and "is missing, not a file" in missing.msg


def test_apt_upgrade_is_planned_from_apt_gets_simulation():
    from tests.support.fakehost import ok as answered

    simulated = ("Reading package lists...\nInst libssl3 [3.0.15-1] (3.0.17-1 Debian-Security:12/stable-security)\n"
                 "Inst openssl [3.0.15-1] (3.0.17-1 Debian-Security:12/stable-security)\nConf libssl3 (3.0.17-1)\n")
    checked, host = run_on("apt", {"upgrade": "dist"}, [("apt-get -s", answered(simulated))], check=True)
    assert checked.status == "changed" and checked.diff == "upgrade 2 package(s): libssl3 openssl\n"
    assert host.commands == ["LC_ALL=C apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1\n"]
    done, host = run_on("apt", {"upgrade": "yes"}, [("apt-get -s", answered(simulated)),
                                                    ("set -e", answered("2 upgraded, 0 newly installed, 0 to remove\n"))])
    assert done.status == "changed" and host.commands[-1].rstrip().endswith("upgrade --with-new-pkgs")
    nothing, _ = run_on("apt", {"upgrade": "full"}, [("apt-get -s", answered("Reading package lists...\n"))])
    assert nothing.status == "ok"


def test_fetch_brings_a_file_here_once_per_host_folder(tmp_path):
    (tmp_path / "remote.log").write_bytes(b"line\n\x00binary\n")
    templar = Templar({"inventory_hostname": "gpu07"})
    context = TaskContext(LocalTransport(), render_text=templar.render_text)
    args = {"src": str(tmp_path / "remote.log"), "dest": str(tmp_path / "got")}
    fetched = run_module("fetch", args, context)
    local = tmp_path / "got" / "gpu07" / str(tmp_path / "remote.log").lstrip("/")
    assert fetched.status == "changed" and local.read_bytes() == b"line\n\x00binary\n", fetched.msg
    assert run_module("fetch", args, context).status == "ok"
    flat = run_module("fetch", {**args, "dest": str(tmp_path / "flat.log"), "flat": True}, context)
    assert flat.status == "changed" and (tmp_path / "flat.log").exists()
    missing = run_module("fetch", {**args, "src": "/nonexistent/file"}, context)
    assert missing.status == "failed" and "does not exist" in missing.msg
    tolerated = run_module("fetch", {**args, "src": "/nonexistent/file", "fail_on_missing": False}, context)
    assert tolerated.status == "ok"


def test_unarchive_unpacks_a_tarball_until_the_folder_holds_it(tmp_path):
    import tarfile

    (tmp_path / "files").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bin.sh").write_text("echo hi\n")
    with tarfile.open(tmp_path / "files" / "tool.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "src" / "bin.sh", arcname="tool/bin.sh")
    dest = tmp_path / "opt"
    dest.mkdir()
    context = TaskContext(LocalTransport(), search_dirs=[str(tmp_path)])
    args = {"src": "tool.tar.gz", "dest": str(dest)}
    first = run_module("unarchive", args, context)
    assert first.status == "changed" and (dest / "tool" / "bin.sh").read_text() == "echo hi\n", first.msg
    assert run_module("unarchive", args, context).status == "ok"  # tar --diff: the same files
    (dest / "tool" / "bin.sh").write_text("changed\n")
    assert run_module("unarchive", args, TaskContext(LocalTransport(), check=True, search_dirs=[str(tmp_path)])).status == "changed"
    assert (dest / "tool" / "bin.sh").read_text() == "changed\n"  # check mode unpacked nothing
    on_host = run_module("unarchive", {"src": str(tmp_path / "files" / "tool.tar.gz"), "dest": str(dest),
                                       "remote_src": True}, context)
    assert on_host.status == "changed" and (dest / "tool" / "bin.sh").read_text() == "echo hi\n"
    assert run_module("unarchive", {**args, "creates": str(dest / "tool")}, context).status == "ok"
    missing = run_module("unarchive", {**args, "dest": str(tmp_path / "nowhere")}, context)
    assert missing.status == "failed" and "must be an existing dir" in missing.msg
