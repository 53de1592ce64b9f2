"""Where provision ran real playbooks differently from Ansible, Ansible's behaviour, each shown on a
small playbook run for real on this machine (`ansible_connection: local`)."""
from __future__ import annotations

import os

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.runner import RunOptions, run_playbook
from tests.engine.scenario import write

INVENTORY = "all:\n  hosts:\n    here: {ansible_connection: local}\n"


def run(tmp_path, playbook: str, files: dict[str, str] | None = None, options: RunOptions | None = None):
    write(tmp_path, {"inventory.yaml": INVENTORY, "site.yaml": playbook, **(files or {})})
    inventory = load_inventory(str(tmp_path / "inventory.yaml"))
    report = run_playbook(load_and_validate(str(tmp_path / "site.yaml"), inventory), inventory,
                          options or RunOptions())
    return report, {result.task: result for result in report.results}


def test_set_fact_in_a_loop_sees_what_the_item_before_set(tmp_path):
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - set_fact: {acc: "{{ acc | default([]) + [item] }}"}
              loop: [1, 2, 3]
            - assert: {that: ["acc == [1, 2, 3]"]}
        """)
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]


def test_a_label_may_name_the_loop_var(tmp_path):
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - name: each
              debug: {msg: "{{ disk.size }}"}
              loop: [{name: sda, size: 1}, {name: sdb, size: 2}]
              loop_control: {loop_var: disk, label: "{{ disk.name }}"}
              register: each
            - assert: {that: ["each.results | map(attribute='_ansible_item_label') | list == ['sda', 'sdb']"]}
        """)
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]


ROLE = {"roles/flagger/tasks/main.yaml": """
    - set_fact: {flag: true}
    - name: after the flag
      debug: {msg: second}
    """}


def test_include_role_decides_its_when_once_import_role_per_task(tmp_path):
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - include_role: {name: flagger}
              when: flag is not defined
        """, ROLE)
    assert report.exit_code == 0 and results["flagger : after the flag"].status == "ok"
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - import_role: {name: flagger}
              when: flag is not defined
        """, ROLE)
    assert report.exit_code == 0 and results["flagger : after the flag"].status == "skipped"
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - name: not now
              include_role: {name: flagger}
              when: false
        """, ROLE)
    assert [(r.task, r.status) for r in report.results] == [("flagger : not now", "skipped")]


def test_a_link_to_a_missing_source_needs_force(tmp_path):
    link, missing = tmp_path / "link", tmp_path / "nowhere"
    report, results = run(tmp_path, f"""
        - hosts: all
          gather_facts: false
          tasks:
            - name: plain
              file: {{path: {link}, src: nowhere, state: link}}
              ignore_errors: true
            - name: forced
              file: {{path: {link}, src: nowhere, state: link, force: true}}
        """)
    assert results["plain"].status == "failed" and results["plain"].msg == (
        f"src file does not exist, use 'force=yes' if you really want to create the link: {missing}")  # 2.19's
    assert results["forced"].status == "changed" and os.readlink(link) == "nowhere"


def test_with_lookup_loops_give_ansibles_items(tmp_path):
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          vars:
            names: [a, b, c]
            sizes: [1, 2]
          tasks:
            - {name: sequence, debug: {msg: "{{ item }}"}, with_sequence: "start=1 end=9 stride=4 format=gpu%02d", register: s}
            - {name: short, debug: {msg: "{{ item }}"}, with_sequence: "0x0a-0x0c", register: h}
            - {name: together, debug: {msg: "{{ item }}"}, with_together: ["{{ names }}", "{{ sizes }}"], register: t}
            - {name: nested, debug: {msg: "{{ item }}"}, with_nested: [[x, y], "{{ sizes }}"], register: n}
            - {name: indexed, debug: {msg: "{{ item }}"}, with_indexed_items: "{{ names }}", register: i}
            - {name: glob, debug: {msg: "{{ item | basename }}"}, with_fileglob: ["*.conf"], register: g}
            - {name: first, debug: {msg: "{{ item | basename }}"}, register: f,
               with_first_found: [{files: [missing.yaml, "{{ 'b.conf' }}"], paths: [files]}]}
            - {name: template, debug: {msg: "{{ lookup('template', 'hello.j2') }}"}, register: tl}
        """, {"files/a.conf": "a\n", "files/b.conf": "b\n", "files/c.txt": "c\n",
              "templates/hello.j2": "hello {{ names | join('+') }}"})
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]

    def items(task):
        return [entry["item"] for entry in results[task].output["results"]]

    assert items("sequence") == ["gpu01", "gpu05", "gpu09"] and items("short") == ["10", "11", "12"]
    assert items("together") == [["a", 1], ["b", 2], ["c", None]]
    assert items("nested") == [["x", 1], ["x", 2], ["y", 1], ["y", 2]]
    assert items("indexed") == [[0, "a"], [1, "b"], [2, "c"]]
    assert [os.path.basename(path) for path in items("glob")] == ["a.conf", "b.conf"]
    assert [os.path.basename(path) for path in items("first")] == ["b.conf"]
    assert results["template"].output["msg"] == "hello a+b+c"


