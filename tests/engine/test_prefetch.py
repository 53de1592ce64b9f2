"""Batched reads: a converged host re-checks in a few round trips, and a change never leaves a stale read."""
from __future__ import annotations

import pytest

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.runner import RunOptions, run_playbook
from provision.runner.prefetch import batch_script, parse_batch
from provision.transport.local import LocalTransport
from provision.transport.ssh import SSHTransport
from tests.engine.scenario import dump_inventory, sandbox_inventory, write

CONVERGE = """
- hosts: lab
  tasks:
    - apt: {name: [openssh-server, sudo], state: present}  # packages first, as real playbooks do
    - apt: {name: cowsay, state: absent}
    - file: {path: /root/prefetch, state: directory}
    - copy: {content: "one\\n", dest: /root/prefetch/one}
    - copy: {content: "two\\n", dest: /root/prefetch/two, mode: "0600"}
    - lineinfile: {path: /root/prefetch/lines, line: "a=1", create: true}
    - blockinfile: {path: /root/prefetch/block, block: "x", create: true}
    - file: {path: "/root/prefetch/{{ item }}", state: directory}
      loop: [d1, d2, d3]
    - stat: {path: /root/prefetch/one}
      register: one
    - assert: {that: ["one.stat.exists"]}
    - user: {name: prefetcher, shell: /bin/sh, create_home: false}
    - command: pgrep -x sshd  # a probe: runs on its own, and leaves the batch good
      changed_when: false
"""

# A module that writes and then reads again must see the host as it is now, not the batch.
REREAD = """
- hosts: lab
  gather_facts: false
  tasks:
    - stat: {path: /etc/passwd}
    - user: {name: rereader, shell: "{{ shell }}", create_home: false}
      register: account
    - assert:
        that: ["account.shell == shell"]
"""

STALE = """
- hosts: lab
  gather_facts: false
  tasks:
    - stat: {path: /root/prefetch-stale}
      register: before
    - copy: {content: "made\\n", dest: /root/prefetch-stale}
    - stat: {path: /root/./prefetch-stale}  # another command text, same file: only a cleared cache sees it
      register: after
    - assert:
        that: ["not before.stat.exists", "after.stat.exists"]
"""


def test_batch_script_round_trips_odd_output():
    commands = [("printf 'no newline'", None), ("printf '\\001\\377bin'; echo oops >&2; exit 3", None),
                ("echo '@@provision-prefetch:0 0@@'", None)]
    result = LocalTransport().run(batch_script(commands))
    parsed = parse_batch(result.stdout, 3)
    assert parsed[0].stdout == "no newline" and parsed[0].rc == 0
    assert parsed[1].rc == 3 and parsed[1].stderr == "oops\n" and parsed[1].stdout.endswith("bin")
    assert parsed[2].stdout == "@@provision-prefetch:0 0@@\n", "output that looks like a mark stays output"


@pytest.mark.sandbox
def test_converged_host_rechecks_in_three_round_trips(sandbox, tmp_path, monkeypatch):
    write(tmp_path, {"site.yaml": CONVERGE})
    inventory = load_inventory(dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host03"])))
    playbook = load_and_validate(str(tmp_path / "site.yaml"), inventory)
    first = run_playbook(playbook, inventory, RunOptions())
    assert first.exit_code == 0 and first.recaps["host03"].changed > 0
    commands = []
    original = SSHTransport.run

    def counting(self, command, **options):
        commands.append(command)
        return original(self, command, **options)

    monkeypatch.setattr(SSHTransport, "run", counting)
    second = run_playbook(playbook, inventory, RunOptions())
    assert second.exit_code == 0 and second.recaps["host03"].changed == 0
    # facts + one batch + the probe; apt, user and the file tasks are all in the batch
    assert len(commands) <= 3, f"{len(commands)} round trips for 14 converged tasks"
    assert second.recaps["host03"].exec_channels == len(commands)
    commands.clear()
    checked = run_playbook(playbook, inventory, RunOptions(check=True))
    assert checked.recaps["host03"].changed == 0 and len(commands) <= 3
    # drift in check mode changes nothing on the host: the batch stays good for the tasks after it
    commands.clear()
    SSHTransport.connect(sandbox.host("host03").address, user="root", key_filename=sandbox.key_path,
                         known_hosts_files=[sandbox.known_hosts_path]).run("echo drift > /root/prefetch/one")
    drifted = run_playbook(playbook, inventory, RunOptions(check=True))
    assert drifted.recaps["host03"].changed == 1 and drifted.recaps["host03"].exec_channels <= 3
    # in apply, the change is made and the reads after it are batched again: not one round trip each
    commands.clear()
    repaired = run_playbook(playbook, inventory, RunOptions())
    assert repaired.recaps["host03"].changed == 1 and repaired.exit_code == 0
    assert len(commands) <= 7, commands  # facts, batch, the write (2), batch again, the probe, + 1 spare


@pytest.mark.sandbox
def test_a_module_reads_after_its_own_write_see_the_host(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": REREAD})
    inventory = load_inventory(dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host03"])))
    for shell in ("/bin/sh", "/bin/bash"):
        playbook = load_and_validate(str(tmp_path / "site.yaml"), inventory, {"shell": shell})
        report = run_playbook(playbook, inventory, RunOptions(extra_vars={"shell": shell}))
        assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]


@pytest.mark.sandbox
def test_a_change_makes_later_reads_fresh(sandbox, tmp_path):
    unique = f"/root/prefetch-stale-{tmp_path.name}"
    write(tmp_path, {"site.yaml": STALE.replace("/root/./prefetch-stale", unique.replace("/root/", "/root/./"))
                     .replace("/root/prefetch-stale", unique)})
    inventory = load_inventory(dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host03"])))
    playbook = load_and_validate(str(tmp_path / "site.yaml"), inventory)
    report = run_playbook(playbook, inventory, RunOptions())
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]
