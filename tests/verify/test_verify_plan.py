"""Which tests verify runs on which host (provision/verify/plan.py), and how hosts are spread over
workers (provision/verify/run.py): pure, from a real playbook and inventory on disk."""
from __future__ import annotations

import os

import pytest

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.verify.plan import VerifyGroup, VerifyPlan, plan_of
from provision.verify.run import slices, worker_count
from tests.engine.scenario import write

PROJECT = {
    "inventory.yaml": """
        all:
          children:
            gpu: {hosts: {g1: {}, g2: {}}}
            cpu: {hosts: {c1: {}}}
            spare: {hosts: {s1: {}}}
    """,
    "site.yaml": """
        - hosts: gpu:cpu
          roles: [base]
        - hosts: gpu
          roles: [driver]
        - hosts: cpu
          tasks:
            - include_role: {name: extra}
    """,
    "roles/base/defaults/main.yml": "who: base\nbase_only: 1\n",
    "roles/base/tasks/main.yml": "- debug: {msg: base}\n",
    "roles/base/tests/test_base.py": "def test_base(host):\n    pass\n",
    "roles/driver/defaults/main.yml": "who: driver\n",
    "roles/driver/tasks/main.yml": "- debug: {msg: driver}\n",
    "roles/driver/tests/test_driver.py": "def test_driver(host):\n    pass\n",
    "roles/driver/tests/test_driver_more.py": "def test_more(host):\n    pass\n",
    "roles/extra/tasks/main.yml": "- debug: {msg: extra}\n",
    "roles/extra/tests/test_extra.py": "def test_extra(host):\n    pass\n",
    "roles/unused/tasks/main.yml": "- debug: {msg: unused}\n",
    "roles/unused/tests/test_unused.py": "def test_unused(host):\n    assert False\n",
    "site-tests/test_site.py": "def test_site(host):\n    pass\n",
}


@pytest.fixture
def loaded(tmp_path):
    write(tmp_path, PROJECT)
    inventory = load_inventory(str(tmp_path / "inventory.yaml"))
    playbook = load_and_validate(str(tmp_path / "site.yaml"), inventory, {}, str(tmp_path / "roles"))
    return tmp_path, inventory, playbook


def names(plan: VerifyPlan) -> dict[tuple[str, ...], list[str]]:
    return {group.hosts: [os.path.basename(path) for path in group.files] for group in plan.groups}


def test_each_host_gets_the_tests_of_the_roles_its_plays_apply(loaded):
    folder, inventory, playbook = loaded
    plan = plan_of(playbook, inventory, ["g1", "g2", "c1", "s1"], {})
    assert names(plan) == {("g1", "g2"): ["test_base.py", "test_driver.py", "test_driver_more.py"],
                           ("c1",): ["test_base.py", "test_extra.py"]}
    assert "s1" not in plan.hosts, "no play targets it: nothing to verify there"
    assert plan.roles == ["base", "driver", "extra"], "never the unused role in the same roles/ folder"
    assert plan.defaults["who"] == "driver" and plan.defaults["base_only"] == 1


def test_limit_role_filter_and_site_tests(loaded):
    folder, inventory, playbook = loaded
    assert names(plan_of(playbook, inventory, ["c1"], {})) == {("c1",): ["test_base.py", "test_extra.py"]}
    only = plan_of(playbook, inventory, ["g1", "c1"], {}, only_roles=["driver"])
    assert names(only) == {("g1",): ["test_driver.py", "test_driver_more.py"]}
    site = plan_of(playbook, inventory, ["c1"], {}, str(folder / "site-tests"), with_site=True)
    assert names(site) == {("c1",): ["test_base.py", "test_extra.py", "test_site.py"]}


@pytest.mark.parametrize("hosts, forks, cores, workers", [
    (1, 100, 2, 1), (3, 100, 2, 1), (10, 100, 2, 3), (50, 100, 2, 8), (1000, 100, 2, 8),
    (1000, 100, 16, 64), (50, 2, 16, 2), (50, 1, 16, 1),
])
def test_worker_count(hosts, forks, cores, workers):
    """A few hosts per worker (starting one costs about four hosts' checks), a few workers per core,
    never more than --forks hosts at once."""
    assert worker_count(hosts, forks, cores) == workers


def test_slices_keep_groups_apart_and_cover_every_host():
    plan = VerifyPlan(groups=[VerifyGroup(tuple(f"g{i}" for i in range(7)), ("a.py",)),
                              VerifyGroup(("c1", "c2"), ("b.py",))])
    cut = slices(plan, 3)
    assert [group.hosts for group in cut] == [("g0", "g1", "g2"), ("g3", "g4", "g5"), ("g6",), ("c1", "c2")]
    assert all(group.files == ("a.py",) for group in cut[:3]) and cut[3].files == ("b.py",)
    assert sorted(host for group in cut for host in group.hosts) == sorted(plan.hosts)