def test_play_environment_async_diff_and_strategy(tmp_path):
    report, results = run(tmp_path, f"""
        - hosts: all
          gather_facts: false
          strategy: free
          environment: {{GREETING: hello}}
          tasks:
            - {{name: env, shell: 'echo "$GREETING $PART"', environment: {{PART: world}}, register: said}}
            - {{name: bounded, command: sleep 5, async: 1, poll: 1, ignore_errors: true}}
            - {{name: quiet, copy: {{dest: "{tmp_path}/quiet", content: "x\\n"}}, diff: false}}
            - {{name: loud, copy: {{dest: "{tmp_path}/loud", content: "x\\n"}}}}
        """)
    assert results["env"].output["stdout"] == "hello world"
    assert results["bounded"].status == "failed" and "timed out after 1s" in results["bounded"].msg
    assert results["bounded"].duration < 4
    assert results["quiet"].diff is None and results["loud"].diff


def test_what_cannot_run_as_asked_is_refused_before_any_host(tmp_path):
    import pytest

    from provision.errors import ValidationFailed

    write(tmp_path, {"site.yaml": """
        - hosts: all
          strategy: debug
          tasks:
            - {command: sleep 600, async: 600, poll: 0}
            - {copy: {content: x, dest: /tmp/x}, async: 600, poll: 0}
            - {command: "true", poll: 5}
        """})
    with pytest.raises(ValidationFailed) as refused:
        load_and_validate(str(tmp_path / "site.yaml"), None)
    messages = " | ".join(error.message for error in refused.value.errors)
    assert "strategy 'debug' is not supported" in messages
    assert messages.count("async with 'poll: 0'") == 1, "a command starts in the background, copy cannot"
    assert ("async with 'poll: 0' (start the task and do not wait) runs command and shell tasks in the background; "
            "'copy' does its steps from the controller") in messages
    assert "'poll' without 'async' has no meaning" in messages


def test_a_handler_no_one_defined_fails_the_task_only_when_it_is_notified(tmp_path):
    import pytest

    from provision.errors import ValidationFailed

    playbook = f"""
        - hosts: all
          gather_facts: false
          tasks:
            - name: daemon config
              copy: {{dest: "{tmp_path}/daemon.json", content: "{{}}\\n"}}
              notify: restart docker
          handlers:
            - name: Restart docker
              debug: {{msg: restarted}}
        """
    report, results = run(tmp_path, playbook)  # a warning at validation, as Ansible has none
    assert results["daemon config"].status == "failed" and results["daemon config"].msg == (
        "The requested handler 'restart docker' was not found in either the main handlers list nor in the "
        "listening handlers list")
    again, results = run(tmp_path, playbook)  # converged: nothing notified, nothing fails
    assert again.exit_code == 0 and results["daemon config"].status == "ok"
    with pytest.raises(ValidationFailed, match="did you mean 'Restart docker'"):
        load_and_validate(str(tmp_path / "site.yaml"), None, strict=True)


