"""Playbook keywords end to end on sandbox hosts: each test asserts what a user would see on the host."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.runner import Collect, RunOptions, run_playbook
from tests.conftest import ssh
from tests.engine.scenario import PROVISION, dump_inventory, sandbox_inventory, write

pytestmark = pytest.mark.sandbox


def run(sandbox, tmp_path, playbook: str, hosts=("host01", "host02"), files=None, **options):
    write(tmp_path, {"site.yaml": playbook, **(files or {})})
    inventory = load_inventory(dump_inventory(tmp_path, sandbox_inventory(sandbox, list(hosts))))
    events = Collect()
    report = run_playbook(load_and_validate(str(tmp_path / "site.yaml"), inventory), inventory,
                          RunOptions(**options), events)
    return report, events


def statuses(report, task: str) -> dict[str, str]:
    return {row.host: row.status for row in report.results if row.task == task}


def test_tags_always_and_never(sandbox, tmp_path):
    playbook = """
        - hosts: lab
          gather_facts: false
          tasks:
            - {name: tagged, command: "true", tags: [gpu]}
            - {name: untagged, command: "true"}
            - {name: always, command: "true", tags: [always]}
            - {name: never, command: "true", tags: [never, debugging]}
    """
    report, _ = run(sandbox, tmp_path, playbook, hosts=["host01"], tags={"gpu"})
    ran = [row.task for row in report.results]
    assert ran == ["tagged", "always"]
    report, _ = run(sandbox, tmp_path, playbook, hosts=["host01"], skip_tags={"gpu"})
    assert [row.task for row in report.results] == ["untagged", "always"]
    report, _ = run(sandbox, tmp_path, playbook, hosts=["host01"], tags={"debugging"})
    assert [row.task for row in report.results] == ["always", "never"]


def test_run_once_delegate_to_localhost_and_environment(sandbox, tmp_path):
    marker = tmp_path / "local-marker"
    report, _ = run(sandbox, tmp_path, f"""
        - hosts: lab
          gather_facts: false
          tasks:
            - name: once
              shell: hostname >> /root/run-once-{tmp_path.name}
              run_once: true
            - name: on this machine
              shell: echo "$PROVISION_TEST_VALUE {{{{ inventory_hostname }}}}" >> {marker}
              delegate_to: localhost
              environment: {{PROVISION_TEST_VALUE: from-env}}
    """)
    assert report.exit_code == 0
    counts = [ssh(sandbox, host, f"cat /root/run-once-{tmp_path.name} 2>/dev/null | wc -l").stdout.strip()
              for host in ("host01", "host02")]
    assert sorted(counts) == ["0", "1"], "run_once ran on exactly one host"
    assert sorted(marker.read_text().split("\n")[:-1]) == ["from-env host01", "from-env host02"]


def test_until_retries_and_failed_when(sandbox, tmp_path):
    counter = f"/root/until-{tmp_path.name}"
    report, _ = run(sandbox, tmp_path, f"""
        - hosts: lab
          gather_facts: false
          tasks:
            - name: third time lucky
              shell: echo x >> {counter}; [ $(wc -l < {counter}) -ge 3 ]
              register: attempt
              until: attempt.rc == 0
              retries: 5
              delay: 0
              failed_when: false
            - assert: {{that: ["attempt.attempts == 3"]}}
    """, hosts=["host02"])
    assert report.exit_code == 0, [(row.task, row.msg) for row in report.results]


def test_includes_roles_and_listen(sandbox, tmp_path):
    report, _ = run(sandbox, tmp_path, """
        - hosts: lab
          gather_facts: false
          tasks:
            - import_tasks: extra.yml
            - include_role: {name: greeter}
              vars: {greeting: hi}
          handlers:
            - name: first handler
              command: "true"
              listen: something changed
    """, hosts=["host01"], files={
        "extra.yml": "- name: from import_tasks\n  command: \"true\"\n  changed_when: true\n  notify: something changed\n",
        "roles/greeter/tasks/main.yml": "- name: greet\n  debug: {msg: \"{{ greeting }} {{ who }}\"}\n",
        "roles/greeter/defaults/main.yml": "who: world\n",
    })
    tasks = [(row.task, row.status) for row in report.results]
    assert ("from import_tasks", "changed") in tasks and ("first handler", "changed") in tasks
    greet = [row for row in report.results if row.task == "greeter : greet"][0]
    assert greet.output["msg"] == "hi world"


def test_no_log_hides_output_everywhere(sandbox, tmp_path):
    report, events = run(sandbox, tmp_path, """
        - hosts: lab
          gather_facts: false
          tasks:
            - name: secret
              command: echo s3cr3t-value
              no_log: true
    """, hosts=["host01"])
    public = report.results[0].public()
    assert "s3cr3t-value" not in str(public) and public["status"] == "changed"


def test_max_fail_percentage_and_any_errors_fatal(sandbox, tmp_path):
    playbook = """
        - hosts: lab
          gather_facts: false
          serial: 2
          max_fail_percentage: 40
          tasks:
            - {name: break one, command: "false", when: "inventory_hostname == 'host01'"}
            - {name: after, command: "true"}
    """
    report, events = run(sandbox, tmp_path, playbook, hosts=["host01", "host02", "host03", "host04"])
    assert statuses(report, "after") == {"host02": "changed"}, "the second batch never started"
    assert any("max_fail_percentage" in note for note in report.notes)
    fatal = playbook.replace("max_fail_percentage: 40", "any_errors_fatal: true").replace("serial: 2", "")
    report, _ = run(sandbox, tmp_path, fatal, hosts=["host01", "host02"])
    assert "after" not in [row.task for row in report.results if row.host == "host01"]


def test_ctrl_c_finishes_the_task_in_flight_and_prints_the_recap(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": """
        - hosts: lab
          gather_facts: false
          tasks:
            - {name: slow, shell: "touch /root/ctrl-c-started; sleep 2; echo done > /root/ctrl-c-slow"}
            - {name: never reached, shell: "touch /root/ctrl-c-after"}
    """})
    ssh(sandbox, "host03", "rm -f /root/ctrl-c-started /root/ctrl-c-slow /root/ctrl-c-after")
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host03"]))
    # as from a terminal: SIGINT not ignored, even when this suite runs as a background job
    process = subprocess.Popen([PROVISION, "apply", inventory, str(tmp_path / "site.yaml")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while ssh(sandbox, "host03", "test -e /root/ctrl-c-started", check=False).returncode != 0:
        assert time.monotonic() < deadline and process.poll() is None, "the slow task never started"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "RECAP" in output and "interrupted" in output
    assert ssh(sandbox, "host03", "cat /root/ctrl-c-slow").stdout == "done\n", "the task in flight finished"
    assert ssh(sandbox, "host03", "test -e /root/ctrl-c-after", check=False).returncode == 1


def test_registered_output_is_data_not_a_template(sandbox, tmp_path):
    report, _ = run(sandbox, tmp_path, """
        - hosts: lab
          gather_facts: false
          tasks:
            - name: prints braces
              command: echo '{{ "{{" }} inventory_hostname }}'
              register: printed
            - name: show
              debug: {msg: "{{ printed.stdout }}"}
    """, hosts=["host01"])
    shown = [row for row in report.results if row.task == "show"][0]
    assert shown.output["msg"] == "{{ inventory_hostname }}"
