"""`provision apply` end to end on real sandbox hosts: roles, handlers, serial, failures, unreachable."""
from __future__ import annotations

import pytest

from tests.conftest import ssh
from tests.engine.scenario import dump_inventory, provision, read_report, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

SITE = {
    "roles/motd/defaults/main.yml": """
        motd_text: from role defaults
        motd_owner: root
    """,
    "roles/motd/tasks/main.yml": """
        - name: motd file
          template:
            src: motd.j2
            dest: /etc/motd-provision
            mode: "0644"
          notify: motd changed
    """,
    "roles/motd/templates/motd.j2": "{{ motd_text }} on {{ inventory_hostname }} ({{ ansible_distribution }})\n",
    "roles/motd/handlers/main.yml": """
        - name: motd changed
          shell: echo ran >> /root/scenario-handler-runs
    """,
    "group_vars/lab.yml": "motd_text: from group_vars\n",
    "site.yaml": """
        - name: first play
          hosts: lab
          serial: 2
          roles: [motd]
          tasks:
            - name: folders
              file:
                path: "/root/scenario/{{ item }}"
                state: directory
              loop: [a, b, c]
            - name: probe
              shell: cd /root/scenario && ls -d */ | tr -d /
              register: listing
              changed_when: false
            - name: only when the probe saw b
              copy:
                content: "{{ listing.stdout_lines | join(',') }}\\n"
                dest: /root/scenario/seen
              when: "'b' in listing.stdout_lines"
            - block:
                - command: "false"
              rescue:
                - name: rescued
                  copy: {content: "rescued\\n", dest: /root/scenario/rescued}
            - name: host02 breaks
              command: "false"
              when: inventory_hostname == 'host02'
        - name: second play
          hosts: all
          tasks:
            - copy: {content: "play two\\n", dest: /root/scenario/play2}
    """,
}


def test_two_plays_with_failing_and_unreachable_hosts(sandbox, tmp_path):
    write(tmp_path, SITE)
    ghost = {"ghost": {"ansible_host": f"{sandbox.gateway.rsplit('.', 1)[0]}.250"}}
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host01", "host02", "host03"], extra_hosts=ghost))
    report_path = tmp_path / "report.json"
    run = provision("apply", inventory, str(tmp_path / "site.yaml"), "-T", "10", "--report-json", str(report_path))
    assert run.returncode == 6, run.stdout + run.stderr  # 2 (a task failed) | 4 (a host unreachable)
    report = read_report(report_path)
    hosts = report["hosts"]
    assert hosts["host02"]["failed"] == 1 and hosts["ghost"]["unreachable"] == 1
    for name in ("host01", "host03"):
        assert hosts[name]["failed"] == 0 and hosts[name]["unreachable"] == 0 and hosts[name]["rescued"] == 1
        assert hosts[name]["changed"] == 6  # motd, folders, seen, rescued, play2, handler
        motd = ssh(sandbox, name, "cat /etc/motd-provision").stdout
        assert motd == f"from group_vars on {name} (Debian)\n", "group_vars override role defaults"
        assert ssh(sandbox, name, "cat /root/scenario-handler-runs").stdout == "ran\n", "handler ran once"
        assert ssh(sandbox, name, "cat /root/scenario/seen").stdout == "a,b,c\n"
        assert ssh(sandbox, name, "cat /root/scenario/play2").stdout == "play two\n"
    # host02 failed in play 1: no handler, no play 2
    assert ssh(sandbox, "host02", "test -e /root/scenario-handler-runs", check=False).returncode == 1
    assert ssh(sandbox, "host02", "test -e /root/scenario/play2", check=False).returncode == 1
    recap = run.stdout
    for name in ("host01", "host02", "host03", "ghost"):
        assert name in recap
    assert "ghost" in run.stdout and "no answer" in run.stdout or "unreachable" in run.stdout.lower()
    failed = [row for row in report["results"] if row["status"] == "failed" and row["host"] == "host02"]
    assert failed[-1]["task"] == "host02 breaks" and failed[-1]["file"].endswith("site.yaml")

    again = provision("apply", inventory, str(tmp_path / "site.yaml"), "-T", "10", "--limit", "host01:host03",
                      "--report-json", str(report_path))
    assert again.returncode == 0, again.stdout + again.stderr
    second = read_report(report_path)["hosts"]
    changed = [(row["host"], row["task"]) for row in read_report(report_path)["results"] if row["changed"]]
    assert second["host01"]["changed"] == 0 and second["host03"]["changed"] == 0, changed
    assert ssh(sandbox, "host01", "cat /root/scenario-handler-runs").stdout == "ran\n", "no change, no handler"


