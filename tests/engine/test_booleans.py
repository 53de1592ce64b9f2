"""One reading of a boolean (provision.booleans) in every place a user writes one: the `bool` filter,
a keyword (`ignore_errors: yes`), a module argument, an inventory variable (`ansible_become`), and
`when:` on a string. One table, each place read the way a user meets it.

Where the places are meant to differ, the table says so: the `bool` filter reads a non-boolean as
False (ansible-core's value, with its deprecation warning, for `'maybe' | bool`); `when:` on a
value that is not a string keeps Python's truth (`when: 2` holds).
"""
from __future__ import annotations

import pytest
import yaml

from provision.errors import ProvisionError
from provision.inventory import load_inventory
from provision.modules import get_module
from provision.modules.base import ModuleFailed, check_args
from provision.playbook.validate import load_and_validate
from provision.runner import Collect, RunOptions, run_playbook
from provision.templating import Templar, TemplateError

ERROR = "error"

# value -> what it means wherever a boolean is read (Ansible's convert_bool sets, any case, spaces
# around ignored; anything else refused).
TABLE = [
    (True, True), (False, False),
    ("yes", True), ("no", False), ("Yes", True), ("NO", False), ("true", True), ("False", False),
    (" true ", True), ("on", True), ("OFF", False), ("1", True), ("0", False), (1, True), (0, False),
    ("y", True), ("n", False), ("t", True), ("f", False),
    ("maybe", ERROR), ("", ERROR), ("2", ERROR), (2, ERROR), ("yes please", ERROR), ("none", ERROR),
]
IDS = [repr(value) for value, _ in TABLE]


def read_filter(value):
    return Templar({"value": value}).evaluate("value | bool")


def read_keyword(value, tmp_path):
    inventory = write_inventory(tmp_path, {})
    playbook = tmp_path / "site.yaml"
    playbook.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"debug": {"msg": "hi"}, "ignore_errors": value}]}]))
    try:
        loaded = load_and_validate(str(playbook), inventory)
    except ProvisionError as error:
        assert "'ignore_errors' must be a boolean" in str(error)
        return ERROR
    return loaded.plays[0].tasks[0].ignore_errors


def read_module_argument(value):
    module = get_module("copy")
    try:
        return check_args("copy", module.spec, {"dest": "/tmp/x", "content": "x", "force": value})["force"]
    except ModuleFailed as error:
        assert "argument 'force'" in str(error)
        return ERROR


def write_inventory(tmp_path, host_vars):
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"here": {"ansible_connection": "local", **host_vars}}}}))
    return load_inventory(str(path))


def read_inventory_variable(value, tmp_path):
    try:
        inventory = write_inventory(tmp_path, {"ansible_become": value})
    except ProvisionError as error:
        assert "ansible_become must be true or false" in str(error)
        return ERROR
    return inventory.hosts["here"].connection.become


def read_condition(value):
    try:
        return Templar({"value": value}).is_true(["value"])
    except TemplateError as error:
        assert "is not a boolean" in str(error)
        return ERROR


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=IDS)
def test_every_place_reads_a_boolean_the_same_way(value, expected, tmp_path):
    seen = {
        "filter": read_filter(value),
        "keyword": read_keyword(value, tmp_path),
        "module argument": read_module_argument(value),
        "inventory variable": read_inventory_variable(value, tmp_path),
        "when": read_condition(value),
    }
    wanted = dict.fromkeys(seen, expected)
    if expected == ERROR:
        wanted["filter"] = False  # ansible-core: False (deprecated, an error from 2.23)
    if not isinstance(value, str):
        wanted["when"] = bool(value)  # Python's truth for what is not text: `when: 2` holds
    assert seen == wanted


def test_when_on_a_string_runs_skips_or_fails_the_task_on_a_real_run(tmp_path):
    """`when: flag` on a real run: a boolean spelling decides; anything else fails the task, naming it."""
    inventory = write_inventory(tmp_path, {"on_word": "yes", "off_word": "off", "typo": "ture"})
    playbook = tmp_path / "site.yaml"
    playbook.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": name, "debug": {"msg": "ran"}, "when": name, "ignore_errors": True}
        for name in ("on_word", "off_word", "typo")]}]))
    events = Collect()
    run_playbook(load_and_validate(str(playbook), inventory), inventory, RunOptions(), events)
    statuses = {row.task: row.status for row in events.results}
    assert statuses == {"on_word": "ok", "off_word": "skipped", "typo": "failed"}
    failure = next(row.msg for row in events.results if row.task == "typo")
    assert "'ture' is not a boolean" in failure


def test_truthy_and_falsy_are_pythons_truth_unless_asked_to_convert(tmp_path):
    """Ansible's tests: `'no' is truthy` holds; `'no' is truthy(convert_bool=true)` does not."""
    templar = Templar({"word": "no", "other": "hello"})
    assert templar.evaluate("word is truthy") is True
    assert templar.evaluate("word is truthy(convert_bool=true)") is False
    assert templar.evaluate("word is falsy(convert_bool=true)") is True
    assert templar.evaluate("other is truthy(convert_bool=true)") is True


def test_a_keyword_template_rendering_to_no_boolean_fails_the_task_not_the_engine(tmp_path, capsys):
    """`become: "{{ x }}"` with x = maybe: the task fails at its line, naming the value; not an
    "internal error ... please report it"."""
    from provision.cli import main

    (tmp_path / "inventory.yaml").write_text("all:\n  hosts:\n    localhost: {ansible_connection: local}\n")
    (tmp_path / "playbook.yaml").write_text(
        "- hosts: all\n  gather_facts: false\n  vars: {x: maybe}\n  tasks:\n"
        "    - command: \"true\"\n      become: \"{{ x }}\"\n")
    code = main(["apply", str(tmp_path / "inventory.yaml"), str(tmp_path / "playbook.yaml"),
                 "--state-db", str(tmp_path / "history.sqlite")])
    out = capsys.readouterr().out
    assert code == 2
    assert "playbook.yaml:5:7: 'maybe' is not a boolean" in out and "internal error" not in out
