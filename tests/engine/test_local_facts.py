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