def test_check_mode_changes_nothing_and_shows_the_diff(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": """
        - hosts: lab
          tasks:
            - copy:
                content: "new line\\n"
                dest: /root/check-mode-file
            - name: read-only probe still runs in check mode
              command: cat /etc/hostname
              register: name
              changed_when: false
            - copy:
                content: "{{ name.stdout }}\\n"
                dest: /root/check-mode-name
    """})
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host04"]))
    ssh(sandbox, "host04", "echo old line > /root/check-mode-file; rm -f /root/check-mode-name")
    run = provision("apply", inventory, str(tmp_path / "site.yaml"), "--check", "--diff")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "would change" in run.stdout
    assert "-old line" in run.stdout and "+new line" in run.stdout
    assert "+host04" in run.stdout, "the probe ran for real, so the later diff shows real data"
    assert ssh(sandbox, "host04", "cat /root/check-mode-file").stdout == "old line\n"
    assert ssh(sandbox, "host04", "test -e /root/check-mode-name", check=False).returncode == 1
    applied = provision("apply", inventory, str(tmp_path / "site.yaml"))
    assert applied.returncode == 0
    assert ssh(sandbox, "host04", "cat /root/check-mode-file").stdout == "new line\n"
    recheck = provision("apply", inventory, str(tmp_path / "site.yaml"), "--check", "--diff")
    assert "would change" not in recheck.stdout


def test_unknown_host_key_is_refused_until_accepted(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": "- hosts: lab\n  gather_facts: false\n  tasks:\n    - ping:\n",
                     "ssh_config": f"Host *\n  UserKnownHostsFile {tmp_path}/known_hosts\n"})
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host03"], known_hosts=False))
    config = str(tmp_path / "ssh_config")
    refused = provision("apply", inventory, str(tmp_path / "site.yaml"), "-F", config)
    assert refused.returncode == 4
    assert "not in known_hosts" in refused.stdout and "--accept-new-host-keys" in refused.stdout
    assert not (tmp_path / "known_hosts").exists()
    accepted = provision("apply", inventory, str(tmp_path / "site.yaml"), "-F", config, "--accept-new-host-keys")
    assert accepted.returncode == 0, accepted.stdout
    recorded = (tmp_path / "known_hosts").read_text()
    real_key = open(sandbox.known_hosts_path).read()
    address = sandbox.host("host03").address
    assert recorded.split() == [line for line in real_key.splitlines() if line.startswith(address + " ")][0].split()
    plain = provision("apply", inventory, str(tmp_path / "site.yaml"), "-F", config)
    assert plain.returncode == 0


def test_become_password_never_shows(sandbox, tmp_path):
    secret = "Zq7-not-a-word-81"
    ssh(sandbox, "host04", f"echo 'deploy:{secret}' | chpasswd")
    write(tmp_path, {"site.yaml": """
        - hosts: lab
          become: true
          tasks:
            - name: the process list while a become task runs
              shell: ps -eo args > /root/become-ps.txt; id -un; cat /root/become-ps.txt
              register: seen
            - debug: var=seen.stdout_lines
    """})
    inventory = sandbox_inventory(sandbox, ["host04"])
    inventory["all"]["vars"].update(ansible_user="deploy", ansible_become_password=secret)
    path = dump_inventory(tmp_path, inventory)
    run = provision("apply", path, str(tmp_path / "site.yaml"), "-vv", "--report-json", str(tmp_path / "r.json"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "root" in run.stdout  # the task really ran as root through sudo
    assert secret not in run.stdout + run.stderr
    assert secret not in (tmp_path / "r.json").read_text()
    processes = ssh(sandbox, "host04", "cat /root/become-ps.txt").stdout
    assert "sudo" in processes and secret not in processes
    wrong = dict(inventory)
    wrong["all"]["vars"]["ansible_become_password"] = "wrong-" + secret
    path = dump_inventory(tmp_path, wrong)
    refused = provision("apply", path, str(tmp_path / "site.yaml"))
    assert refused.returncode == 2
    assert "wrong password" in refused.stdout and secret not in refused.stdout
