"""become_method: su on a sandbox host, logged in as a user who is not root (DeepOps bootstraps
sudo that way on hosts that lack it): the target user's password on su's stdin, the command's
own stdin intact after it, su's prompt kept out of stderr, and su's refusals in words."""
from __future__ import annotations

import pytest

from tests.conftest import ssh
from tests.engine.scenario import dump_inventory, provision, read_report, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

HOST = "host02"
PLAYBOOK = """
- hosts: lab
  gather_facts: false
  become: true
  become_method: su
  tasks:
    - name: who
      command: id -un
      register: who
    - name: a file only root may write
      copy: {dest: /root/su-made, content: "by su\\n", mode: "0600"}
    - name: stdin after the password
      shell: echo "got $(cat)"
      args: {stdin: payload}
    - name: back to the login user
      command: id -un
      become: false
"""


@pytest.fixture
def root_password(sandbox):
    """root gets a password for the test; its shadow entry is put back after."""
    saved = ssh(sandbox, HOST, "grep '^root:' /etc/shadow").stdout.strip()
    ssh(sandbox, HOST, "echo 'root:su-secret-1' | chpasswd")
    yield "su-secret-1"
    ssh(sandbox, HOST, f"sed -i 's|^root:.*|{saved}|' /etc/shadow && rm -f /root/su-made")


def run(sandbox, tmp_path, name, **variables):
    inventory = sandbox_inventory(sandbox, [HOST])
    inventory["all"]["vars"].update(ansible_user="admin", **variables)
    folder = tmp_path / name
    write(folder, {"site.yaml": PLAYBOOK})
    result = provision("apply", dump_inventory(folder, inventory), str(folder / "site.yaml"),
                       "--report-json", str(folder / "report.json"))
    rows = {row["task"]: row for row in read_report(folder / "report.json")["results"]}
    return result, rows


def test_su_becomes_root_with_roots_password_and_keeps_stdin(sandbox, tmp_path, root_password):
    result, rows = run(sandbox, tmp_path, "right", ansible_become_password=root_password)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (rows["who"]["output"]["stdout"], rows["who"]["output"]["stderr"]) == ("root", ""), "su's prompt is not output"
    assert rows["stdin after the password"]["output"]["stdout"] == "got payload"
    assert rows["back to the login user"]["output"]["stdout"] == "admin"
    assert ssh(sandbox, HOST, "stat -c '%U %a' /root/su-made; cat /root/su-made").stdout == "root 600\nby su\n"
    assert root_password not in result.stdout + result.stderr


def test_su_refusals_are_said_plainly(sandbox, tmp_path, root_password):
    wrong, rows = run(sandbox, tmp_path, "wrong", ansible_become_password="not-it")
    assert wrong.returncode != 0 and rows["who"]["msg"].endswith(
        "su rejected the become password for user 'root' (wrong password?)"), rows["who"]
    missing, rows = run(sandbox, tmp_path, "missing")
    assert missing.returncode != 0 and rows["who"]["msg"].endswith(
        "su needs the password of 'root'; give it with --ask-become-pass or ansible_become_password"), rows["who"]
    assert ssh(sandbox, HOST, "ls /root/su-made", check=False).returncode != 0, "nothing ran as root"


def test_an_unknown_become_method_is_refused_before_any_host(tmp_path):
    write(tmp_path, {"site.yaml": "- hosts: all\n  become_method: doas\n  tasks:\n    - ping:\n      become_method: pbrun\n"})
    result = provision("lint", "localhost,", str(tmp_path / "site.yaml"))
    assert result.returncode != 0
    assert "become_method 'doas' is not supported (sudo and su are)" in result.stdout + result.stderr
    assert "become_method 'pbrun' is not supported (sudo and su are)" in result.stdout + result.stderr