def test_a_looped_include_runs_its_tasks_once_per_item_with_the_loop_variable(tmp_path):
    """include_tasks/include_role with `loop` (and loop_control's loop_var and index_var), as
    DeepOps' move-home-dirs role uses it; `when` is decided per item; an empty list runs nothing."""
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          vars:
            users: [{name: alice, home: /a}, {name: bob, home: /b}, {name: carol, home: /c}]
          tasks:
            - name: each user
              include_tasks: tasks/user.yaml
              loop: "{{ users }}"
              loop_control: {loop_var: user, index_var: position}
              when: user.name != 'bob'
            - name: each role run
              include_role: {name: counter}
              with_items: [x, y]
            - name: nothing to do
              include_tasks: tasks/user.yaml
              loop: []
            - assert: {that: ["seen == ['0 alice /a', '2 carol /c']", "counted == ['x', 'y']"]}
        """, {"tasks/user.yaml": """
            - set_fact: {seen: "{{ seen | default([]) + [position ~ ' ' ~ user.name ~ ' ' ~ user.home] }}"}
            """,
              "roles/counter/tasks/main.yaml": """
            - set_fact: {counted: "{{ counted | default([]) + [item] }}"}
            """})
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]
    assert [r.status for r in report.results if r.task == "each user"] == ["skipped"], "bob, by the when"
    assert results["nothing to do"].status == "skipped" and results["nothing to do"].msg == "No items in the list"


def test_a_looped_include_whose_loop_is_not_a_list_fails_on_the_host(tmp_path):
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          vars: {one: 5}
          tasks:
            - name: not a list
              include_tasks: tasks/user.yaml
              loop: "{{ one }}"
        """, {"tasks/user.yaml": "- debug: {msg: '{{ item }}'}\n"})
    assert report.exit_code != 0 and results["not a list"].status == "failed"
    assert "loop must give a list, got int" in results["not a list"].msg


def test_vars_names_every_variable_in_scope(tmp_path):
    """Ansible's magic `vars`, as DeepOps' autofs and kerberos_client roles check their inputs:
    `item not in vars`, `vars[name]`; it holds loop variables and set facts too, never itself."""
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          vars: {autofs_mount: /mnt}
          tasks:
            - name: required
              fail: {msg: "Variable '{{ item }}' is not defined"}
              when: item not in vars
              with_items: [autofs_mount, autofs_map]
              ignore_errors: true
            - set_fact: {later: 2}
            - assert:
                that:
                  - vars['autofs_mount'] == '/mnt'
                  - vars.later == 2
                  - "'vars' not in vars"
                  - (vars | dict2items | selectattr('key', 'equalto', 'later') | list | length) == 1
        """)
    failed = [entry["item"] for entry in results["required"].output["results"] if entry.get("failed")]
    assert failed == ["autofs_map"], results["required"].output
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]


def test_with_subelements_pairs_each_mapping_with_each_element_of_its_list(tmp_path):
    """Ansible's subelements: users and their keys, `item.0` the user (without the list, which the
    lookup takes out) and `item.1` one key; a dotted path walks into mappings, and skip_missing
    passes over a missing step (so carol's nested list and alice's top-level one both count, as in
    ansible-core 2.19); a user without the key fails the loop unless skip_missing."""
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          vars:
            users:
              - {name: alice, sshkeys: [k1, k2]}
              - {name: bob, sshkeys: []}
              - {name: carol, nested: {sshkeys: [k3]}}
          tasks:
            - name: pairs
              debug: {msg: "{{ item.0.name }} {{ item.1 }} {{ item.0.sshkeys is defined }}"}
              with_subelements: [ "{{ users }}", sshkeys, {skip_missing: true} ]
              register: pairs
            - name: dotted
              debug: {msg: "{{ item.0.name }} {{ item.1 }}"}
              with_subelements: [ "{{ users }}", nested.sshkeys, {skip_missing: true} ]
              register: dotted
            - assert:
                that:
                  - pairs.results | map(attribute='msg') | list == ['alice k1 False', 'alice k2 False']
                  - dotted.results | map(attribute='msg') | list == ['alice k1', 'alice k2', 'carol k3']
                  - users[0].sshkeys == ['k1', 'k2']
            - name: missing
              debug: {msg: "{{ item.1 }}"}
              loop: "{{ query('subelements', users, 'sshkeys') }}"
        """)
    assert results["missing"].status == "failed"
    assert "could not find 'sshkeys' key in iterated item" in results["missing"].msg, results["missing"].msg
    assert [r.task for r in report.results if r.status == "failed"] == ["missing"], \
        [(r.task, r.msg) for r in report.results if r.status == "failed"]


