"""assert, fail, debug and set_fact: decided on the control machine, so no host is needed.

They are read-only: check mode runs them as normal, so a later `when:` sees real values.
"""
import pytest

from provision.modules.context import TaskContext
from provision.templating import Templar
from provision.transport.local import LocalTransport
from tests.conftest import run_module

VARIABLES = {"gpus": 8, "driver": "550.54", "enabled": "false", "nodes": ["a", "b"]}


def context(check=False, **variables):
    templar = Templar({**VARIABLES, **variables})
    return TaskContext(transport=LocalTransport(), check=check, render_text=templar.render_text,
                       evaluate_expression=templar.evaluate)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check mode"])
def test_assert_passes_when_every_expression_holds(check):
    result = run_module("assert", {"that": ["gpus == 8", "driver is version('535', '>=')", "nodes | length == 2"],
                                   "success_msg": "fleet ok"}, context(check=check))
    assert (result.status, result.data["msg"]) == ("ok", "fleet ok")


def test_assert_fails_with_the_message_and_the_failing_expression():
    result = run_module("assert", {"that": ["gpus == 8", "gpus > 8"], "fail_msg": "need more GPUs"}, context())
    assert (result.status, result.msg) == ("failed", "need more GPUs")
    assert result.data["assertion"] == "gpus > 8" and result.data["evaluated_to"] is False


def test_assert_reads_the_string_false_as_false_like_when_does():
    result = run_module("assert", {"that": "enabled"}, context())
    assert result.status == "failed"


def test_a_failed_assertion_without_fail_msg_names_it_and_its_value():
    """Ansible shows the failed expression (`assertion`, `evaluated_to`) next to "Assertion failed"."""
    result = run_module("assert", {"that": ["gpus == 8", "nodes | length > 2"]}, context())
    assert result.msg == "Assertion failed: nodes | length > 2 (evaluated to False)"


def test_assert_on_an_undefined_variable_fails_the_task_naming_it():
    result = run_module("assert", {"that": "no_such_var > 1"}, context())
    assert result.status == "failed" and "no_such_var" in result.msg


def test_fail_fails_with_its_message_even_in_check_mode():
    assert run_module("fail", {"msg": "drain the node first"}, context(check=True)).msg == "drain the node first"
    assert run_module("fail", {}, context()).status == "failed"


def test_debug_msg_and_var():
    assert run_module("debug", {"msg": "hello"}, context()).data == {"msg": "hello"}
    assert run_module("debug", {"var": "nodes | join(',')"}, context(check=True)).data == {"nodes | join(',')": "a,b"}
    assert run_module("debug", {}, context()).data == {"msg": "Hello world!"}


def test_debug_of_an_undefined_variable_says_so_and_does_not_fail():
    result = run_module("debug", {"var": "not_set"}, context())
    assert (result.status, result.data) == ("ok", {"not_set": "VARIABLE IS NOT DEFINED!"})


def test_debug_with_a_broken_expression_fails():
    assert run_module("debug", {"var": "gpus +"}, context()).status == "failed"
    assert run_module("debug", {"var": "gpus", "msg": "x"}, context()).status == "failed"


def test_set_fact_returns_the_facts_for_the_runner():
    result = run_module("set_fact", {"cluster": "lab", "ranks": [0, 1], "cacheable": True}, context(check=True))
    assert (result.status, result.data) == ("ok", {"ansible_facts": {"cluster": "lab", "ranks": [0, 1]}})


@pytest.mark.parametrize("args, message", [({}, "at least one"), ({"bad-name": 1}, "bad-name")])
def test_set_fact_refuses_nothing_or_invalid_names(args, message):
    result = run_module("set_fact", args, context())
    assert result.status == "failed" and message in result.msg


def test_a_spec_default_is_not_shared_between_tasks():
    from provision.modules.json_merge import JsonMerge

    first = JsonMerge.check_args({"path": "/a"})
    first["keys"]["leaked"] = True
    assert JsonMerge.check_args({"path": "/b"})["keys"] == {}


def test_assert_on_a_string_that_is_no_boolean_fails_like_when_does():
    result = run_module("assert", {"that": "mode"}, context(mode="maybe"))
    assert result.status == "failed" and "the assertion 'mode' is not a boolean" in result.msg
    assert result.data["evaluated_to"] == "maybe"
