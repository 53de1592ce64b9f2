"""One host through one play: sections, blocks with rescue/always, handlers, meta, results.

Hosts run independently of each other inside a batch (each in its own thread, on its own one
connection): a slow or failing host never holds the others back, and a converged host finishes in
about one round trip per task. `run_once` tasks are the one meeting point (see PlayContext).
"""
from __future__ import annotations

import os
import time
from dataclasses import replace

from provision.errors import ConnectionFailed
from provision.facts import FactsFailed
from provision.playbook.includes import candidate_key
from provision.playbook.model import Play, Task
from provision.runner.context import PlayContext
from provision.runner.events import TaskPosition
from provision.runner.hoststate import HostState
from provision.runner.options import RunOptions
from provision.runner.results import TaskResult
from provision.runner.scope import Scope, selected
from provision.runner.prefetch import prefetch
from provision.runner.taskrun import NOT_CHECKABLE, LoopNotList, Outcome, TaskRun
from provision.templating import Templar, TemplateError
from provision.vault import active as active_vault

REBATCH_WINDOW = 8  # tasks whose reads are batched again after a task changed the host


class HostFailed(Exception):
    """A task failed on this host (not ignored): unwinds to the nearest rescue, else ends the play."""

    def __init__(self, result: TaskResult):
        super().__init__(result.msg)
        self.result = result


class HostUnreachable(Exception):
    """The connection was lost or never made: the host leaves the run."""


class EndHost(Exception):
    """meta: end_host / end_play for this host: stop quietly, not a failure."""


class Stopped(Exception):
    """The run is stopping (Ctrl-C, any_errors_fatal): no new task starts."""


