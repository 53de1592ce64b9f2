"""Tags: which tasks `--tags`/`--skip-tags` select, and a warning for a tag no task carries.

A task's tags are its own plus those of everything around it: the play, the role entry (`roles:
[{role: docker, tags: [docker]}]`, which reaches the role's dependencies too), each enclosing block
and include. `selected` is Ansible's rule, the one the runner applies to every task; the walk here
follows the runner's order (pre_tasks, roles, tasks, post_tasks), so what it lists is what runs.

The easy thing to get wrong: handlers. Ansible runs a notified handler whatever the tags (they
"ignore all tags"), so a tag found only on a handler selects nothing and counts as unknown here.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from provision.playbook.model import Play, Playbook, Task

# Tags with a meaning of their own: always known, never "matching no task".
SPECIAL_TAGS = frozenset({"all", "always", "never", "tagged", "untagged"})
_LISTED_AT_MOST = 30  # tags named in the warning; a huge playbook's list is cut there


def selected(tags: set[str] | frozenset[str], only: set[str], skip: set[str]) -> bool:
    """Ansible's tag rules: `always` runs unless skipped by name; `never` only when asked for."""
    if tags & skip:
        return False
    if "always" in tags and "always" not in skip:
        return True
    if not only or "all" in only:
        return "never" not in tags
    if "tagged" in only and tags - {"never"}:
        return True
    if "untagged" in only and not tags:
        return True
    return bool(tags & only)


@dataclass(frozen=True)
class TaggedTask:
    """One task as the runner meets it, with every tag it inherits."""
    play: Play
    task: Task
    tags: frozenset[str]

    @property
    def label(self) -> tuple[str | None, str]:
        """(role, task name): what a test or a listing names the task by."""
        return self.task.role, self.task.name or self.task.display_name


def tagged_tasks(playbook: Playbook) -> Iterator[TaggedTask]:
    """Every task (not block, not handler) of every play, in run order, with its inherited tags."""
    for play in playbook.plays:
        base = frozenset(play.tags)
        yield from _walk(play, play.pre_tasks, base)
        for role in play.roles:
            yield from _walk(play, role.tasks, base | frozenset(role.tags))
        yield from _walk(play, play.tasks, base)
        yield from _walk(play, play.post_tasks, base)


def _walk(play: Play, tasks: list[Task], inherited: frozenset[str]) -> Iterator[TaggedTask]:
    for task in tasks:
        tags = inherited | frozenset(task.tags)
        if task.is_block:  # rescue and always run under the block's tags as its body does
            for child_list in (task.block or [], task.rescue, task.always):
                yield from _walk(play, child_list, tags)
        else:
            yield TaggedTask(play, task, tags)


def selected_tasks(playbook: Playbook, tags: Iterable[str] = (), skip_tags: Iterable[str] = ()) -> list[TaggedTask]:
    """The tasks a run with these --tags / --skip-tags starts (fact gathering aside), in order."""
    only, skip = set(tags), set(skip_tags)
    return [each for each in tagged_tasks(playbook) if selected(each.tags, only, skip)]


def playbook_tags(playbook: Playbook) -> list[str]:
    """The tags the playbook's tasks carry, sorted, the special ones (always, never...) left out."""
    return sorted({tag for each in tagged_tasks(playbook) for tag in each.tags} - SPECIAL_TAGS)


def unknown_tags(playbook: Playbook, tags: Iterable[str] = (), skip_tags: Iterable[str] = ()) -> list[str]:
    """The names in --tags and --skip-tags that no task of the playbook carries, each once, in order."""
    known = set(playbook_tags(playbook)) | SPECIAL_TAGS
    unknown: list[str] = []
    for tag in [*sorted(set(tags)), *sorted(set(skip_tags))]:
        if tag not in known and tag not in unknown:
            unknown.append(tag)
    return unknown


def tag_warning(playbook: Playbook, tags: Iterable[str] = (), skip_tags: Iterable[str] = ()) -> str | None:
    """One line for the user when --tags or --skip-tags names a tag no task carries, else None:
    `warning: --tags gpu_verfy matches no task of playbooks/site.yaml (did you mean gpu_verify?
    tags in this playbook: docker, driver, ...)`."""
    tags, skip_tags = set(tags), set(skip_tags)
    unknown = unknown_tags(playbook, tags, skip_tags)
    if not unknown:
        return None
    known = playbook_tags(playbook)
    parts = []
    for option, given in (("--tags", tags), ("--skip-tags", skip_tags)):
        names = [tag for tag in unknown if tag in given]
        if names:
            parts.append(f"{option} {','.join(names)}")
    verb = "matches" if len(unknown) == 1 else "match"
    hints = []
    close = [match for tag in unknown for match in difflib.get_close_matches(tag, known, n=1, cutoff=0.75)]
    if close:
        hints.append(f"did you mean {', '.join(dict.fromkeys(close))}?")
    if known:
        shown = ", ".join(known[:_LISTED_AT_MOST]) + (f" and {len(known) - _LISTED_AT_MOST} more"
                                                      if len(known) > _LISTED_AT_MOST else "")
        hints.append(f"tags in this playbook: {shown}")
    else:
        hints.append("no task of this playbook has a tag")
    return f"warning: {' and '.join(parts)} {verb} no task of {playbook.path} ({' '.join(hints)})"
