"""Templates run in Jinja2's sandbox: nothing in an inventory, a playbook or an extra var reaches
Python on the controller, and every filter provision offers still works. No host needed."""
from __future__ import annotations

import base64

import pytest

from provision.cli import main
from provision.templating import Templar, TemplateError

ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARK').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch MARK') }}",
    "{{ lipsum.__globals__['os'].system('touch MARK') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ (lipsum | attr('__globals__'))['os'].system('touch MARK') }}",
    "{{ self._TemplateReference__context }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% set x = cycler.__init__ %}{{ x }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_python_internals_are_out_of_reach(template, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateError) as caught:
        Templar({"x": 1}).render(template.replace("MARK", str(marker)))
    assert caught.value.refused and "sandbox" in caught.value.message
    assert not marker.exists()


def test_an_escape_in_an_extra_var_is_refused_before_any_host(capsys, tmp_path):
    playbook = tmp_path / "site.yaml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=\"{{ banner }}\"\n")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    web1:\n      ansible_host: 192.0.2.1\n")
    code = main(["lint", str(inventory), str(playbook), "-e",
                 '{"banner": "{{ cycler.__init__.__globals__.os.popen(\'id\').read() }}"}'])
    assert code == 1
    assert "template reaches for '__init__'" in capsys.readouterr().err


FILTERS = [
    ("{{ {'a': 1} | combine({'b': 2}) }}", {"a": 1, "b": 2}),
    ("{{ {'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=true) }}", {"a": {"x": 1, "y": 2}}),
    ("{{ {'a': 1} | dict2items | items2dict }}", {"a": 1}),
    ("{{ 'a-b' | regex_replace('-', '_') }}", "a_b"),
    ("{{ 'v12.3' | regex_search('[0-9.]+') }}", "12.3"),
    ("{{ 'a1b22' | regex_findall('[0-9]+') }}", ["1", "22"]),
    ("{{ {'a': [1]} | to_json }}", '{"a": [1]}'),
    ("{{ '{\"a\": 1}' | from_json }}", {"a": 1}),
    ("{{ {'a': 1} | to_nice_yaml }}", "a: 1\n"),
    ("{{ 'a: [1]' | from_yaml }}", {"a": [1]}),
    ("{{ '/x/y.tar.gz' | basename }} {{ '/x/y' | dirname }}", "y.tar.gz /x"),
    ("{{ 'hi' | b64encode }}", base64.b64encode(b"hi").decode()),
    ("{{ 'aGk=' | b64decode }}", "hi"),
    # Ansible's hash: sha1 by default, any hashlib name (the copy target compares content by it)
    ("{{ 'test' | hash }} {{ 'test' | hash('md5') }}", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 "
                                                      "098f6bcd4621d373cade4e832627b4f6"),
    ("{{ \"it's\" | quote }}", "'it'\"'\"'s'"),
    ("{{ true | ternary('on', 'off') }}", "on"),
    ("{{ [1, [2, [3]]] | flatten }}", [1, 2, 3]),
    ("{{ [1, 2, 3] | difference([2]) }} {{ [1, 2] | union([3]) }}", "[1, 3] [1, 2, 3]"),
    ("{{ 'yes' | bool }}", True),
    ("{{ nope | default('d') }}", "d"),
    ("{{ [3, 1, 2] | sort | map('string') | join(',') }}", "1,2,3"),
    ("{{ [{'n': 1}, {'n': 2}] | selectattr('n', 'gt', 1) | map(attribute='n') | list }}", [2]),
    ("{{ '1.10' is version('1.9', '>') }}", True),
    ("{{ 'abc' is match('a') }} {{ [1] is subset([1, 2]) }}", "True True"),
    ("{{ ['a', 'b'] | zip([1, 2]) | list }}", [["a", 1], ["b", 2]]),
    ("{{ 'a,b' | split(',') }}", ["a", "b"]),
    ("{{ 5 | string ~ 'x' }} {{ '7' | int + 1 }} {{ 'ab' | upper }}", "5x 8 AB"),
    ("{{ lookup('env', 'PROVISION_NO_SUCH_VARIABLE', default='none') }}", "none"),
]


@pytest.mark.parametrize("template, value", FILTERS)
def test_the_filters_provision_offers_work_in_the_sandbox(template, value):
    assert Templar({}).render(template) == value


def test_usage_errors_are_bad_input_not_a_failed_task(capsys):
    assert main(["apply", "-f", "0", "inventory.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("usage: provision apply") and "error: argument -f/--forks: must be at least 1, not 0" in err
    assert main(["no-such-command"]) == 1
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0


def test_keys_starting_with_an_underscore_are_data_not_internals(capsys, tmp_path):
    """A JSON answer's `_id` is read from the dict, at validation and at run time alike."""
    assert Templar({"r": {"_id": 5, "_source": {"a": 1}}}).render("{{ r._id }} {{ r['_id'] }} {{ r._source.a }}") == "5 5 1"
    playbook = tmp_path / "site.yaml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  vars:\n    r: {_id: 1}\n"
                        "  tasks:\n    - debug:\n        msg: \"{{ r._id }} {{ r['_id'] }}\"\n")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    web1:\n      ansible_host: 192.0.2.1\n")
    assert main(["lint", str(inventory), str(playbook)]) == 0, capsys.readouterr().err