class HostRun:
    def __init__(self, state: HostState, play: PlayContext, plan: tuple[int, bool] | None = None):
        self.state = state
        self.play = play
        self.notified: set[str] = set()
        self.started_tasks = 0  # tasks started in this play: the n of the progress's n/m
        # the same for every host of a play: the caller may count it once (planned_tasks)
        self.planned, self.exact = plan or planned_tasks(play.play, play.options)

    # ---- the play's sections ------------------------------------------------------------------
    def run(self) -> None:
        started = time.monotonic()
        ending = "done"
        try:
            self._connect_and_gather()
            play = self.play.play
            base = Scope(tags=frozenset(play.tags), environment=self.play_environment())
            self.run_list(play.pre_tasks, base)
            self.flush_handlers()
            for role in play.roles:
                self.run_list(role.tasks, base.enter_role(role))
            self.run_list(play.tasks, base)
            self.flush_handlers()
            self.run_list(play.post_tasks, base)
            self.flush_handlers()
        except HostFailed as failure:
            self.state.failed = True
            self.state.recap.reason = f"{failure.result.task}: {failure.result.msg}"
            if self.play.play.any_errors_fatal:
                self.play.stop.set()
                self.play.events.note(f"{self.state.name} failed and the play has any_errors_fatal: "
                                      "stopping every host")
        except HostUnreachable:
            self.state.unreachable = True
        except Stopped:
            ending = "stopped"
        except EndHost:
            pass
        finally:
            self.state.recap.duration += time.monotonic() - started
            if self.state.failed or self.state.unreachable:
                ending = "failed" if self.state.failed else "unreachable"
            if self.play.last_play or self.state.done:
                self.state.close()  # a thousand hosts must not hold a thousand idle connections
            self.play.events.host_end(self.state.name, ending)

    def _connect_and_gather(self) -> None:
        self.state.remote_user = self.play.play.remote_user
        fake = Task(mark=self.play.play.mark, name="Gathering Facts")
        started = time.monotonic()
        try:
            self.state.connect(self.play.options)
            if self.play.play.gather_facts:
                self.task_start("Gathering Facts")
                self.state.gather(self.play.options)
                self.record(fake, Scope(), Outcome("ok"), started)
        except ConnectionFailed as error:
            self.record(fake, Scope(), Outcome("unreachable", str(error)), started)
            self.state.recap.reason = str(error)
            raise HostUnreachable() from None
        except FactsFailed as error:
            self.record(fake, Scope(), Outcome("failed", str(error)), started)
            raise HostFailed(self.play_result(fake, Outcome("failed", str(error)), 0.0)) from None

    def run_list(self, tasks: list[Task], scope: Scope) -> None:
        # After a change, only the next few tasks are batched again: a host taking many changes
        # (a first apply) would otherwise re-read the whole rest of the list after each one. A
        # window that passes without a change is followed by the rest of the list in one batch.
        cache = self.state.cache
        self.prefetch(tasks, scope)
        generation, batched_until = cache.generation, len(tasks)
        for index, task in enumerate(tasks):
            if cache.generation != generation or index == batched_until:
                changed = cache.generation != generation
                batched_until = index + REBATCH_WINDOW if changed else len(tasks)
                self.prefetch(tasks[index:batched_until], scope)
                generation = cache.generation
            if task.is_block:
                self.run_block(task, scope)
            else:
                self.run_task(task, scope)

    def prefetch(self, tasks: list[Task], scope: Scope) -> None:
        """Batch the reads of the upcoming tasks (and of plain blocks' bodies) into one round trip."""
        options = self.play.options
        wanted = []
        for task, task_scope in _flatten(tasks, scope):
            if task_scope.handler or selected(set(task_scope.tags | task.tags), options.tags, options.skip_tags):
                wanted += TaskRun(task, task_scope, self.state, self.play).reads()
        if wanted:
            try:
                prefetch(self.state.connect(options), wanted, self.state.cache)
            except ConnectionFailed:
                pass  # the task that needs the host reports it unreachable

    def run_block(self, block: Task, scope: Scope) -> None:
        if block.dynamic and block.loop is not None:
            self.run_looped_include(block, scope)
            return
        if block.dynamic and block.when:
            if not self.include_wanted(block, scope):
                return
            block = replace(block, when=[])  # decided: the included tasks do not ask again
        inner = scope.enter(block)
        try:
            self.run_list(self.included_tasks(block, scope), inner)
        except HostFailed as failure:
            if not block.rescue:
                self._always(block, inner)
                raise
            self.state.recap.failed -= 1
            self.state.recap.rescued += 1
            # what the rescue may look at, as Ansible names it
            self.state.registered["ansible_failed_result"] = {**failure.result.output, "msg": failure.result.msg,
                                                              "failed": True}
            self.state.registered["ansible_failed_task"] = {"name": failure.result.task}
            try:
                self.run_list(block.rescue, inner)
            except HostFailed:
                self._always(block, inner)
                raise
        except (HostUnreachable, Stopped, EndHost):
            raise
        self._always(block, inner)

    def run_looped_include(self, block: Task, scope: Scope) -> None:
        """An include_tasks/include_role with a loop: its tasks once per item, in order, with the
        loop variable (and ansible_loop, index_var) set for them; its `when` decided per item, as
        Ansible decides a looped include's."""
        if not self.selected(block, scope):
            return
        started = time.monotonic()
        run = TaskRun(block, scope, self.state, self.play)
        try:
            _items, _loop_var, defined = run.loop_items(run.templar())
        except (TemplateError, LoopNotList) as error:
            if isinstance(error, TemplateError) and run.not_checkable_yet():
                self.not_checked(block, scope, started)
                return
            message = str(error) if isinstance(error, LoopNotList) else f"{block.mark}: {error}"
            raise HostFailed(self.record(block, scope, Outcome("failed", message), started)) from None
        if not defined:
            self.task_start(self.display_name(block, scope))
            self.record(block, scope, Outcome("skipped", "No items in the list", data={"skipped": True}), started)
            return
        for more in defined:
            item_scope = replace(scope, vars_layers=scope.vars_layers + (more,))
            if block.when and not self.include_wanted(block, item_scope):
                continue
            self.run_list(self.included_tasks(block, item_scope), item_scope.enter(replace(block, when=[])))

    def included_tasks(self, block: Task, scope: Scope) -> list[Task]:
        """A block's tasks; for an include with a templated file name, the file its name picks on
        this host (all candidates were loaded and checked before the run)."""
        if not block.templated_include:
            return block.block or []
        if not self.selected(block, scope):
            return []  # not selected by the tags: its name is not even rendered
        started = time.monotonic()
        run = TaskRun(block, scope, self.state, self.play)
        try:
            name = str(run.templar().render(block.include))
        except TemplateError as error:
            if run.not_checkable_yet():
                self.not_checked(block, scope, started)
                return []
            raise HostFailed(self.record(block, scope, Outcome("failed", f"{block.mark}: {error}"), started)) from None
        for candidate in block.block or []:  # by the name as written, or (first_found gives one) the full path
            if candidate.include == candidate_key(name) or candidate.mark.file == os.path.abspath(name):
                return [candidate]
        known = ", ".join(candidate.include or "" for candidate in block.block or [])
        raise HostFailed(self.record(block, scope, Outcome(
            "failed", f"{block.mark}: tasks file '{name}' not found (the include's name could pick: {known})"),
            started)) from None

    def include_wanted(self, block: Task, scope: Scope) -> bool:
        """An include_tasks/include_role's `when`, decided once where the include is reached; a
        false one is the include's own "skipped" result, as Ansible reports it."""
        if not self.selected(block, scope):
            return False
        name = self.display_name(block, scope)
        started = time.monotonic()
        run = TaskRun(block, scope, self.state, self.play)
        try:
            wanted = run.templar().is_true(list(scope.when) + block.when)
        except TemplateError as error:
            if not run.not_checkable_yet():
                result = self.record(block, scope, Outcome("failed", f"{block.mark}: {error}"), started, name)
                raise HostFailed(result) from None
            self.not_checked(block, scope, started, name)
            return False
        if not wanted:
            self.task_start(name)
            self.record(block, scope, Outcome("skipped", "conditional result was False", data={"skipped": True}),
                        started, name)
        return wanted

    def selected(self, task: Task, scope: Scope) -> bool:
        """Whether -t/--skip-tags let the task (or block) run here; a notified handler always runs,
        as in Ansible (its task was selected)."""
        options = self.play.options
        return scope.handler or selected(set(scope.tags | task.tags), options.tags, options.skip_tags)

    def not_checked(self, block: Task, scope: Scope, started: float, name: str | None = None) -> None:
        """An include whose `when`, loop or file name reads a local fact this check did not write:
        whether (and what) it would include cannot be known yet, so its tasks are not checked."""
        self.task_start(name or self.display_name(block, scope))
        self.record(block, scope, Outcome("skipped", f"{NOT_CHECKABLE}; its tasks are not checked",
                                          data={"skipped": True, "not_checkable_yet": True}), started, name)

    def _always(self, block: Task, scope: Scope) -> None:
        self.run_list(block.always, scope)

    def reached_start(self, task: Task) -> bool:
        """--start-at-task: False for every task before the first with that name (as it is written,
        or "role : name"); from that task on, True for the rest of the run. Facts are still gathered."""
        wanted = self.play.options.start_at_task
        if wanted is None or self.state.reached_start:
            return True
        if task.name is not None and wanted in (task.name, task.display_name):
            self.state.reached_start = True
        return self.state.reached_start

    # ---- one task -----------------------------------------------------------------------------
    def run_task(self, task: Task, scope: Scope) -> None:
        options = self.play.options
        if not self.selected(task, scope):
            return
        if self.play.stopping:
            raise Stopped()
        if not scope.handler and not self.reached_start(task):
            return
        if task.module == "meta":
            self.run_meta(task, scope)
            return
        name = self.display_name(task, scope)
        if options.step is not None and not scope.handler and not options.step.allows(id(task), name):
            return
        self.task_start(name)
        started = time.monotonic()
        try:
            if task.run_once or scope.run_once:
                outcome = self.run_shared(task, scope)
            else:
                outcome = TaskRun(task, scope, self.state, self.play).run()
        except ConnectionFailed as error:
            self.record(task, scope, Outcome("unreachable", str(error)), started, name)
            self.state.recap.reason = str(error)
            raise HostUnreachable() from None
        if outcome.status == "changed" and task.notify:
            names = self.render_names(task, scope)
            missing = sorted(names - self.play.play.handler_names())
            if missing:  # as Ansible: notifying a handler no one defined fails the task
                outcome = Outcome("failed", f"The requested handler '{missing[0]}' was not found in either the main "
                                            "handlers list nor in the listening handlers list", outcome.diff,
                                  {**outcome.data, "failed": True})
            else:
                self.notified.update(names)
        if task.register:
            self.state.registered[task.register] = outcome.data
        result = self.record(task, scope, outcome, started, name)
        if outcome.status == "failed" and not result.ignored:
            raise HostFailed(result)

    def run_shared(self, task: Task, scope: Scope) -> Outcome:
        """run_once: the first host of the batch to get here runs it; the others take its outcome."""
        shared = self.play.shared(id(task))
        with shared.lock:
            if shared.data is None:
                shared.data = TaskRun(task, scope, self.state, self.play).run()
            outcome: Outcome = shared.data
        return Outcome(outcome.status, outcome.msg, outcome.diff, dict(outcome.data))

    def run_meta(self, task: Task, scope: Scope) -> None:
        action = str(task.args.get("_raw_params", "")).strip()
        if action == "flush_handlers":
            self.flush_handlers()
        elif action in ("end_host", "end_play"):
            templar = TaskRun(task, scope, self.state, self.play).templar()
            if templar.is_true(list(scope.when) + task.when):
                raise EndHost()
        # noop and the rest validation let through: nothing to do

    def flush_handlers(self) -> None:
        """Run notified handlers once each, in the order they are defined (Ansible's rule)."""
        while self.notified:
            pending, self.notified = self.notified, set()
            for handler in self.play.play.handlers:
                names = {handler.name or ""} | set(handler.listen)
                if names & pending:
                    scope = Scope(handler=True, role=self.play.play.all_roles.get(handler.role or ""),
                                  environment=self.play_environment())
                    self.run_list([handler], scope)  # a handler may be an include (a block)

    # ---- helpers ------------------------------------------------------------------------------
    def task_start(self, name: str) -> None:
        self.started_tasks += 1
        self.play.events.task_start(self.state.name, name, TaskPosition(self.started_tasks, self.planned, self.exact))

    def display_name(self, task: Task, scope: Scope) -> str:
        if task.name and "{{" in task.name:
            try:
                rendered = TaskRun(task, scope, self.state, self.play).templar().render(task.name)
                return f"{task.role} : {rendered}" if task.role else str(rendered)
            except TemplateError:
                pass
        return task.display_name

    def play_environment(self) -> tuple:
        """The play-level environment, as the outermost layer a task's scope stacks on."""
        return (self.play.play.environment,) if self.play.play.environment else ()

    def render_names(self, task: Task, scope: Scope) -> set[str]:
        try:
            templar: Templar = TaskRun(task, scope, self.state, self.play).templar()
            return {str(templar.render(name)) for name in task.notify}
        except TemplateError:
            return set(task.notify)

    def play_result(self, task: Task, outcome: Outcome, duration: float, name: str | None = None,
                    scope: Scope | None = None) -> TaskResult:
        scope = scope or Scope()
        ignore = bool(task.ignore_errors) or scope.ignore_errors
        vault = active_vault()
        # a result that shows a value decrypted from a vault is kept out of sight, as no_log
        revealing = vault is not None and bool(vault.revealed) and (
            vault.hides(outcome.msg) or vault.hides(str(outcome.diff)) or vault.hides(repr(outcome.data)))
        return TaskResult(
            host=self.state.name, play=self.play.play_name, task=name or task.display_name,
            file=task.mark.file, line=task.mark.line, status=outcome.status,  # type: ignore[arg-type]
            msg=outcome.msg, diff=outcome.diff if task.diff is not False else None, duration=duration,
            ignored=outcome.status == "failed" and ignore, check=self.play.options.check,
            handler=scope.handler, output=outcome.data, no_log=bool(task.no_log) or scope.no_log or revealing,
            module=task.module or "")

    def record(self, task: Task, scope: Scope, outcome: Outcome, started: float, name: str | None = None) -> TaskResult:
        result = self.play_result(task, outcome, time.monotonic() - started, name, scope)
        self.state.recap.count(result)
        self.play.events.task_result(result)
        return result


