"""A DeepOps-style role that reads `ansible_local` (custom facts from /etc/ansible/facts.d on the
host: a JSON file, an INI file and an executable one) runs on a sandbox host."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ssh
from tests.engine.scenario import provision, read_report, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

ROLE = {
    "site.yaml": """
        - hosts: lab
          roles: [gpu_facts]
    """,
    "roles/gpu_facts/tasks/main.yml": """
        - name: the GPUs the host says it has
          debug:
            msg: "{{ ansible_local['gpus']['count'] }} x {{ ansible_local.gpus.model }} in rack {{ ansible_local.site.rack.row }}, probe {{ ansible_facts['local']['probe']['ok'] }}"
          when: ansible_local.gpus is defined and ansible_local['gpus']['count'] | int > 0
        - name: skipped where no facts file says so
          debug: {msg: "no GPU facts"}
          when: ansible_local.gpus is not defined
    """,
}


def test_a_role_reads_ansible_local_from_facts_d(sandbox, tmp_path):
    write(tmp_path, ROLE)
    (tmp_path / "inventory.yaml").write_text(json.dumps(sandbox_inventory(sandbox, ["host03"])))
    ssh(sandbox, "host03", "mkdir -p /etc/ansible/facts.d && cd /etc/ansible/facts.d && "
                           "echo '{\"count\": 8, \"model\": \"H100\"}' > gpus.fact && "
                           "printf '[rack]\\nrow = A\\n' > site.fact && "
                           "printf '#!/bin/sh\\necho {\\\\\"ok\\\\\": true}\\n' > probe.fact && chmod +x probe.fact")
    try:
        run = provision("apply", str(tmp_path / "inventory.yaml"), str(tmp_path / "site.yaml"), "-v",
                        "--report-json", str(tmp_path / "r.json"), "--state-db", str(tmp_path / "h.db"))
    finally:
        ssh(sandbox, "host03", "rm -rf /etc/ansible")
    assert run.returncode == 0, run.stdout + run.stderr
    results = {row["task"]: row for row in read_report(tmp_path / "r.json")["results"]}
    assert results["gpu_facts : the GPUs the host says it has"]["output"]["msg"] == "8 x H100 in rack A, probe True"
    assert results["gpu_facts : skipped where no facts file says so"]["status"] == "skipped"


WRITES_THEN_READS = {
    "site.yaml": """
        - hosts: lab
          tasks:
            - name: the fact script
              copy:
                content: "#!/bin/sh\\necho '{\\"id_version\\": \\"debian12\\"}'\\n"
                dest: /etc/ansible/facts.d/osid.fact
                mode: "0755"
            - name: read local facts
              setup:
                filter: [ansible_local]
            - name: uses the fact
              copy:
                content: "{{ ansible_local['osid']['id_version'] }}\\n"
                dest: /root/osid
            - name: included on the fact
              include_tasks: more.yml
              when: ansible_local.osid.id_version == 'debian12'
            - name: a map
              set_fact:
                known: {a: 1}
            - name: a typo is still an error
              debug:
                msg: "{{ known.b }}"
              ignore_errors: true
            - name: a typo beside a local fact is still an error
              debug:
                msg: "{{ ansible_local.osid.id_version }}-{{ known.b }}"
              ignore_errors: true
    """,
    "more.yml": """
        - name: from the include
          debug: {msg: included}
    """,
}


def test_check_mode_on_a_new_host_does_not_fail_on_the_local_facts_it_would_write(sandbox, tmp_path):
    """Ansible fails the third task in check mode (the fact file was not written, so ansible_local
    has no 'osid'). provision says it cannot check it yet, decides no include on it, and still fails
    what is wrong whatever the facts; a real run then writes and reads the fact."""
    write(tmp_path, WRITES_THEN_READS)
    (tmp_path / "inventory.yaml").write_text(json.dumps(sandbox_inventory(sandbox, ["host03"])))
    ssh(sandbox, "host03", "rm -rf /etc/ansible /root/osid && mkdir -p /etc/ansible/facts.d")

    def run(*words):
        report = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
        done = provision("apply", str(tmp_path / "inventory.yaml"), str(tmp_path / "site.yaml"), *words,
                         "--report-json", str(report), "--state-db", str(tmp_path / "h.db"))
        return done, {row["task"]: row for row in read_report(report)["results"]}

    try:
        checked, results = run("--check")
        assert checked.returncode == 0, checked.stdout  # the typos' failures are ignored
        uses = results["uses the fact"]
        assert uses["status"] == "changed" and uses["msg"].startswith("not checkable yet: it reads ansible_local")
        assert results["included on the fact"]["status"] == "skipped" and "not checkable yet" in results["included on the fact"]["msg"]
        assert "from the include" not in results
        assert results["a typo is still an error"]["status"] == "failed"
        assert results["a typo beside a local fact is still an error"]["status"] == "failed"
        assert ssh(sandbox, "host03", "ls /etc/ansible/facts.d/ /root/osid", check=False).stdout.strip() == "/etc/ansible/facts.d/:"
        applied, results = run()
        assert results["uses the fact"]["status"] == "changed" and results["from the include"]["status"] == "ok"
        assert results["a typo beside a local fact is still an error"]["status"] == "failed"
        assert ssh(sandbox, "host03", "cat /root/osid").stdout == "debian12\n"
    finally:
        ssh(sandbox, "host03", "rm -rf /etc/ansible /root/osid")
