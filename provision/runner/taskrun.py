"""One task on one host: variables, `when`, `loop`, the module, `until`, `changed_when`...

The order follows Ansible: variables are layered by precedence; `when` is evaluated per loop item;
the module runs (check mode = its read half); `until` retries; `changed_when` and `failed_when` see
the result under the `register` name; then the result is registered and handlers are notified.

The easy thing to get wrong: read-only probes in check mode. A command with a literal
`changed_when: false`, or a task with `check_mode: false`, runs for real even under --check, so
later `when:` conditions see real data (Ansible skips them, and its drift checks go blind).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from provision.booleans import to_bool
from provision.errors import ConnectionFailed, ProvisionError
from provision.jinja_sandbox import SelfChaining
from provision.modules import get_module
from provision.modules.base import LOCAL_FACTS, LOCAL_FACTS_DIRECTORY, ModuleResult
from provision.modules.context import TaskContext
from provision.playbook.model import Task
from provision.runner.context import PlayContext
from provision.runner.hoststate import HostState
from provision.runner.scope import Scope
from provision.templating import Templar, TemplateError, is_template, resolve_variables
from provision.transport.base import BECOME_METHODS, Become, Transport
from provision.runner.prefetch import NoHost, PrefetchTransport, read_of
from provision.transport.local import LocalTransport
from provision.variables import layer, task_levels, task_role

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class LoopNotList(ProvisionError):
    """A loop's value is not a list: the task (or include) fails on that host."""


@dataclass
class Outcome:
    """A task's result on one host before it becomes a TaskResult: status, message, data."""

    status: str
    msg: str = ""
    diff: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class _NotWrittenYet(SelfChaining):
    """An ansible_local value the check did not write: every key or attribute of it is itself, and
    it is empty, false and 0. Rendering a task with it in place of ansible_local tells "only local
    facts are missing" (not checkable yet) from any other undefined value (an error)."""

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __str__(self) -> str:
        return ""


NOT_CHECKABLE = ("not checkable yet: it reads ansible_local, and an earlier task in this check writes the "
                 f"local facts ({LOCAL_FACTS_DIRECTORY}) it would read")


def failed(message: str) -> Outcome:
    """A task that failed before its module ran (a template, a keyword): registered as Ansible
    registers it, `failed` and `msg`, so `result is failed` holds after ignore_errors."""
    return Outcome("failed", message, None, {"failed": True, "msg": message})