def planned_tasks(play: Play, options: RunOptions) -> tuple[int, bool]:
    """How many tasks a host starts in `play` if none fails and no handler fires, and whether that
    count is exact: see TaskPosition for what counts and what makes it an estimate. It walks the
    sections as `HostRun.run` does, with the same scopes, so the tag selection is the runner's own."""
    count, exact = (1 if play.gather_facts else 0), True
    base = Scope(tags=frozenset(play.tags))
    sections = [(play.pre_tasks, base), *[(role.tasks, base.enter_role(role)) for role in play.roles],
                (play.tasks, base), (play.post_tasks, base)]
    for tasks, scope in sections:
        for task, task_scope in _main_path(tasks, scope):
            if task.is_block:  # a rescue may run, a looped include runs its tasks once per item
                exact = False
            elif selected(set(task_scope.tags | task.tags), options.tags, options.skip_tags):
                if task.module == "meta":
                    exact = exact and str(task.args.get("_raw_params", "")).strip() not in ("end_host", "end_play")
                else:
                    count += 1
                    exact = exact and not (task.notify and play.handlers)
    return count, exact


def _main_path(tasks: list[Task], scope: Scope):
    """Every task a host meets when nothing fails: block bodies and `always`; a block itself is
    yielded (for its `rescue`) only when it has one."""
    for task in tasks:
        if task.is_block:
            inner = scope.enter(task)
            if task.rescue or task.loop is not None or task.templated_include:
                yield task, scope
            if not task.templated_include:  # which file it picks is known only on the host
                yield from _main_path(task.block or [], inner)
            yield from _main_path(task.always, inner)
        else:
            yield task, scope


def _flatten(tasks: list[Task], scope: Scope):
    for task in tasks:
        if task.is_block and (task.loop is not None or task.templated_include):
            continue  # read when the include runs (run_list): per item, or once its file is picked
        if task.is_block:
            yield from _flatten(task.block or [], scope.enter(task))
        elif task.module != "meta":
            yield task, scope


__all__ = ["HostRun", "replace"]
