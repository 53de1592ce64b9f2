"""json_merge's decision, table-driven: given a file's text, the bytes it would write (or None)."""
import json

import pytest

from provision.modules.base import ModuleFailed
from provision.modules.json_merge import JsonMerge
from provision.modules.remote_file import FileState, sha1

PATH = "/etc/docker/daemon.json"


def wanted(text: str | None, **given) -> str | None:
    module = JsonMerge(JsonMerge.check_args({"path": PATH, **given}), context=None)
    if text is None:
        state = FileState(PATH, "absent")
    else:
        state = FileState(PATH, "file", checksum=sha1(text.encode()), size=len(text.encode()), content=text)
    result = module.wanted_content(state)
    return None if result is None else result.decode()


RUNTIME = {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}


def test_sets_named_keys_and_keeps_the_others_in_their_order():
    text = '{"log-driver": "json-file", "debug": false}\n'
    written = wanted(text, keys={"runtimes": RUNTIME, "debug": True})
    assert list(json.loads(written)) == ["log-driver", "debug", "runtimes"]
    assert json.loads(written) == {"log-driver": "json-file", "debug": True, "runtimes": RUNTIME}


def test_nested_values_are_compared_as_data_not_text():
    text = '{"runtimes":{"nvidia":{"runtimeArgs":[],"path":"nvidia-container-runtime"}},"x":1}'
    assert wanted(text, keys={"runtimes": RUNTIME}) is None


def test_a_nested_value_is_replaced_as_a_whole():
    text = json.dumps({"runtimes": {"runc-old": {"path": "/bin/runc"}}})
    assert json.loads(wanted(text, keys={"runtimes": RUNTIME})) == {"runtimes": RUNTIME}


@pytest.mark.parametrize("on_disk, desired", [("1", True), ("true", 1), ("1.0", 1), ("0", False)],
                         ids=["1 is not true", "true is not 1", "1.0 is not 1", "0 is not false"])
def test_json_types_count_where_python_equality_would_not(on_disk, desired):
    written = wanted('{"live-restore": %s}' % on_disk, keys={"live-restore": desired})
    assert written is not None
    assert json.dumps(json.loads(written)["live-restore"]) == json.dumps(desired)


def test_remove_drops_keys_and_a_missing_key_is_already_converged():
    assert json.loads(wanted('{"a": 1, "b": 2}', remove=["a"])) == {"b": 2}
    assert wanted('{"b": 2}', remove=["a"]) is None


def test_a_missing_file_is_created_with_the_keys():
    assert wanted(None, keys={"a": 1}) == '{\n  "a": 1\n}\n'
    assert wanted(None) is None


def test_a_missing_file_without_create_fails():
    with pytest.raises(ModuleFailed, match="does not exist"):
        wanted(None, keys={"a": 1}, create=False)


def test_an_empty_file_counts_as_an_empty_object():
    assert wanted("", keys={"a": 1}) == '{\n  "a": 1\n}\n'


@pytest.mark.parametrize("text, message", [('{"a": 1,', "not valid JSON"), ("[1, 2]", "not an object")])
def test_invalid_json_is_refused_not_overwritten(text, message):
    with pytest.raises(ModuleFailed, match=message):
        wanted(text, keys={"a": 1})


def test_non_ascii_values_stay_readable():
    assert wanted('{"a": 1}', keys={"label": "café"}) == '{\n  "a": 1,\n  "label": "café"\n}\n'


def test_yaml_integer_keys_become_json_strings_and_converge():
    written = wanted("{}", keys={1: "one"})
    assert json.loads(written) == {"1": "one"}
    assert wanted(written, keys={1: "one"}) is None


def test_values_json_cannot_hold_are_a_clear_failure():
    with pytest.raises(ModuleFailed, match="cannot be written as JSON"):
        wanted("{}", keys={"a": {1, 2}})


@pytest.mark.parametrize("text, indent", [('{\n    "a": 1\n}\n', "    "), ('{\n\t"a": 1\n}\n', "\t"), ('{"a": 1}', "  ")],
                         ids=["four spaces", "tab", "compact gets two"])
def test_the_files_own_indentation_is_kept(text, indent):
    assert wanted(text, keys={"b": 2}) == '{\n%s"a": 1,\n%s"b": 2\n}\n' % (indent, indent)


def test_an_explicit_indent_wins():
    assert wanted('{\n    "a": 1\n}\n', keys={"a": 2}, indent=1) == '{\n "a": 2\n}\n'