def test_an_include_with_a_templated_file_name_picks_its_file_on_the_host(tmp_path):
    """The Galaxy idiom `include_tasks: "{{ ansible_os_family | lower }}.yml"`: every file the
    name could pick is loaded and checked first (one using a module provision lacks is only a
    warning: this host never picks it); the host runs the file its facts pick; a name that picks no
    file fails that host, naming the candidates; a looped one picks per item."""
    write(tmp_path, {"roles/os/tasks/main.yaml": """
        - include_tasks: "{{ ansible_os_family | lower }}.yml"
        - include_tasks: "step-{{ item }}.yml"
          loop: [one, two]
        """,
                     "roles/os/tasks/debian.yml": "- set_fact: {family_file: debian}\n",
                     "roles/os/tasks/suse.yml": "- zypper: {name: tool}\n",
                     "roles/os/tasks/step-one.yml": "- set_fact: {steps: \"{{ steps | default([]) + ['one'] }}\"}\n",
                     "roles/os/tasks/step-two.yml": "- set_fact: {steps: \"{{ steps | default([]) + ['two'] }}\"}\n"})
    playbook = """
        - hosts: all
          vars: {flavour: none}
          roles: [os]
          tasks:
            - assert: {that: ["family_file == 'debian'", "steps == ['one', 'two']"]}
            - name: no such file
              include_tasks: "tasks/{{ flavour }}.yml"
        """
    write(tmp_path, {"tasks/real.yml": "- debug: {msg: real}\n"})
    report, results = run(tmp_path, playbook)
    assert results["assert"].status == "ok", [(r.task, r.msg) for r in report.results if r.status == "failed"]
    missing = results["no such file"]
    assert missing.status == "failed" and "tasks file 'tasks/none.yml' not found" in missing.msg
    assert "could pick: tasks/real.yml" in missing.msg, missing.msg
    loaded = load_and_validate(str(tmp_path / "site.yaml"), load_inventory(str(tmp_path / "inventory.yaml")))
    assert [warning.message for warning in loaded.warnings if "zypper" in warning.message], loaded.warnings


def test_include_vars_values_may_name_each_other_and_merge_into_the_hosts_value(tmp_path):
    """A vars file whose value names another of the same file (ansible-core's include_vars target,
    service_vars_fqcn.yml); hash_behaviour: merge merges into what the host already has, while
    several files of one task replace each other; a failure is reported under `message`, as
    Ansible's include_vars reports it, and a first_found with errors='ignore' that found nothing
    leaves `file:` empty, which fails."""
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - include_vars: vars/service.yml
            - include_vars: {file: vars/one.yml}
            - include_vars: {file: vars/two.yml, hash_behaviour: merge}
            - assert:
                that:
                  - service_label == 'web on 8080'
                  - "config == {'a': 1, 'b': {'x': 1, 'y': 2}, 'c': 3}"
            - name: nothing found
              include_vars: {file: "{{ lookup('first_found', ['absent.yml'], errors='ignore') }}"}
              register: none_found
              ignore_errors: true
            - assert: {that: ["'Could not find file' in none_found.message", "'[{{ none }}]' == '[]'"]}
        """, {"vars/service.yml": "service_name: web\nservice_label: \"{{ service_name }} on {{ port }}\"\nport: 8080\n",
              "vars/one.yml": "config: {a: 1, b: {x: 1}}\n",
              "vars/two.yml": "config: {b: {y: 2}, c: 3}\n"})
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed" and not r.ignored]


def test_a_task_timeout_fails_the_task_with_ansibles_words(tmp_path):
    """The task keyword `timeout: N` (a template may give it): a task still running after N
    seconds fails as ansible-core 2.19 fails it, with `timedout.period`; a faster one is untouched."""
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - name: slow
              command: sleep 5
              timeout: 1
              register: slow
              ignore_errors: true
            - name: fast enough
              command: echo ok
              timeout: "{{ 2 + 1 }}"
            - assert: {that: ["slow.msg == 'Task failed: Timed out after 1 second(s).'", "slow.timedout.period == 1"]}
        """)
    assert results["slow"].status == "failed" and results["slow"].duration < 4
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed" and not r.ignored]


