"""`async: N` with `poll: 0` on a sandbox host: a shell or command task starts its command detached
and returns at once with Ansible's job keys; async_status reads the job until it has finished
(its rc, stdout and stderr), fails it as Ansible does (a non-zero rc, the time limit), erases it
(mode=cleanup), and says so for a job that is not there."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ssh
from tests.engine.scenario import provision, read_report, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

PLAYBOOK = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: start
      shell: sleep 2; echo out; echo err >&2; exit 3
      async: 20
      poll: 0
      register: job
    - name: running
      async_status: {jid: "{{ job.ansible_job_id }}"}
      register: running
    - name: wait
      async_status: {jid: "{{ job.ansible_job_id }}"}
      register: done
      until: done is finished
      retries: 20
      delay: 0.5
      ignore_errors: true
    - name: over its time
      command: sleep 30
      async: 1
      poll: 0
      register: slow
    - name: wait for the slow one
      async_status: {jid: "{{ slow.ansible_job_id }}"}
      register: slow_done
      until: slow_done.finished
      retries: 20
      delay: 0.5
      ignore_errors: true
    - name: quick
      command: echo fine
      async: 20
      poll: 0
      register: quick
    - name: wait for the quick one
      async_status: {jid: "{{ quick.ansible_job_id }}"}
      register: quick_done
      until: quick_done is finished
      retries: 20
      delay: 0.5
    - name: erase
      async_status: {jid: "{{ job.ansible_job_id }}", mode: cleanup}
      register: erased
    - name: gone
      async_status: {jid: "{{ job.ansible_job_id }}"}
      ignore_errors: true
"""


def test_a_command_started_in_the_background_is_read_until_it_has_finished(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": PLAYBOOK})
    (tmp_path / "inventory.yaml").write_text(json.dumps(sandbox_inventory(sandbox, ["host03"])))
    run = provision("apply", str(tmp_path / "inventory.yaml"), str(tmp_path / "site.yaml"),
                    "--report-json", str(tmp_path / "report.json"))
    assert run.returncode == 0, run.stdout[-3000:]
    rows = {row["task"]: row for row in read_report(tmp_path / "report.json")["results"]}
    start = rows["start"]
    assert start["status"] == "changed" and start["duration"] < 1.5, "it returned before its 2 s command ended"
    job = start["output"]
    assert (job["started"], job["finished"]) == (True, False) and job["ansible_job_id"].startswith("j")
    assert job["results_file"] == f"/root/.ansible_async/{job['ansible_job_id']}"
    assert rows["running"]["status"] == "ok" and rows["running"]["output"]["finished"] is False
    done = rows["wait"]
    assert (done["status"], done["ignored"], done["msg"]) == ("failed", True, "non-zero return code 3")
    assert {key: done["output"][key] for key in ("finished", "rc", "stdout", "stderr")} == {
        "finished": True, "rc": 3, "stdout": "out", "stderr": "err"}
    slow = rows["wait for the slow one"]
    assert (slow["status"], slow["msg"], slow["output"]["finished"]) == ("failed", "Timeout exceeded", True)
    # a finished job passes its `changed` through (a command's always is), as Ansible's async_status
    quick = rows["wait for the quick one"]
    assert (quick["status"], quick["output"]["rc"], quick["output"]["stdout"]) == ("changed", 0, "fine"), quick
    assert (rows["erase"]["status"], rows["erase"]["output"]["erased"]) == ("changed", job["results_file"])
    assert rows["gone"]["msg"] == "could not find job"
    left = ssh(sandbox, "host03", f"ls /root/.ansible_async/ | grep -c {job['ansible_job_id']}", check=False)
    assert left.stdout.strip() == "0", "cleanup erased the job file and its output"
    ssh(sandbox, "host03", "rm -rf /root/.ansible_async")
