"""json_merge over real SSH on a daemon.json: named keys set, every other key left alone. Its
decisions are in test_json_merge_logic.py and test_content_modules_data.py."""
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
