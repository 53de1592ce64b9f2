"""json_merge over real SSH on a daemon.json: named keys set, every other key left alone."""
import json

import pytest

from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox

USER_CONFIG = '{\n    "log-driver": "journald",\n    "registry-mirrors": [\n        "https://mirror.lab"\n    ]\n}\n'
NVIDIA = {"default-runtime": "nvidia",
          "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}


def test_sets_nested_keys_leaves_the_users_keys_and_reruns_ok(remote, module_context):
    path = remote.put("daemon.json", USER_CONFIG, mode="0600")
    before = remote.look(path)

    first = run_module("json_merge", {"path": path, "keys": NVIDIA}, module_context())
    second = run_module("json_merge", {"path": path, "keys": NVIDIA}, module_context())

    after = remote.look(path)
    assert (first.status, second.status) == ("changed", "ok")
    assert json.loads(after.content) == {**json.loads(USER_CONFIG), **NVIDIA}
    assert list(json.loads(after.content))[:2] == ["log-driver", "registry-mirrors"]
    assert after.inode != before.inode and after.mode == "0600"
    assert remote.listing() == ["daemon.json"]
    assert f"--- before: {path}\n+++ after: {path}\n" in first.diff
    assert '+    "default-runtime": "nvidia",\n' in first.diff  # in the file's own indentation


def test_the_same_data_in_another_layout_is_not_rewritten(remote, module_context):
    path = remote.put("daemon.json", '{"runtimes":{"nvidia":{"runtimeArgs":[],"path":"nvidia-container-runtime"}},'
                                     '"default-runtime":"nvidia"}')
    before = remote.look(path)
    result = run_module("json_merge", {"path": path, "keys": NVIDIA}, module_context())
    assert result.status == "ok"
    assert remote.look(path) == before


def test_check_mode_shows_the_diff_and_leaves_the_file(remote, module_context):
    path = remote.put("daemon.json", USER_CONFIG)
    before = remote.look(path)
    result = run_module("json_merge", {"path": path, "keys": {"log-driver": "json-file"}},
                        module_context(check=True))
    assert result.status == "changed"
    assert result.diff == (
        f'--- before: {path}\n+++ after: {path}\n@@ -1,5 +1,5 @@\n {{\n'
        '-    "log-driver": "journald",\n+    "log-driver": "json-file",\n     "registry-mirrors": [\n'
        '         "https://mirror.lab"\n     ]\n'
    )
    assert remote.look(path) == before


def test_a_missing_file_is_created_in_a_missing_state(remote, module_context):
    path = remote.path("daemon.json")
    result = run_module("json_merge", {"path": path, "keys": {"debug": True}, "mode": "0644"}, module_context())
    assert result.status == "changed"
    assert remote.look(path).content == b'{\n  "debug": true\n}\n'
    assert result.diff.startswith(f"--- /dev/null\n+++ after: {path}\n")


def test_invalid_json_fails_clearly_and_the_file_is_untouched(remote, module_context):
    broken = '{"log-driver": "journald",,}\n'
    path = remote.put("daemon.json", broken)
    before = remote.look(path)
    result = run_module("json_merge", {"path": path, "keys": NVIDIA}, module_context())
    assert result.status == "failed"
    assert "not valid JSON" in result.msg and path in result.msg
    assert remote.look(path) == before


def test_remove_deletes_a_key(remote, module_context):
    path = remote.put("daemon.json", USER_CONFIG)
    result = run_module("json_merge", {"path": path, "remove": ["registry-mirrors"]}, module_context())
    assert result.status == "changed"
    assert json.loads(remote.look(path).content) == {"log-driver": "journald"}


def test_validate_refuses_and_keeps_the_old_file(remote, module_context):
    path = remote.put("daemon.json", USER_CONFIG)
    result = run_module("json_merge", {"path": path, "keys": {"debug": True}, "validate": "grep -q nvidia %s"},
                        module_context())
    assert result.status == "failed" and "validation failed" in result.msg
    assert remote.look(path).text == USER_CONFIG
    assert remote.listing() == ["daemon.json"]
