"""What one input may cost the controller (provision.limits): each bound refuses with a clear error,
fast, and what stays under the bounds still works. No host needed: these run in this process."""
from __future__ import annotations

import json
import time

import pytest

from provision.errors import InputError
from provision.limits import Budget, Limits, describe, weight
from provision.templating import Templar, TemplateError, resolve_variables
from provision.variables import find_cycles
from provision.yamlsource import load_data, load_text_with_problems, read_text

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def refused(template: str, limits: Limits | None = None, variables: dict | None = None) -> str:
    """The message of a refused rendering (it must be a refusal, not another template error)."""
    with pytest.raises(TemplateError) as caught:
        Templar(variables or {}, limits=limits or Limits()).render(template)
    assert caught.value.refused, caught.value
    return caught.value.message


# ---- YAML ---------------------------------------------------------------------------------------

def test_a_billion_laughs_is_refused_at_the_alias_that_passes_the_budget():
    started = time.monotonic()
    data, problems = load_text_with_problems(LAUGHS, "vars.yml")
    assert data is None and time.monotonic() - started < 1
    assert "aliases expand to more than 100,000 nodes" in problems[0].message
    assert problems[0].mark.line == 6  # f: the first level past 100,000 nodes


def test_aliases_under_the_budget_and_merge_keys_still_load():
    data, problems = load_text_with_problems("base: &b {port: 80, user: web}\nweb:\n  <<: *b\n  port: 8080\n", "v.yml")
    assert problems == [] and data["web"] == {"port": 8080, "user": "web"}


def test_an_alias_inside_its_own_node_is_refused():
    _, problems = load_text_with_problems("x: &me [1, *me]\n", "v.yml")
    assert "alias *me refers to the node that contains it" in problems[0].message


@pytest.mark.parametrize("text", ["x: " + "[" * 5000 + "]" * 5000, "x:\n" + "- " * 5000 + "leaf\n",
                                  "x: " + "{a: " * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_refused_before_python_recursion_gives_out(text):
    started = time.monotonic()
    _, problems = load_text_with_problems(text, "deep.yml")
    assert "nested more than 100 levels deep" in problems[0].message
    assert time.monotonic() - started < 0.5


def test_nesting_up_to_the_limit_loads():
    data, problems = load_text_with_problems("x: " + "[" * 90 + "]" * 90, "v.yml", Limits(yaml_depth=100))
    assert problems == [] and isinstance(data["x"], list)


def test_a_nul_byte_is_pointed_at():
    _, problems = load_text_with_problems("a: 1\nb: x\x00y\n", "v.yml")
    assert "character #x0000 is not allowed in YAML (a NUL byte" in problems[0].message
    assert (problems[0].mark.line, problems[0].mark.column) == (2, 5)


def test_non_utf8_bytes_are_pointed_at(tmp_path):
    path = tmp_path / "v.yml"
    path.write_bytes(b"a: 1\nb: \"caf\xe9\"\n")
    with pytest.raises(InputError) as caught:
        read_text(str(path))
    assert "not UTF-8 text: byte 0xe9" in caught.value.message
    assert (caught.value.mark.line, caught.value.mark.column) == (2, 8)


def test_a_file_larger_than_the_limit_is_not_read_whole(tmp_path):
    path = tmp_path / "big.yml"
    path.write_text("# padding\n" * 100)
    with pytest.raises(InputError, match="larger than"):
        read_text(str(path), Limits(file_bytes=500))
    started = time.monotonic()
    with pytest.raises(InputError, match="larger than 2 MiB"):
        read_text("/dev/zero")  # a device by mistake: read up to the limit, then refused
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("text, says", [
    ("$ANSIBLE_VAULT;1.1;AES256\n6231\n", "this is vault-encrypted: give its password with --vault-password-file"),
    ("pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n", "this is vault-encrypted: give its password"),
    ("x: !!python/object/apply:os.system [id]\n", "YAML tag '!!python/object/apply:os.system' is not supported"),
])
def test_vault_and_python_tags_are_named(text, says):
    _, problems = load_text_with_problems(text, "v.yml")
    assert says in problems[0].message


def test_from_yaml_on_a_hosts_output_has_the_same_limits():
    assert Templar({"out": "a: 1\nb: [2, 3]\n"}).render("{{ out | from_yaml }}") == {"a": 1, "b": [2, 3]}
    with pytest.raises(TemplateError, match="aliases expand"):
        Templar({"out": LAUGHS}).render("{{ out | from_yaml }}")
    assert load_data("---\na: 1\n---\nb: 2\n", "<t>") == [{"a": 1}, {"b": 2}]


# ---- templates ----------------------------------------------------------------------------------

@pytest.mark.parametrize("template, says", [
    ("{{ range(10**9) | list }}", "range() of 1,000,000,000 items"),
    ("{{ 'x' * 10**9 }}", "'*' would build a value of more than 16 MiB"),
    ("{{ ['x' * 1000000] * 100 }}", "'*' would build a value"),
    ("{{ 10 ** 100000 }}", "'**' would compute an integer of about 332,193 bits"),
    ("{{ '%*d' % (10**9, 1) }}", "a '%' width"),
    ("{{ '{:>999999999}'.format(1) }}", "a format width"),
    ("{{ 'x'.center(10**9) }}", "str.center()"),
    ("{{ 'x' | center(10**9) }}", "center()"),
    ("{{ lipsum(10**6) }}", "lipsum() is limited"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
     "more than 1,000,000 loop iterations and calls"),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "the template writes more than 16 MiB"),
    ("{% set b %}{% for i in range(100000) %}" + "y" * 1000 + "{% endfor %}{% endset %}{{ b | length }}",
     "the template writes more than 16 MiB"),
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "'~' would build a value"),
    ("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}"
     "{{ ns.l | to_json }}", "the filter 'to_json' would build a value"),
])
def test_a_template_asking_too_much_is_refused_fast(template, says):
    started = time.monotonic()
    assert says in refused(template)
    assert time.monotonic() - started < 5


