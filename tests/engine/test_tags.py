"""Tags: the site playbook's documented tags select the roles they say, an untagged run is what it
was before the tags, and a tag no task carries is warned about. Pure: nothing but the local host.

The tag set is written once, on the role entries of playbooks/site.yaml; each role's README names
its tags, and the test compares the two so they cannot drift apart.
"""
from __future__ import annotations

import os
import re

import pytest
import yaml

from provision.inventory import load_inventory
from provision.playbook.tags import (
    SPECIAL_TAGS, playbook_tags, selected_tasks, tag_warning, tagged_tasks, unknown_tags)
from provision.playbook.validate import load_and_validate
from provision.runner import Collect, RunOptions, run_playbook
from tests.engine.scenario import write

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, "playbooks", "site.yaml")
ROLES = os.path.join(ROOT, "roles")
EVERY_ROLE = ["preflight", "packages_hygiene", "nvidia_driver", "nvidia_fabricmanager", "reboot",
              "nvidia_container_toolkit", "docker", "pytorch_image", "gpu_verify"]
DRIVER = ["packages_hygiene", "nvidia_driver", "nvidia_fabricmanager", "reboot"]
DOCKER = ["packages_hygiene", "nvidia_container_toolkit", "docker", "pytorch_image"]
# What each tag runs, as documented in playbooks/site.yaml and the roles' READMEs. preflight is
# tagged `always`, so every tagged run starts with it.
# `docker` is both the docker role's name and the container stack's tag: the stack wins.
DOCUMENTED = {
    **{role: sorted({"preflight", role}, key=EVERY_ROLE.index) for role in EVERY_ROLE},
    "driver": ["preflight", *DRIVER],
    "docker": ["preflight", *DOCKER],
    "verify": ["preflight", "gpu_verify"],
    "gpu": [role for role in EVERY_ROLE if role != "docker"],
}
SMALL_INVENTORY = "all:\n  children:\n    gpu:\n      hosts:\n        gpu-01: {}\n"


def load_site(tmp_path, path: str = SITE):
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text(SMALL_INVENTORY)
    return load_and_validate(path, load_inventory(str(inventory_path)), project_roles_dir=ROLES)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return load_site(tmp_path_factory.mktemp("site"))


def roles_run(playbook, tags=(), skip_tags=()) -> list[str]:
    roles: list[str] = []
    for each in selected_tasks(playbook, tags, skip_tags):
        if each.task.role not in roles:
            roles.append(each.task.role)
    return roles


def whole_roles(playbook, tags=(), skip_tags=()) -> bool:
    """Tags sit on role entries: a role runs all its tasks or none."""
    chosen = {id(each.task) for each in selected_tasks(playbook, tags, skip_tags)}
    by_role: dict[str, set[bool]] = {}
    for each in tagged_tasks(playbook):
        by_role.setdefault(each.task.role, set()).add(id(each.task) in chosen)
    return all(len(seen) == 1 for seen in by_role.values())


# ---- the site playbook's tags ------------------------------------------------------------------
@pytest.mark.parametrize("tag", list(DOCUMENTED))
def test_each_documented_tag_runs_the_roles_it_names(site, tag):
    assert roles_run(site, {tag}) == DOCUMENTED[tag]
    assert whole_roles(site, {tag})
    assert tag_warning(site, {tag}) is None


def test_an_untagged_run_runs_every_role(site):
    assert roles_run(site) == EVERY_ROLE
    assert len(selected_tasks(site)) == len(list(tagged_tasks(site)))


def test_tags_combine_and_skip_tags_take_away(site):
    assert roles_run(site, {"driver", "verify"}) == ["preflight", *DRIVER, "gpu_verify"]
    assert roles_run(site, skip_tags={"verify"}) == EVERY_ROLE[:-1]
    # skipping a group keeps preflight, which is `always`: the remaining roles still read gpu_preflight
    assert roles_run(site, skip_tags={"gpu"}) == ["preflight", "docker"]
    assert roles_run(site, {"docker"}, skip_tags={"pytorch_image"}) == ["preflight", *DOCKER[:-1]]


