"""A ready-made ModuleContext: the runner fills it per host and task; tests use it with LocalTransport.

The runner owns variables and templating, so those come in as callables; this class only knows how
to run a command with the task's become and environment applied.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from provision.errors import ProvisionError
from provision.modules.base import ModuleFailed
from provision.shell import env_prefix, join
from provision.transport.base import Become, CommandResult, Transport


def _no_render(text: str) -> str:
    raise ModuleFailed("templating is not available in this context")


def _no_evaluate(expression: str) -> Any:
    raise ModuleFailed("expressions are not available in this context")


@dataclass
class TaskContext:
    """Implements provision.modules.base.ModuleContext.

    - find_file(kind, name) -> local path: looks in each of `search_dirs`/<kind>/name, then name.
    - render / evaluate: the runner's Jinja2 for this host (template, assert, debug).
    - reopen: returns a fresh transport for the host (reboot); `reconnect` swaps it in.
    """

    transport: Transport
    become: Become | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    check: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    search_dirs: list[str] = field(default_factory=list)
    render_text: Callable[[str], str] = _no_render
    evaluate_expression: Callable[[str], Any] = _no_evaluate
    # variables read by the task (include_vars) rendered against the host's and each other
    resolve_values: Callable[[dict[str, Any]], dict[str, Any]] = dict
    reopen: Callable[[], Transport] | None = None  # None: call transport.open() (SSHTransport has it)
    timeout: float | None = None  # `async: N`: every command without a timeout of its own bounded by N s
    background: float | None = None  # `async: N` with `poll: 0`: a command starts detached, bounded by N s
    cap: float | None = None  # `timeout: N` (the task keyword): every command bounded by N s, even one with its own
    check_pending: set[str] = field(default_factory=set)  # the host's, shared by its tasks (Module.check_leaves)

    def find_file(self, kind: str, name: str, folders: bool = False) -> str:
        """The first of the role's and the playbook's KIND/NAME, then NAME there (and NAME itself
        when absolute); `folders`: a folder counts too (copy's folder src)."""
        import os

        candidates = [os.path.join(base, kind, name) for base in self.search_dirs]
        candidates += [os.path.join(base, name) for base in self.search_dirs]
        if os.path.isabs(name):
            candidates.insert(0, name)
        for candidate in candidates:
            if os.path.isfile(candidate) or (folders and os.path.isdir(candidate)):
                return candidate
        looked = ", ".join(candidates) or name
        raise ModuleFailed(f"could not find {kind[:-1] if kind.endswith('s') else kind} {name!r} (looked in: {looked})")

    def render(self, text: str, **options: bool) -> str:
        try:
            return self.render_text(text, **options)
        except ProvisionError as error:  # a template error fails the task, it does not crash the run
            raise ModuleFailed(str(error)) from error

    def evaluate(self, expression: str) -> Any:
        try:
            return self.evaluate_expression(expression)
        except ProvisionError as error:
            raise ModuleFailed(str(error)) from error

    def command_text(self, command: str) -> str:
        """The shell text `run` sends for `command` (pure): the task's environment applied."""
        if self.environment:
            # `env` applies to one program, so the whole command runs in a shell under it.
            return env_prefix(self.environment) + join(["sh", "-c", command])
        return command

    def run(self, command: str, *, stdin: bytes | str | None = None, timeout: float | None = None) -> CommandResult:
        bound = timeout if timeout is not None else self.timeout
        if self.cap is not None:  # the task's `timeout:` bounds every command, whatever it asks for
            bound = self.cap if bound is None else min(bound, self.cap)
        return self.transport.run(self.command_text(command), stdin=stdin, become=self.become, timeout=bound)

    def reconnect(self) -> None:
        if self.reopen is not None:
            self.transport.close()
            self.transport = self.reopen()
            return
        opener = getattr(self.transport, "open", None)
        if opener is None:
            raise ModuleFailed(f"the {self.transport.name} connection cannot be reopened")
        opener()
