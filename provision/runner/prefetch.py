"""Batched reads: the read commands of upcoming tasks, sent to a host in ONE round trip.

A converged host should re-check in about one round trip, not one per task. Before a task list
runs on a host, each upcoming task's module is asked for its read step against a transport that
only *records* the first command it would run (`Capture`). Those commands go to the host as one
script; their outputs are kept, keyed by the exact command text and become user. When a task
then really runs, its read finds its output waiting (`PrefetchTransport`) instead of a round trip.

Why this is safe: a read command is a pure function of the host's state and its own text, and the
key is the exact text. The one thing that makes a prefetched output stale is the host changing
in between, so every cached output is dropped as soon as a task changes something, fails, or runs
a command whose effect cannot be known (command, shell, reboot...). On a converged host nothing
changes, so every read is served from the batch.
"""
from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any

from provision.errors import ConnectionFailed
from provision.modules import get_module
from provision.modules.base import ModuleFailed
from provision.modules.context import TaskContext
from provision.shell import join
from provision.templating import Templar, TemplateError
from provision.transport.base import Become, CommandResult, Transport, wrap_become

# Tasks whose execution may change the host without reporting "changed": caches end there.
OPAQUE_MODULES = frozenset({"command", "shell", "raw", "script", "reboot", "wait_for", "setup", "apt", "dnf"})
MARK = "@@provision-prefetch:"


class Captured(Exception):
    def __init__(self, command: str, become: Become | None):
        super().__init__(command)
        self.command = command
        self.become = become


class CaptureTransport(Transport):
    """Records the first command a module's read step would run, and stops it there."""

    name = "capture"

    def run(self, command: str, *, stdin=None, become=None, timeout=None) -> CommandResult:
        if stdin is not None or (become is not None and become.password is not None):
            raise Captured("", None)  # needs stdin (or a sudo password on stdin): not batchable
        raise Captured(command, become)

    def close(self) -> None:
        pass


def _key(command: str, become: Become | None) -> tuple[str, str | None]:
    return command, become.user if become else None


@dataclass
class PrefetchCache:
    outputs: dict[tuple[str, str | None], CommandResult] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    served: int = 0

    def take(self, command: str, become: Become | None) -> CommandResult | None:
        with self.lock:
            result = self.outputs.pop(_key(command, become), None)
            if result is not None:
                self.served += 1
            return result

    def clear(self) -> None:
        with self.lock:
            self.outputs.clear()


class PrefetchTransport(Transport):
    """The host's transport, answering prefetched reads from the cache."""

    name = "prefetch"

    def __init__(self, inner: Transport, cache: PrefetchCache):
        self.inner = inner
        self.cache = cache

    def run(self, command: str, *, stdin=None, become=None, timeout=None) -> CommandResult:
        if stdin is None:
            cached = self.cache.take(command, become)
            if cached is not None:
                return cached
        return self.inner.run(command, stdin=stdin, become=become, timeout=timeout)

    def close(self) -> None:
        self.inner.close()

    def open(self) -> None:  # reboot reconnects through the context
        opener = getattr(self.inner, "open")
        opener()


def capture(module_name: str, args: dict[str, Any], context: TaskContext) -> tuple[str, Become | None] | None:
    """The first read command of a module with these args, or None when there is none to batch."""
    try:
        module_class = get_module(module_name)
    except KeyError:
        return None
    try:
        module = module_class(module_class.check_args(args), context)
        module.read()
    except Captured as captured:
        return (captured.command, captured.become) if captured.command else None
    except (ModuleFailed, TemplateError, Exception):  # noqa: BLE001 - a read that fails here runs live later
        return None
    return None


def batch_script(commands: list[tuple[str, Become | None]]) -> str:
    """One script running each read, printing rc, stdout and stderr base64-encoded between marks."""
    lines = ['provision_dir=$(mktemp -d) || exit 97', 'cd / || exit 97']
    for index, (command, become) in enumerate(commands):
        wrapped = wrap_become(command, become).command
        lines.append(f"( {join(['sh', '-c', wrapped])} ) </dev/null >\"$provision_dir/o\" 2>\"$provision_dir/e\"; "
                     f"provision_rc=$?; printf '{MARK}%s %s@@\\n' {index} \"$provision_rc\"; "
                     "base64 \"$provision_dir/o\"; echo; printf '" + MARK + "err@@\\n'; base64 \"$provision_dir/e\"")
    lines.append('rm -rf "$provision_dir"')
    return "\n".join(lines) + "\n"


def parse_batch(output: str, count: int) -> dict[int, CommandResult]:
    results: dict[int, CommandResult] = {}
    index, rc, part, chunks = None, 0, "out", {"out": [], "err": []}

    def finish() -> None:
        if index is not None:
            decode = lambda lines: base64.b64decode("".join(lines)).decode("utf-8", "replace")  # noqa: E731
            results[index] = CommandResult(rc, decode(chunks["out"]), decode(chunks["err"]))

    for line in output.splitlines():
        if line.startswith(MARK) and line.endswith("@@"):
            body = line[len(MARK):-2]
            if body == "err":
                part = "err"
                continue
            finish()
            number, _, code = body.partition(" ")
            index, rc, part, chunks = int(number), int(code), "out", {"out": [], "err": []}
        elif index is not None:
            chunks[part].append(line.strip())
    finish()
    return {key: value for key, value in results.items() if key < count}


def prefetch(transport: Transport, wanted: list[tuple[str, Become | None]], cache: PrefetchCache) -> None:
    """Run the wanted reads in one round trip and fill the cache. A failure just leaves it empty."""
    unique = [entry for entry in dict.fromkeys(wanted) if _key(*entry) not in cache.outputs]
    if len(unique) < 2:
        return  # one read is no saving
    try:
        result = transport.run(batch_script(unique), timeout=120)
    except ConnectionFailed:
        raise
    if result.rc not in (0,):
        return
    parsed = parse_batch(result.stdout, len(unique))
    with cache.lock:
        for index, (command, become) in enumerate(unique):
            # a refused sudo must reach the task as the transport reports it: never cache it
            if index in parsed and (become is None or parsed[index].rc == 0):
                cache.outputs[_key(command, become)] = parsed[index]


def render_args(templar: Templar, args: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return templar.render(dict(args))
    except TemplateError:
        return None