def test_text_built_in_all_is_bounded():
    template = ("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% do ns.l.append('x' * 1000) %}"
                "{% endfor %}{{ ns.l | length }}")
    assert "builds more than 1 MiB of text in all" in refused(template, Limits(template_work=2**20))


def test_a_slow_rendering_is_stopped_at_the_deadline():
    template = "{% for a in range(100000) %}{{ [1, 2, 3] | to_json | from_json | to_json }}{% endfor %}"
    started = time.monotonic()
    assert "took longer than" in refused(template, Limits(template_seconds=0.01))
    assert time.monotonic() - started < 2


def test_a_loop_longer_than_provision_runs_is_refused():
    templar = Templar({"hosts": list(range(20))}, limits=Limits(loop_items=10))
    assert templar.render_loop("{{ hosts[:10] }}") == list(range(10))
    with pytest.raises(TemplateError, match="the loop gives 20 items; provision runs at most 10 per task"):
        templar.render_loop("{{ hosts }}")


def test_templates_under_the_limits_render_as_before():
    templar = Templar({"names": ["b", "a"], "d": {"x": 1}, "n": 3})
    assert templar.render("{% for i in range(n) %}{{ i }}{% endfor %}") == "012"
    assert templar.render("{{ names | sort | join(',') ~ '!' }}") == "a,b!"
    assert templar.render("{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '%05d' % 42 }} {{ [0] * 3 }}") == "ababab 1024 00042 [0, 0, 0]"
    assert templar.render("{{ d | combine({'y': 2}) }}") == {"x": 1, "y": 2}
    assert templar.render("{{ 'x' | center(5) }}|{{ 'a\nb' | indent(2) }}") == "  x  |a\n  b"


def test_weight_counts_shared_items_each_time_without_walking_them_each_time():
    shared = ["x" * 10] * 3
    assert weight(shared, 10**6) == weight(["x" * 10, "x" * 10, "x" * 10], 10**6)
    value: list = ["x"]
    for _ in range(100):
        value = [value, value]
    started = time.monotonic()
    assert weight(value, 10**6) > 10**6  # 2^100 leaves: counted, capped, in no time
    assert time.monotonic() - started < 0.1


def test_budget_steps_and_output():
    budget = Budget(Limits(template_steps=3, template_output=10))
    budget.step(3)
    with pytest.raises(Exception, match="more than 3 loop iterations"):
        budget.step()
    with pytest.raises(Exception, match="writes more than 10"):
        budget.write(11)


def test_every_limit_is_described():
    names = [name for name, _, _ in describe()]
    assert names == ["file_bytes", "yaml_depth", "yaml_alias_nodes", "template_output", "template_work",
                     "template_steps", "template_seconds", "integer_bits", "loop_items", "range_items"]
    assert dict((name, value) for name, value, _ in describe())["file_bytes"] == "2 MiB"


# ---- variables that need each other -------------------------------------------------------------

def test_variables_on_a_ring_fail_where_used_naming_the_ring():
    variables = resolve_variables({"a": "{{ b }}/x", "b": "{{ a }}", "c": "{{ c }}", "d": "{{ e }}", "e": "ok",
                                   "f": "{{ item }}"})
    assert json.loads(json.dumps(variables))["a"] == "{{ b }}/x"  # still the text written, for reports
    templar = Templar(variables)
    assert templar.render("{{ d }}") == "ok"
    with pytest.raises(TemplateError, match="variables 'a' -> 'b' -> 'a' refer to each other"):
        templar.render("{{ a }}")
    with pytest.raises(TemplateError, match="variable 'c' refers to itself"):
        templar.extended({"item": 1}).render("x {{ c }}")
    assert templar.extended({"item": 1}).render("{{ f }}") == "{{ item }}"  # waiting for its loop, no ring


def test_find_cycles_reports_each_ring_once():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}, "x": {"y"}}) == [
        ["a", "b", "c", "a"], ["d", "d"]]
