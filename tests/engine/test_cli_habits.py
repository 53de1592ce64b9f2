"""The command line as an Ansible user types it: `-i`, swapped arguments, the same common options on
every run command, --list-hosts/--list-tasks/--list-tags, `-u`/`--private-key`/`-b` below the
inventory's own settings, a retry file after failures, `inventory --list` in ansible-inventory's
JSON, the default playbook from any folder, and a start that imports nothing heavy.

Everything here runs without a remote host: local-connection hosts, or an address no test contacts
(the listings stop before connecting)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from provision.cli import build_parser, main
from provision.commands.engine import command_line_defaults
from provision.inventory import load_inventory
from tests.engine.scenario import PROVISION, write

UNREACHABLE = "192.0.2.10"  # TEST-NET-1: nothing answers; a listing must not even try

PROJECT = {
    "inventory.yaml": f"""
        all:
          vars: {{site: lab}}
          children:
            gpu:
              vars: {{tier: gpu}}
              hosts:
                gpu01: {{ansible_host: {UNREACHABLE}}}
                gpu02: {{ansible_host: {UNREACHABLE}, ansible_user: ops}}
            cpu:
              children:
                small: {{hosts: {{cpu01: {{ansible_host: {UNREACHABLE}}}}}}}
          hosts:
            lonely: {{ansible_host: {UNREACHABLE}}}
    """,
    "site.yaml": """
        - name: base
          hosts: all
          tags: [base]
          tasks:
            - name: say hello
              debug: {msg: hello}
              tags: [hello]
        - name: gpu things
          hosts: gpu
          roles:
            - {role: tiny, tags: [gpu]}
    """,
    "roles/tiny/tasks/main.yml": """
        - name: tiny task
          debug: {msg: tiny}
    """,
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    write(tmp_path, PROJECT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*words: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PROVISION, *words], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def test_dash_i_is_the_inventory_as_in_ansible_playbook(project, capsys):
    assert main(["lint", "-i", "inventory.yaml", "site.yaml"]) == 0
    assert main(["lint", "inventory.yaml", "site.yaml"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[1] == "ok: 4 host(s), 2 play(s), 2 task(s); no problems"


@pytest.mark.parametrize("words, message", [
    (["apply"], "the inventory is required: INVENTORY as the first argument, or -i INVENTORY"),
    (["apply", "-i", "inventory.yaml", "inventory.yaml", "site.yaml"], "the inventory is given twice"),
    (["verify", "-i", "inventory.yaml", "inventory.yaml", "site.yaml"], "the inventory is given twice"),
])
def test_a_missing_or_doubled_inventory_is_a_usage_error(project, capsys, words, message):
    assert main(words) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"usage: provision {words[0]}") and message in err


def test_swapped_arguments_say_which_comes_first(project, capsys):
    assert main(["apply", "site.yaml", "inventory.yaml"]) == 1
    err = capsys.readouterr().err
    assert "this file is a playbook (a list of plays): the inventory comes first" in err
    assert "Marked" not in err


COMMON = ["-i", "inventory.yaml", "-l", "gpu", "-e", "x=1", "-f", "5", "-u", "ops", "--private-key", "k",
          "--accept-new-host-keys", "-T", "3", "-b", "--become-user", "root", "-K", "-v", "-q", "--state-db", "h.db"]


@pytest.mark.parametrize("command", ["apply", "check", "verify"])
def test_every_run_command_takes_the_same_common_options(command):
    args = build_parser().parse_args([command, *COMMON, "site.yaml"])
    assert (args.inventory, args.playbook, args.limit, args.extra_vars, args.forks) == \
        ("inventory.yaml", "site.yaml", "gpu", ["x=1"], 5)
    assert (args.remote_user, args.private_key, args.become, args.become_user, args.ask_become_pass) == \
        ("ops", "k", True, "root", True)
    assert (args.timeout, args.verbose, args.quiet, args.state_db, args.accept_new_host_keys) == \
        (3.0, 1, True, "h.db", True)


def test_listings_print_what_would_run_and_contact_nothing(project):
    listed = run("apply", "-i", "inventory.yaml", "site.yaml", "--list-hosts", "--list-tasks", "--list-tags",
                 "-T", "30", cwd=project)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    out = listed.stdout
    assert "play #1 (all): base\tTAGS: [base]" in out and "play #2 (gpu): gpu things\tTAGS: []" in out
    assert "    hosts (4):\n      gpu01\n      gpu02\n      cpu01\n      lonely" in out
    assert "    hosts (2):\n      gpu01\n      gpu02" in out
    assert "      say hello\tTAGS: [base, hello]" in out
    assert "      tiny : tiny task\tTAGS: [gpu]" in out
    assert "TASK TAGS: [base, gpu, hello]" in out
    limited = run("check", "inventory.yaml", "site.yaml", "--list-hosts", "-l", "gpu02", cwd=project)
    assert limited.returncode == 0 and "hosts (1):\n      gpu02" in limited.stdout


def test_user_key_and_become_from_the_command_line_stay_below_the_inventory(project):
    inventory = load_inventory("inventory.yaml")
    command_line_defaults(inventory, argparse.Namespace(remote_user="admin", private_key="~/.ssh/lab",
                                                        become=True, become_user=None))
    assert inventory.hosts["gpu01"].connection.user == "admin"
    assert inventory.hosts["gpu02"].connection.user == "ops", "ansible_user wins over -u, as in Ansible"
    assert inventory.hosts["lonely"].connection.private_key_file == "~/.ssh/lab"
    assert all(host.connection.become is True for host in inventory.hosts.values())
    assert all(host.connection.become_user is None for host in inventory.hosts.values())


def test_a_handler_or_a_task_left_out_by_tags_is_no_place_to_start(tmp_path):
    write(tmp_path, {
        "inventory.yaml": "all:\n  hosts:\n    here: {ansible_connection: local}\n",
        "site.yaml": """
            - hosts: all
              tasks:
                - name: tagged
                  debug: {msg: x}
                  tags: [a]
                  notify: restart thing
              handlers:
                - name: restart thing
                  debug: {msg: y}
        """,
    })
    for extra in (["--start-at-task", "restart thing"], ["--start-at-task", "tagged", "-t", "b"]):
        refused = run("apply", "inventory.yaml", "site.yaml", *extra, "--state-db", "h.db", cwd=tmp_path)
        assert refused.returncode == 1 and "no task that this run would start has that name" in refused.stderr, extra


def test_a_limit_that_matches_nothing_is_refused_by_check_too(project):
    for command in ("apply", "check", "verify"):
        refused = run(command, "inventory.yaml", "site.yaml", "--limit", "nosuchhost", "--state-db", "h.db",
                      cwd=project)
        assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
        assert "nosuchhost" in refused.stderr and "matches no host" in refused.stderr, command


def test_verify_refuses_a_role_the_playbook_does_not_apply(project):
    refused = run("verify", "inventory.yaml", "site.yaml", "--role", "tinny", "--state-db", "h.db", cwd=project)
    assert refused.returncode == 1
    assert "--role tinny: not a role site.yaml applies (it applies tiny)" in refused.stderr


def test_a_failed_run_leaves_a_retry_file_for_limit(tmp_path):
    write(tmp_path, {
        "inventory.yaml": """
            all:
              hosts:
                good: {ansible_connection: local}
                bad: {ansible_connection: local, broken: true}
        """,
        "site.yaml": """
            - hosts: all
              gather_facts: false
              tasks:
                - fail: {msg: broken on purpose}
                  when: broken | default(false)
        """,
    })
    failed = run("apply", "inventory.yaml", "site.yaml", "--state-db", "state/h.sqlite", cwd=tmp_path)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    retry = tmp_path / "state" / "site.retry"
    assert retry.read_text() == "bad\n"
    assert "to retry the hosts that failed: provision apply inventory.yaml site.yaml --limit @state/site.retry" \
        in failed.stdout
    again = run("apply", "inventory.yaml", "site.yaml", "--state-db", "state/h.sqlite", "--limit", "@state/site.retry",
                "-e", "broken=false", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "good" not in again.stdout.split("RECAP")[-1], "only the host in the retry file ran"
    assert not retry.exists(), "a run with no failure left removes the retry file"


def test_a_retry_of_some_failed_hosts_keeps_the_others(tmp_path):
    write(tmp_path, {
        "inventory.yaml": """
            all:
              hosts:
                bad1: {ansible_connection: local, broken: true}
                bad2: {ansible_connection: local, broken: true}
        """,
        "site.yaml": """
            - hosts: all
              gather_facts: false
              tasks:
                - fail: {msg: broken on purpose}
                  when: broken | bool
        """,
    })
    assert run("apply", "inventory.yaml", "site.yaml", "--state-db", "h.db", cwd=tmp_path).returncode == 2
    assert (tmp_path / "site.retry").read_text() == "bad1\nbad2\n"
    fixed = run("apply", "inventory.yaml", "site.yaml", "--state-db", "h.db", "--limit", "bad1", "-e", "broken=false",
                cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (tmp_path / "site.retry").read_text() == "bad2\n", "bad2 has not been fixed: it stays to retry"
    assert ("hosts that failed in an earlier run are still listed in site.retry; to retry them: provision apply "
            "inventory.yaml site.yaml --limit @site.retry") in fixed.stdout, "this run failed nowhere: say whose they are"
    looked = run("apply", "inventory.yaml", "site.yaml", "--state-db", "h.db", "--check", "-e", "broken=false",
                 cwd=tmp_path)
    assert looked.returncode == 0 and (tmp_path / "site.retry").read_text() == "bad2\n", "check mode leaves it"


def test_inventory_list_is_ansible_inventorys_json(project, capsys):
    assert main(["inventory", "--list", "-i", "inventory.yaml"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["all"] == {"children": ["gpu", "cpu", "ungrouped"]}
    assert listed["gpu"] == {"hosts": ["gpu01", "gpu02"], "vars": {"tier": "gpu"}}
    assert listed["cpu"] == {"children": ["small"]}
    assert listed["small"] == {"hosts": ["cpu01"]}
    assert listed["ungrouped"] == {"hosts": ["lonely"]}
    assert listed["_meta"]["hostvars"]["gpu02"] == {"site": "lab", "tier": "gpu", "ansible_host": UNREACHABLE,
                                                    "ansible_user": "ops"}


def test_the_default_playbook_is_found_from_any_folder(tmp_path):
    write(tmp_path, {"inventory.yaml": "all:\n  children:\n    gpu:\n      hosts:\n        g1: {}\n"})
    listed = run("apply", "inventory.yaml", "--list-tasks", cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    project_site = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "playbooks", "site.yaml")
    assert listed.stdout.startswith(f"playbook: {project_site}")
    assert "nvidia_driver : " in listed.stdout


def test_help_and_version_import_nothing_heavy():
    """`provision --help`, `provision apply --help` and `--version` build every parser without
    importing the engine, paramiko, pytest, Jinja2, YAML or rich."""
    probe = ("import sys, provision.cli\n"
             "provision.cli.build_parser()\n"
             "heavy = ('paramiko', 'pytest', 'jinja2', 'yaml', 'ruamel', 'rich', 'testinfra', 'provision.runner',\n"
             "         'provision.playbook', 'provision.verify', 'provision.sandbox', 'provision.modules')\n"
             "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n")
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("provision ")


def test_the_sandbox_gpu_choices_are_the_stand_in_profiles():
    """arguments.py lists them without importing the sandbox (start-up time): kept equal here."""
    from provision.commands.arguments import GPU_PROFILES
    from provision.sandbox.standin.gpus import PROFILES

    assert GPU_PROFILES == tuple(PROFILES)


def test_a_tag_that_matches_no_task_is_named_with_the_likely_one(project):
    listed = run("apply", "inventory.yaml", "site.yaml", "-t", "helo", "--list-tasks", cwd=project)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "warning: --tags helo matches no task of site.yaml (did you mean hello?" in listed.stdout
    assert "say hello" not in listed.stdout, "and indeed nothing is selected"
    chosen = run("apply", "inventory.yaml", "site.yaml", "-t", "gpu", "--list-tasks", cwd=project)
    assert "warning" not in chosen.stdout and "tiny : tiny task\tTAGS: [gpu]" in chosen.stdout
    assert "say hello" not in chosen.stdout


def test_start_at_task_skips_what_comes_before_and_refuses_an_unknown_name(tmp_path):
    write(tmp_path, {
        "inventory.yaml": "all:\n  hosts:\n    here: {ansible_connection: local}\n",
        "site.yaml": f"""
            - hosts: all
              tasks:
                - name: first
                  command: touch {tmp_path}/first
                - name: second
                  command: touch {tmp_path}/second
            - hosts: all
              tasks:
                - name: third
                  command: touch {tmp_path}/third
        """,
    })
    ran = run("apply", "inventory.yaml", "site.yaml", "--start-at-task", "second", "--state-db", "h.db", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert sorted(path.name for path in tmp_path.iterdir() if path.name in ("first", "second", "third")) == \
        ["second", "third"]
    unknown = run("apply", "inventory.yaml", "site.yaml", "--start-at-task", "secnd", "--state-db", "h.db", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "--start-at-task 'secnd': no task that this run would start has that name" in unknown.stderr
    assert "(did you mean 'second'?)" in unknown.stderr


def test_step_asks_once_per_task_for_every_host(tmp_path):
    """n skips the task (on every host), y runs it, and the end of input continues without asking."""
    write(tmp_path, {
        "inventory.yaml": "all:\n  hosts:\n    here: {ansible_connection: local}\n",
        "site.yaml": f"""
            - hosts: all
              tasks:
                - name: one
                  command: touch {tmp_path}/one
                - name: two
                  command: touch {tmp_path}/two
                - name: three
                  command: touch {tmp_path}/three
        """,
    })
    stepped = subprocess.run([PROVISION, "apply", "inventory.yaml", "site.yaml", "--step", "--state-db", "h.db"],
                             input="n\ny\n", capture_output=True, text=True, timeout=120, cwd=tmp_path,
                             env={**os.environ, "COLUMNS": "200"})
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    assert stepped.stdout.count("Perform task: ") == 3
    assert "Perform task: one (N)o/(y)es/(c)ontinue: " in stepped.stdout
    assert sorted(path.name for path in tmp_path.iterdir() if path.name in ("one", "two", "three")) == \
        ["three", "two"]


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0"])
def test_a_slice_must_be_k_of_n(project, capsys, text):
    assert main(["apply", "inventory.yaml", "site.yaml", "--slice", text]) == 1
    assert "argument --slice: expected K/N with 1 <= K <= N" in capsys.readouterr().err


def test_slices_split_the_targeted_hosts_without_overlap(project):
    """AWX-style job slicing: N runs, each its own slice; together they are every targeted host."""
    seen = []
    for number in (1, 2, 3):
        listed = run("apply", "inventory.yaml", "site.yaml", "--list-hosts", "--slice", f"{number}/3", cwd=project)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        block = listed.stdout.split("hosts (", 1)[1].split("\n\n")[0]
        seen.append([line.strip() for line in block.splitlines()[1:] if line.strip()])
    assert seen == [["gpu01", "lonely"], ["gpu02"], ["cpu01"]]
    limited = run("apply", "inventory.yaml", "site.yaml", "--list-hosts", "-l", "gpu", "--slice", "2/2", cwd=project)
    assert "hosts (1):\n      gpu02" in limited.stdout


def test_a_slice_runs_only_its_hosts(tmp_path):
    write(tmp_path, {
        "inventory.yaml": "all:\n  hosts:\n    a: {ansible_connection: local}\n    b: {ansible_connection: local}\n"
                          "    c: {ansible_connection: local}\n",
        "site.yaml": f"""
            - hosts: all
              gather_facts: false
              tasks:
                - command: touch {tmp_path}/ran-{{{{ inventory_hostname }}}}
        """,
    })
    ran = run("apply", "inventory.yaml", "site.yaml", "--slice", "2/3", "--state-db", "h.db", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("ran-")) == ["ran-b"]