def test_preflight_leaves_only_when_named(site):
    assert "preflight" not in roles_run(site, skip_tags={"preflight"})
    assert roles_run(site, {"verify"}, skip_tags={"always"}) == ["gpu_verify"]
    assert roles_run(site, {"untagged"}) == ["preflight"]  # every other task is tagged now


def test_every_task_of_the_site_playbook_carries_its_roles_name(site):
    for each in tagged_tasks(site):
        assert each.task.role in each.tags, each.label


def test_the_role_readmes_name_the_tags_the_site_playbook_gives(site):
    given: dict[str, set[str]] = {}
    for play in site.plays:
        for role in play.roles:
            given[role.name] = set(role.tags)
    assert sorted(given) == sorted(EVERY_ROLE)
    for role, tags in given.items():
        with open(os.path.join(ROLES, role, "README.md"), encoding="utf-8") as handle:
            text = handle.read()
        line = re.search(r"^Tags in `playbooks/site\.yaml`: (.*)$", text, re.MULTILINE)
        assert line, f"roles/{role}/README.md has no 'Tags in `playbooks/site.yaml`:' line"
        assert set(re.findall(r"`([^`]+)`", line.group(1))) == tags, role


def test_an_untagged_run_selects_the_same_tasks_as_without_role_tags(site, tmp_path):
    """The tags change nothing for a run without -t: the same tasks, in the same order, as the
    playbook with every role entry back to a bare name."""
    with open(SITE, encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    for play in plays:
        play.pop("tags", None)
        play["roles"] = [entry["role"] if isinstance(entry, dict) else entry for entry in play["roles"]]
    bare = tmp_path / "playbooks" / "site.yaml"
    bare.parent.mkdir()
    bare.write_text(yaml.safe_dump(plays, sort_keys=False))
    untagged = load_site(tmp_path, str(bare))
    assert playbook_tags(untagged) == []

    def marks(playbook):
        return [(each.task.mark.file, each.task.mark.line) for each in selected_tasks(playbook)]

    assert marks(site) == marks(untagged)
    assert [[(role.name, role.params, role.when) for role in play.roles] for play in site.plays] == \
        [[(role.name, role.params, role.when) for role in play.roles] for play in untagged.plays]


# ---- the warning -------------------------------------------------------------------------------
def test_a_misspelt_tag_is_warned_about_with_the_closest_one(site):
    known = ", ".join(playbook_tags(site))
    assert unknown_tags(site, {"gpu_verfy"}) == ["gpu_verfy"]
    assert tag_warning(site, {"gpu_verfy"}) == (
        f"warning: --tags gpu_verfy matches no task of {SITE} (did you mean gpu_verify? "
        f"tags in this playbook: {known})")


def test_unknown_tags_in_both_options_are_named_together(site):
    message = tag_warning(site, {"docker", "dockr"}, {"verfy", "zzz"})
    assert message is not None
    assert message.startswith(f"warning: --tags dockr and --skip-tags verfy,zzz match no task of {SITE} "
                              "(did you mean docker, verify? tags in this playbook: ")
    assert unknown_tags(site, {"docker", "dockr"}, {"verfy", "zzz"}) == ["dockr", "verfy", "zzz"]


def test_a_tag_with_no_close_match_lists_the_playbooks_tags(site):
    message = tag_warning(site, {"kubernetes"})
    assert message is not None and "did you mean" not in message
    assert message.endswith(f"(tags in this playbook: {', '.join(playbook_tags(site))})")


@pytest.mark.parametrize("tag", sorted(SPECIAL_TAGS))
def test_special_tags_are_always_known(site, tag):
    assert tag_warning(site, {tag}) is None
    assert tag_warning(site, skip_tags={tag}) is None


def test_no_tags_no_warning(site):
    assert tag_warning(site) is None
    assert unknown_tags(site) == []


# ---- where tags come from: play, role entry, dependencies, blocks, includes, handlers ------------
SMALL = {
    "inventory.yaml": "all:\n  hosts:\n    here: {ansible_connection: local}\n",
    "site.yaml": """\
        - hosts: all
          gather_facts: false
          tags: [from_play]
          roles:
            - {role: app, tags: [from_entry]}
          tasks:
            - block:
                - {name: in block, debug: {msg: block}}
              rescue:
                - {name: in rescue, debug: {msg: rescue}}
              tags: [from_block]
            - import_tasks: extra.yml
              tags: [from_include]
            - {name: plain, debug: {msg: plain}}
          handlers:
            - {name: play handler, debug: {msg: handler}, tags: [only_on_a_handler]}
        """,
    "extra.yml": "- {name: included, debug: {msg: included}, tags: [own]}\n",
    "roles/app/meta/main.yml": "dependencies: [base]\n",
    "roles/app/tasks/main.yml": """\
        - name: app task
          debug: {msg: app}
          changed_when: true
          notify: app handler
        """,
    "roles/app/handlers/main.yml": "- {name: app handler, debug: {msg: app handler}}\n",
    "roles/base/tasks/main.yml": "- {name: base task, debug: {msg: base}}\n",
}


@pytest.fixture
def small(tmp_path):
    write(tmp_path, SMALL)
    inventory = load_inventory(str(tmp_path / "inventory.yaml"))
    return load_and_validate(str(tmp_path / "site.yaml"), inventory), inventory


def test_every_level_hands_its_tags_down(small):
    playbook, _ = small
    tags = {each.label[1]: set(each.tags) for each in tagged_tasks(playbook)}
    assert tags == {
        "base task": {"from_play", "from_entry"},  # a role entry's tags reach its dependencies
        "app task": {"from_play", "from_entry"},
        "in block": {"from_play", "from_block"},
        "in rescue": {"from_play", "from_block"},
        "included": {"from_play", "from_include", "own"},
        "plain": {"from_play"},
    }
    assert [each.label for each in selected_tasks(playbook, {"from_entry"})] == [
        ("base", "base task"), ("app", "app task")]
    assert [each.label[1] for each in selected_tasks(playbook, {"own"})] == ["included"]


def test_a_role_entrys_tags_go_on_its_handlers_too(small):
    playbook, _ = small
    handlers = {handler.name: handler.tags for handler in playbook.plays[0].handlers}
    assert handlers == {"play handler": {"only_on_a_handler"}, "app handler": {"from_entry"}}


def test_a_tag_only_on_a_handler_selects_nothing(small):
    """Handlers ignore tags (Ansible): a tag found only on one matches no task."""
    playbook, _ = small
    assert unknown_tags(playbook, {"only_on_a_handler"}) == ["only_on_a_handler"]
    assert playbook_tags(playbook) == ["from_block", "from_entry", "from_include", "from_play", "own"]


def run_small(small, tags: set[str]) -> list[str]:
    playbook, inventory = small
    events = Collect()
    run_playbook(playbook, inventory, RunOptions(tags=tags), events)
    return [row.task.split(" : ")[-1] for row in events.results]


def test_the_runner_runs_what_selected_tasks_lists(small):
    playbook, _ = small
    for tags in ({"from_entry"}, {"from_block"}, {"own"}, {"from_play"}):
        ran = [name for name in run_small(small, tags) if "handler" not in name]
        assert ran == [each.label[1] for each in selected_tasks(playbook, tags)
                       if each.label[1] != "in rescue"], tags


def test_a_notified_handler_runs_whatever_the_tags(small):
    """The site playbook's case: nvidia_container_toolkit (`-t gpu`) notifies the docker role's
    `restart docker`, which carries only `docker`. Here: a handler without the notifying task's tag."""
    playbook, inventory = small
    for handler in playbook.plays[0].handlers:
        handler.tags.clear()
    events = Collect()
    run_playbook(playbook, inventory, RunOptions(tags={"from_entry"}), events)
    assert "app handler" in [row.task.split(" : ")[-1] for row in events.results]