class TaskRun:
    """Runs one task for one host. Raises ConnectionFailed when the host is lost."""

    def __init__(self, task: Task, scope: Scope, state: HostState, play: PlayContext):
        self.task = task
        self.scope = scope
        self.state = state
        self.play = play

    # ---- variables ------------------------------------------------------------------------------
    def variables(self) -> dict[str, Any]:
        """The host's variables for this task: the levels of provision.variables.PRECEDENCE, lowest
        first, then the magic variables (which nothing overrides, as in Ansible)."""
        role = task_role(self)
        variables = layer(*task_levels(self))
        variables.update(self.play.magic(self.state.name))
        if role is not None:
            variables.update(role_name=role.name, role_path=role.path)
        data = (self.state.facts, self.state.registered)  # values from the host: data, not templates
        written = [name for name, value in variables.items()
                   if not any(name in level and level[name] is value for level in data)]
        return resolve_variables(variables, only=written)

    def templar(self, variables: dict[str, Any] | None = None) -> Templar:
        # lookups look in the role's (or playbook's) folder, then the playbook's, then beside the
        # task's own file (a role's tasks/: where first_found finds what an include_tasks names)
        folders = [self.task.base_dir, self.play.playbook_dir, os.path.dirname(self.task.mark.file)]
        return Templar(self.variables() if variables is None else variables, list(dict.fromkeys(folders)))

    # ---- the task -------------------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            templar = self.templar()
            if self.task.loop is None:
                if not templar.is_true(list(self.scope.when) + self.task.when):
                    return Outcome("skipped", "conditional result was False", data={"skipped": True})
                return self.run_item(templar)
            return self.run_loop(templar)
        except TemplateError as error:
            if self.not_checkable_yet():
                return Outcome("changed", NOT_CHECKABLE, NOT_CHECKABLE + "\n", {"not_checkable_yet": True})
            return failed(f"{self.task.mark}: {error}")
        except ConnectionFailed:
            raise
        except ProvisionError as error:  # e.g. `become: "{{ x }}"` rendering to no boolean
            return failed(f"{self.task.mark}: {error}")
        except Exception as error:  # noqa: BLE001 - a bug in one module must fail one task, not the run
            return Outcome("failed", f"internal error in module {self.task.module!r}: "
                                     f"{type(error).__name__}: {error} (please report it)")

    def not_checkable_yet(self) -> bool:
        """In a check, after a task that would have written a local fact (facts.d) but did not:
        whether this task fails to render only for want of ansible_local values. Such a task
        cannot be checked (a real run writes the fact first); Ansible fails it in check mode. It
        leaves what it would have left (an apt source...), judged on its arguments rendered with
        the missing facts empty."""
        if not self.play.options.check or LOCAL_FACTS not in self.state.check_pending:
            return False
        variables = self.variables()
        variables["ansible_local"] = _NotWrittenYet()
        if isinstance(variables.get("ansible_facts"), dict):
            variables["ansible_facts"] = {**variables["ansible_facts"], "local": variables["ansible_local"]}
        templar = self.templar(variables)
        try:
            templar.is_true(list(self.scope.when) + self.task.when)  # only whether it renders
            if self.task.loop is not None:
                items = templar.render_loop(self.task.loop, self.task.loop_lookup)
                loop_var = str(_loop_control(templar, self.task.loop_control).get("loop_var", "item"))
                templar = templar.extended({loop_var: items[0] if isinstance(items, list) and items else None})
            args = templar.render(dict(self.task.args))
            for env in (*self.scope.environment, self.task.environment):
                templar.render(env)
        except TemplateError:
            return False
        try:
            self.state.check_pending |= get_module(self.task.module or "")(args, None).check_leaves()
        except Exception:  # noqa: BLE001 - an unknown module or one whose leaves need a context: none
            pass
        return True

    def loop_items(self, templar: Templar) -> tuple[list[Any], str, list[dict[str, Any]]]:
        """The loop's items, its variable's name, and per item what it defines (the variable,
        ansible_loop, the index_var). More than limits.loop_items: a TemplateError; not a list: LoopNotList."""
        items = templar.render_loop(self.task.loop, self.task.loop_lookup)
        if not isinstance(items, list):
            raise LoopNotList(f"{self.task.mark}: loop must give a list, got {type(items).__name__}")
        control = _loop_control(templar, self.task.loop_control)
        loop_var = str(control.get("loop_var", "item"))
        index_var = control.get("index_var")
        defined = []
        for index, item in enumerate(items):
            more = {loop_var: item, "ansible_loop_var": loop_var,
                    "ansible_loop": {"index": index + 1, "index0": index, "first": index == 0,
                                     "last": index == len(items) - 1, "length": len(items)}}
            if index_var:
                more[str(index_var)] = index
            defined.append(more)
        return items, loop_var, defined

    def run_loop(self, templar: Templar) -> Outcome:
        try:
            items, loop_var, defined = self.loop_items(templar)
        except LoopNotList as error:
            return Outcome("failed", str(error))
        label = (self.task.loop_control or {}).get("label")
        results, labels = [], []
        for item, more in zip(items, defined):
            item_templar = templar.extended(more)
            labels.append(item_templar.render(label) if label is not None else _NO_LABEL)
            conditions = list(self.scope.when) + self.task.when
            if not item_templar.is_true(conditions):
                false = next((condition for condition in conditions if not item_templar.is_true([condition])), None)
                outcome = Outcome("skipped", data={"skipped": True, "skip_reason": "Conditional result was False",
                                                   **({"false_condition": false} if isinstance(false, str) else {})})
            else:
                outcome = self.run_item(item_templar)
            facts = outcome.data.get("ansible_facts")
            if isinstance(facts, dict) and facts and outcome.status != "failed":
                # as in Ansible, the next item sees what this one set (set_fact accumulating in a loop)
                templar = templar.extended(facts)
            results.append(outcome)
        return _loop_outcome(results, items, loop_var, labels)

    def run_item(self, templar: Templar) -> Outcome:
        """The module once (with `until` retries), then changed_when/failed_when."""
        task = self.task
        retries = (int(templar.render(task.retries)) if task.retries is not None else 3) if task.until else 0
        delay = float(templar.render(task.delay))
        attempt = 0
        while True:
            outcome = self.run_module(templar)
            outcome = self.judge(outcome, templar)
            if not task.until:
                return outcome
            attempt += 1
            outcome.data["attempts"] = attempt
            if templar.extended(self.registered_view(outcome)).is_true(task.until):
                return outcome
            if attempt > retries:
                outcome.status = "failed"
                outcome.msg = outcome.msg or f"'until' condition not met after {attempt} attempts"
                outcome.data["failed"] = True
                return outcome
            time.sleep(delay)

    def registered_view(self, outcome: Outcome) -> dict[str, Any]:
        return {self.task.register: outcome.data} if self.task.register else {}

    def judge(self, outcome: Outcome, templar: Templar) -> Outcome:
        """Apply changed_when / failed_when, with the result visible under its register name."""
        task = self.task
        # the module's own verdict is in the result the conditions read (`result is changed`), as
        # in Ansible's; they may overrule it below
        outcome.data.update(changed=outcome.status == "changed", failed=outcome.status == "failed")
        view = templar.extended(self.registered_view(outcome) | {"result": outcome.data}) \
            if task.changed_when is not None or task.failed_when is not None else templar
        if task.failed_when is not None:
            failed = _any_true(view, task.failed_when)
            outcome.data["failed_when_result"] = failed  # as Ansible registers it
            if failed and outcome.status != "failed":
                outcome.status, outcome.msg = "failed", outcome.msg or "failed_when condition was true"
            elif not failed and outcome.status == "failed":
                outcome.status = "changed"
        if task.changed_when is not None and outcome.status != "failed" and outcome.status != "skipped":
            outcome.status = "changed" if view.is_true(task.changed_when) else "ok"
        outcome.data.update(changed=outcome.status == "changed", failed=outcome.status == "failed")
        if outcome.status == "skipped":  # `is skipped` reads it, as Ansible's results carry it
            outcome.data["skipped"] = True
        if outcome.msg and "msg" not in outcome.data:
            outcome.data["msg"] = outcome.msg
        return outcome

    def context(self, templar: Templar, transport: Transport) -> TaskContext:
        task = self.task
        return TaskContext(
            transport=transport,
            become=self.become(templar),
            facts=self.state.facts,
            check=self.check_mode(templar),
            environment={str(key): str(value) for env in (*self.scope.environment, task.environment)
                         for key, value in (templar.render(env) or {}).items()},
            search_dirs=[task.base_dir, self.play.playbook_dir],
            render_text=templar.render_text,
            evaluate_expression=templar.evaluate,
            resolve_values=lambda values: _resolved(templar, values),
            timeout=float(task.async_seconds) if task.async_seconds and not task.background else None,
            background=float(task.async_seconds) if task.background else None,
            cap=float(limit) if (limit := self.time_limit(templar)) else None,
            check_pending=self.state.check_pending,
        )

    def time_limit(self, templar: Templar) -> int | None:
        """`timeout: N` (rendered, a template may give it): every command of the task is bounded by
        it, and a task that ran that long fails with Ansible's words."""
        if self.task.timeout is None:
            return None
        value = templar.render(self.task.timeout)
        try:
            seconds = int(value)
        except (TypeError, ValueError):
            seconds = 0
        if seconds <= 0:
            raise TemplateError(f"timeout must be a number of seconds above 0, not {value!r}", str(self.task.timeout))
        return seconds

    def run_module(self, templar: Templar) -> Outcome:
        try:
            module = get_module(self.task.module or "")
        except KeyError:  # let through by validation: it was under a condition that held here
            return Outcome("failed", f"module '{self.task.module}' is not supported by provision "
                                     "(this host met the task's condition, so it ran)", None, {})
        if self.task.async_seconds and not module.supports_async:
            return Outcome("failed", f"This action ({module.name}) does not support async.", None, {})
        args = templar.render(dict(self.task.args))
        context = self.context(templar, self.transport(templar))
        instance = module(args, context)
        started = time.monotonic()
        result: ModuleResult = instance.run()
        limit = context.cap  # the task's `timeout:`, rendered once for the context
        if limit and result.status == "failed" and time.monotonic() - started >= limit:
            message = f"Task failed: Timed out after {int(limit)} second(s)."  # ansible-core 2.19's words
            result = ModuleResult("failed", msg=message,
                                  data={**result.data, "msg": message, "timedout": {"period": int(limit)}})
        if context.check and result.status == "changed":
            self.state.check_pending |= instance.check_leaves()
        # A probe (`changed_when: false`) is taken at its word: it reads, so batched reads stay good.
        # In check mode a module only reads, whatever it would change.
        probe = _literally_false(self.task.changed_when)
        if not context.check and (result.status == "failed"
                                  or (not probe and (result.status == "changed" or module.opaque))):
            self.state.cache.clear()  # the host may have moved: batched reads are stale now
        data = dict(result.data)
        own = data.pop("diff", None)  # a module's own diff (file's before/after), as Ansible's
        if self.task.diff or (self.play.options.diff and self.task.diff is not False):
            # diff mode: the result carries its diff, as Ansible's does (the module's own, else a
            # list; `prepared` is text); without diff mode there is none, as in Ansible
            data["diff"] = own if own is not None else [{"prepared": result.diff}] if result.diff else []
        facts = data.get("ansible_facts")
        if isinstance(facts, dict) and result.status != "failed":
            if module.sets_facts:  # host facts: top-level and under ansible_facts, without the prefix
                self.state.facts.update(facts)
                mirror = self.state.facts.setdefault("ansible_facts", {})
                if isinstance(mirror, dict):
                    mirror.update({key.removeprefix("ansible_"): value for key, value in facts.items()})
            else:
                self.state.registered.update(facts)
        return Outcome(result.status, result.msg, result.diff, data)

    # ---- how it runs ----------------------------------------------------------------------------
    def transport(self, templar: Templar):
        delegate = self.task.delegate_to if self.task.delegate_to is not None else self.scope.delegate_to
        if delegate is not None:
            target = str(templar.render(delegate))
            if target not in LOCAL_NAMES:
                raise TemplateError(f"delegate_to: {target!r}: only localhost is supported", str(delegate))
            return LocalTransport("localhost")
        return PrefetchTransport(self.state.connect(self.play.options, self.remote_user(templar)), self.state.cache)

    def remote_user(self, templar: Templar) -> str | None:
        """The task's or its block's `remote_user:` (rendered), else None: the play's."""
        wanted = self.task.remote_user if self.task.remote_user is not None else self.scope.remote_user
        if wanted is None:
            return None
        return str(templar.render(wanted)).strip() or None

    def reads(self) -> list[tuple[str, Become | None]]:
        """The read commands this task will run, for the batch (see runner/prefetch.py); [] if unsure."""
        task = self.task
        if task.module in (None, "meta") or task.delegate_to is not None or self.scope.delegate_to is not None:
            return []
        if task.remote_user is not None or self.scope.remote_user is not None:
            return []  # read by another login than the batch's: not batched
        try:
            module_class = get_module(task.module)
        except KeyError:
            return []
        if task.until or module_class.opaque:
            return []
        try:
            templar = self.templar()
            items = [None] if task.loop is None else templar.render_loop(task.loop, task.loop_lookup)
            if not isinstance(items, list):
                return []
            control = _loop_control(templar, task.loop_control)
            wanted = []
            for item in items[:50]:
                view = templar if task.loop is None else templar.extended({str(control.get("loop_var", "item")): item})
                if not view.is_true(list(self.scope.when) + task.when):
                    continue
                args = view.render(dict(task.args))
                context = self.context(view, NoHost())
                context.check = self.check_mode(view)
                found = read_of(module_class, args, context)
                if found:
                    wanted.append(found)
            return wanted
        except TemplateError:
            return []

    def become(self, templar: Templar) -> Become | None:
        task, scope, play = self.task, self.scope, self.play.play
        connection = self.state.host.connection
        wanted = next((value for value in (task.become, scope.become, play.become) if value is not None),
                      connection.become)
        if not to_bool(templar.render(wanted)):
            return None
        user = next((value for value in (task.become_user, scope.become_user, play.become_user,
                                         connection.become_user) if value is not None), "root")
        password = connection.become_password
        password = templar.render(password) if password is not None else self.play.options.become_password
        method = next((value for value in (task.become_method, scope.become_method, play.become_method,
                                           connection.become_method) if value is not None), "sudo")
        method = str(templar.render(method))
        if method not in BECOME_METHODS:
            raise TemplateError(f"become_method '{method}' is not supported (sudo and su are)", method)
        return Become(user=str(templar.render(user)), password=str(password) if password is not None else None,
                      method=method)

    def check_mode(self, templar: Templar) -> bool:
        forced = self.task.check_mode if self.task.check_mode is not None else self.scope.check_mode
        if forced is not None:
            return to_bool(templar.render(forced))
        if self.play.options.check and _literally_false(self.task.changed_when):
            return False  # a read-only probe: run it for real so later conditions see real data
        return self.play.options.check


