"""Ansible's result tests and list filters that real roles use (DeepOps writes `is successful`,
`is unreachable`, `zip_longest`), through provision's own Jinja2 environment, as a template renders
them. Their meaning is Ansible's documented one (Ansible docs, "Tests" and "Filters")."""
from __future__ import annotations

import pytest

from provision.templating import Templar

RESULTS = {
    "ok": {"changed": False, "failed": False},
    "bad": {"changed": False, "failed": True, "msg": "x"},
    "gone": {"unreachable": True, "failed": False},
    "waiting": {"finished": 0, "ansible_job_id": "1"},
}


@pytest.mark.parametrize("expression, expected", [
    ("ok is successful", True), ("bad is successful", False), ("ok is succeeded", True), ("bad is success", False),
    ("gone is unreachable", True), ("ok is unreachable", False), ("ok is reachable", True),
    ("gone is reachable", False),
    ("ok is finished", True), ("waiting is finished", False),
])
def test_result_tests(expression, expected):
    assert Templar(RESULTS).render("{{ " + expression + " }}") is expected


def test_zip_longest_pads_with_fillvalue():
    templar = Templar({"a": [1, 2, 3], "b": ["x"]})
    assert templar.render("{{ a | zip_longest(b) | list }}") == [[1, "x"], [2, None], [3, None]]
    assert templar.render("{{ a | zip_longest(b, fillvalue='-') | list }}") == [[1, "x"], [2, "-"], [3, "-"]]