def test_with_filetree_lays_a_folder_of_templates_out_as_deepops_docker_rootless_does(tmp_path):
    """community.general's filetree, as DeepOps' docker-rootless role uses it: directories first
    (state == 'directory'), then each file templated to the same relative path, with its mode."""
    dest = tmp_path / "installed"
    tasks = """
        - name: folders
          file: {path: "{{ dest }}/{{ item.path }}", state: directory, mode: '0755'}
          with_filetree: "{{ role_path }}/templates/tree"
          when: item.state == 'directory'
        - name: files
          template: {src: "{{ item.src }}", dest: "{{ dest }}/{{ item.path }}", mode: "{{ item.mode }}"}
          with_filetree: "{{ role_path }}/templates/tree"
          when: item.state == 'file'
          register: files
        - assert:
            that: files.results | rejectattr('skipped', 'defined') | map(attribute='item.path') | sort | list
                  == ['bin/start.sh', 'etc/conf/app.conf']
        """
    write(tmp_path, {"roles/rootless/templates/tree/bin/start.sh": "#!/bin/sh\necho {{ who }}\n",
                     "roles/rootless/templates/tree/etc/conf/app.conf": "user={{ who }}\n",
                     "roles/rootless/tasks/main.yaml": tasks})
    os.chmod(tmp_path / "roles/rootless/templates/tree/bin/start.sh", 0o755)
    report, results = run(tmp_path, f"""
        - hosts: all
          gather_facts: false
          roles: [rootless]
          vars: {{dest: "{dest}", who: gpu}}
        """)
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]
    assert (dest / "bin" / "start.sh").read_text() == "#!/bin/sh\necho gpu\n"
    assert oct((dest / "bin" / "start.sh").stat().st_mode & 0o777) == "0o755"
    assert (dest / "etc" / "conf" / "app.conf").read_text() == "user=gpu\n"


def test_a_templated_include_looks_past_yaml_that_is_no_tasks_file_and_past_cycles(tmp_path):
    """Beside the playbook: an inventory, another playbook and a file that does not parse are no
    candidates (and no errors); a role's tasks/main.yml that includes the including file is no
    candidate either (it leads back); a name found only in a later folder still counts."""
    write(tmp_path, {"hosts.yml": "all:\n  hosts: {a: {}}\n", "other.yml": "- hosts: all\n  tasks: []\n",
                     "broken.yml": "- name: [unclosed\n",
                     "roles/os/tasks/main.yaml": "- include_tasks: setup.yml\n",
                     "roles/os/tasks/setup.yml": '- include_tasks: "{{ ansible_os_family | lower }}.yml"\n',
                     "roles/os/tasks/debian.yml": "- set_fact: {picked: role}\n",
                     "top.yml": "- set_fact: {top: true}\n"})
    report, results = run(tmp_path, """
        - hosts: all
          roles: [os]
          tasks:
            - include_tasks: "{{ 'to' ~ 'p' }}.yml"
            - assert: {that: ["picked == 'role'", "top"]}
        """)
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]
    report, results = run(tmp_path, """
        - hosts: all
          tasks:
            - name: not selected, so not rendered
              include_tasks: "{{ no_such_variable }}.yml"
              tags: [elsewhere]
        """, options=RunOptions(tags={"never-given"}))
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed"]