def _literally_false(conditions: list[Any] | None) -> bool:
    if not conditions:
        return False
    for condition in conditions:
        if isinstance(condition, bool):
            if condition:
                return False
        elif is_template(condition) or str(condition).strip().lower() not in ("false", "no"):
            return False
    return True


def _resolved(templar: Templar, values: dict[str, Any]) -> dict[str, Any]:
    """`values` (a vars file's) rendered against the host's variables and each other, so a value
    may name another of the same file, as Ansible's lazy templating allows; what cannot render
    yet is kept as written."""
    resolved = resolve_variables(layer(templar.variables, values), only=values)
    return {name: resolved[name] for name in values}


def _any_true(templar: Templar, conditions: list[Any]) -> bool:
    """failed_when: a list means "any" in Ansible (unlike when/changed_when, which mean "all")."""
    return any(templar.is_true([condition]) for condition in conditions)


def _loop_control(templar: Templar, control: dict | None) -> dict:
    """loop_control rendered for the whole loop; `label` names the loop variable, so it is rendered
    per item (run_loop), never here."""
    return templar.render({key: value for key, value in (control or {}).items() if key != "label"})


_NO_LABEL = object()  # no loop_control.label: the registered items carry none


def _loop_outcome(results: list[Outcome], items: list[Any], loop_var: str, labels: list[Any]) -> Outcome:
    """The loop's registered result with ansible-core's keys: each item's own result, its loop
    variable (`item`, or the loop_var's name) and `ansible_loop_var`; `failed` on the items that
    ran, `skipped` (with skip_reason, false_condition) on those a `when` skipped; `failed` at the
    top only when an item failed. `_ansible_item_label`: provision's, only where a label is given."""
    data_results = []
    for item, outcome, label in zip(items, results, labels):
        entry = dict(outcome.data)
        entry.update({"changed": outcome.status == "changed", loop_var: item, "ansible_loop_var": loop_var})
        if outcome.status == "skipped":
            entry["skipped"] = True
            entry.pop("failed", None)
        else:
            entry["failed"] = outcome.status == "failed"
            entry.pop("skipped", None)
        if label is not _NO_LABEL:
            entry["_ansible_item_label"] = label
        data_results.append(entry)
    statuses = [outcome.status for outcome in results]
    if "failed" in statuses:
        status = "failed"
    elif "changed" in statuses:
        status = "changed"
    elif statuses and all(value == "skipped" for value in statuses):
        status = "skipped"
    else:
        status = "ok"
    failed = [outcome.msg for outcome in results if outcome.status == "failed"]
    message = "; ".join(failed) if failed else ("All items completed" if items else "No items in the list")
    diffs = [outcome.diff for outcome in results if outcome.diff]
    data = {"results": data_results, "skipped": status == "skipped", "changed": status == "changed", "msg": message}
    if status == "failed":
        data["failed"] = True
    return Outcome(status, message if failed else "", "\n".join(diffs) or None, data)


__all__ = ["ConnectionFailed", "LoopNotList", "Outcome", "TaskRun"]