def test_the_task_timeout_bounds_a_command_that_asks_for_longer_and_errors_ignore_gives_nothing(tmp_path):
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          tasks:
            - name: own timeout 30, task timeout 1
              command: sleep 5
              args: {timeout: 30}
              timeout: 1
              ignore_errors: true
            - set_fact:
                globbed: "[{{ lookup('fileglob', '/no/such/dir/*', errors='ignore') }}]"
                found_none: "{{ lookup('first_found', ['/no/such/file'], errors='ignore') }}"
                copied: "{{ vars }}"
            - assert:
                that:
                  - globbed == '[]'
                  - found_none is none
                  - copied is mapping and copied.globbed is not defined
                  - (copied | dict2items | selectattr('key', 'equalto', 'found_none') | list | length) == 0
            - name: a name with a newline
              hostname: {name: "gpu01\\n"}
              check_mode: true
              ignore_errors: true
        """)
    timed = results["own timeout 30, task timeout 1"]
    assert timed.status == "failed" and timed.duration < 4, (timed.msg, timed.duration)
    assert results["a name with a newline"].status == "failed" and "not a valid host name" in \
        results["a name with a newline"].msg
    assert report.exit_code == 0, [(r.task, r.msg) for r in report.results if r.status == "failed" and not r.ignored]


def test_local_action_and_action_take_the_mapping_form_and_a_play_says_its_connection(tmp_path):
    """DeepOps' slurm-validation.yml: `local_action: {module: copy, ...}`; its DGX firmware play:
    `connection: paramiko_ssh` (what provision always uses)."""
    out = tmp_path / "out.txt"
    report, results = run(tmp_path, f"""
        - hosts: all
          gather_facts: false
          connection: paramiko_ssh
          tasks:
            - name: written here
              local_action:
                module: copy
                content: "x={{{{ 1 + 1 }}}}\\n"
                dest: {out}
            - name: read back
              action: {{module: command, cmd: cat {out}}}
              register: back
            - assert: {{that: ["back.stdout == 'x=2'"]}}
        """)
    assert report.failed_hosts == [] and results["written here"].status == "changed", results
    assert out.read_text() == "x=2\n"


def test_a_play_connection_other_than_ssh_is_refused_by_name(tmp_path):
    import pytest

    from provision.errors import ValidationFailed

    write(tmp_path, {"site.yaml": """
        - hosts: all
          connection: local
          tasks:
            - local_action: {module: ""}
        """})
    with pytest.raises(ValidationFailed) as refused:
        load_and_validate(str(tmp_path / "site.yaml"), None)
    messages = " | ".join(error.message for error in refused.value.errors)
    assert "play keyword 'connection: local' is not supported" in messages
    assert "'local_action' must be 'module key=value ...' or a mapping with 'module:'" in messages


def test_an_undefined_name_in_a_task_whose_failure_is_ignored_fails_it_when_it_runs(tmp_path):
    """As Ansible (its template target): the task fails at run time, registered `failed` with
    the message, and the play goes on; validation warns instead of refusing the run (--strict
    still refuses)."""
    import pytest

    from provision.errors import ValidationFailed

    playbook = """
        - hosts: all
          gather_facts: false
          tasks:
            - debug: {msg: "{{ 'x' in y }}"}
              ignore_errors: yes
              register: error
            - assert: {that: ["error is failed", "'y' in error.msg"]}
            - debug: {msg: "{{ z }}"}
        """
    write(tmp_path, {"site.yaml": playbook})
    with pytest.raises(ValidationFailed) as refused:
        load_and_validate(str(tmp_path / "site.yaml"), load_inventory_text(tmp_path))
    messages = [error.message for error in refused.value.errors]
    assert messages == ["undefined variable 'z'"], "only the task whose failure is not ignored is refused"
    write(tmp_path, {"site.yaml": playbook.replace('- debug: {msg: "{{ z }}"}', "- ping:")})
    loaded = load_and_validate(str(tmp_path / "site.yaml"), load_inventory_text(tmp_path))
    assert any("undefined variable 'y'; the task fails when it runs" in warning.message for warning in loaded.warnings)
    with pytest.raises(ValidationFailed):
        load_and_validate(str(tmp_path / "site.yaml"), load_inventory_text(tmp_path), strict=True)
    report, results = run(tmp_path, playbook.replace('- debug: {msg: "{{ z }}"}', "- ping:"))
    assert report.failed_hosts == [] and results["assert"].status == "ok", results


def load_inventory_text(tmp_path):
    write(tmp_path, {"inventory.yaml": INVENTORY})
    return load_inventory(str(tmp_path / "inventory.yaml"))


def test_a_role_entrys_task_keywords_reach_every_task_of_the_role(tmp_path):
    """`roles: [{role: x, environment: ..., ignore_errors: true, become_user: ...}]`: Ansible applies
    them to the role's tasks; they were accepted and dropped."""
    report, results = run(tmp_path, """
        - hosts: all
          gather_facts: false
          roles:
            - role: greeter
              environment: {GREETING: hello from the entry}
              ignore_errors: true
          tasks:
            - assert: {that: ["said.stdout == 'hello from the entry'", "broke is failed"]}
        """, files={"roles/greeter/tasks/main.yml": """
            - name: say
              shell: echo "$GREETING"
              register: said
            - name: break
              command: "false"
              register: broke
            - name: after the failure
              debug: {msg: still running}
        """})
    assert report.failed_hosts == [], results
    assert results["greeter : break"].status == "failed" and results["greeter : after the failure"].status == "ok"
    assert results["assert"].status == "ok", results["assert"].msg


def test_failed_when_and_changed_when_see_the_modules_own_verdict(tmp_path):
    """`failed_when: r is not changed` reads what the module said (as Ansible's registered result
    carries `changed` and `failed` before the conditions): it was always false here once."""
    report, results = run(tmp_path, f"""
        - hosts: all
          gather_facts: false
          tasks:
            - name: changes
              copy: {{content: "x", dest: "{tmp_path}/flag"}}
              register: made
              failed_when: made is not changed
            - name: does not change
              copy: {{content: "x", dest: "{tmp_path}/flag"}}
              register: again
              failed_when: again is changed
            - name: judged
              command: "true"
              register: ran
              changed_when: ran is changed and ran is not failed and false
        """)
    assert [results[name].status for name in ("changes", "does not change", "judged")] == ["changed", "ok", "ok"]
