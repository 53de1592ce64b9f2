"""Batched reads: the read commands of upcoming tasks, sent to a host in ONE round trip.

A converged host should re-check in about one round trip, not one per task. Before a task list
runs on a host, each upcoming task's module is asked for its `read_command()` (pure: data, no
host). Those commands go to the host as one script; their outputs are kept, keyed by the exact
command text and become user. When a task then really runs, its read finds its output waiting (`PrefetchTransport`) instead of a round trip.

Why this is safe: a read command is a pure function of the host's state and its own text, and the
key is the exact text. The one thing that makes a prefetched output stale is the host changing
in between, so every cached output is dropped as soon as a task changes something, fails, or runs
a command whose effect cannot be known (command, shell, reboot...); the reads of the tasks still
to come are then batched again, in one more round trip (`generation` tells the runner). On a
converged host nothing changes, so every read is served from the first batch.

Why not drop only the reads of the paths a change touched: two names can be one file (a symlink,
or a symlinked folder above it), and a read served stale through the other name would be a wrong
answer. One round trip per change is the price of never giving one.

Within one task, only the module's reads before its first live command are served from the batch:
a module that writes and then reads again (apt after `apt-get update`, user after usermod) must
see the host as it is now.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import tarfile
import threading
from dataclasses import dataclass, field
from typing import Any

from provision.errors import ConnectionFailed
from provision.modules.base import Module, ModuleFailed
from provision.modules.context import TaskContext
from provision.shell import join
from provision.templating import Templar, TemplateError
from provision.transport.base import Become, CommandResult, Transport, wrap_become

MARK = "@@provision-prefetch:"


class NoHost(Transport):
    """The transport of a context built only to ask a module for its read command: read_command
    is pure, so a call here is a bug in the module, said loudly."""

    name = "none"

    def run(self, command: str, *, stdin=None, become=None, timeout=None) -> CommandResult:
        raise RuntimeError(f"a module ran {command[:60]!r} while only building its read command")

    def close(self) -> None:
        pass


def _key(command: str, become: Become | None) -> tuple[str, str | None]:
    return command, become.user if become else None


@dataclass
class PrefetchCache:
    outputs: dict[tuple[str, str | None], CommandResult] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    served: int = 0
    generation: int = 0  # how many times the cache was dropped: the runner batches again after a drop

    def take(self, command: str, become: Become | None) -> CommandResult | None:
        """The batched output of this read, as often as asked until the host may have changed
        (`clear`): two tasks reading the same file get the same answer without a round trip."""
        with self.lock:
            result = self.outputs.get(_key(command, become))
            if result is not None:
                self.served += 1
            return result

    def clear(self) -> None:
        with self.lock:
            self.outputs.clear()
            self.generation += 1


class PrefetchTransport(Transport):
    """The host's transport for one module run, answering its prefetched reads from the cache
    until it sends its first live command (after which the host may differ from the batch)."""

    name = "prefetch"

    def __init__(self, inner: Transport, cache: PrefetchCache):
        self.inner = inner
        self.cache = cache
        self.live = False

    def run(self, command: str, *, stdin=None, become=None, timeout=None) -> CommandResult:
        if stdin is None and not self.live:
            cached = self.cache.take(command, become)
            if cached is not None:
                return cached
        self.live = True
        return self.inner.run(command, stdin=stdin, become=become, timeout=timeout)

    def close(self) -> None:
        self.inner.close()

    def open(self) -> None:  # reboot reconnects through the context
        opener = getattr(self.inner, "open")
        opener()


def read_of(module_class: type[Module], args: dict[str, Any], context: TaskContext
            ) -> tuple[str, Become | None] | None:
    """The read a task's module will send first, as (shell text, become), or None when there is
    nothing to batch: an opaque module, no read on the host, arguments the task will refuse, or a
    sudo password (it goes on stdin, and a batch has none)."""
    if module_class.opaque:
        return None
    try:
        command = module_class(module_class.check_args(args), context).read_command()
    except ModuleFailed:
        return None  # the task itself fails with this message when it runs
    become = context.become
    if command is None or (become is not None and become.password is not None):
        return None
    return context.command_text(command), become


def batch_script(commands: list[tuple[str, Become | None]]) -> str:
    """One script running every read AT ONCE (they only read), then sending all their outputs as
    one base64 tar of o<i>/e<i>/r<i> files (stdout, stderr, rc). Both matter for speed: a read is
    mostly process start-up on the host, so reads run side by side, and the outputs cost two
    processes in all instead of a few per read."""
    # no cd: a relative path read here must mean what it means for the task's own command (the
    # login's home, where every session starts)
    lines = ['provision_dir=$(mktemp -d) || exit 97']
    for index, (command, become) in enumerate(commands):
        wrapped = wrap_become(command, become).command
        lines.append(f"( {join(['sh', '-c', wrapped])} ) </dev/null >\"$provision_dir/o{index}\" "
                     f"2>\"$provision_dir/e{index}\"; echo $? >\"$provision_dir/r{index}\" &")
    lines.append("wait")
    lines.append(f"echo {MARK}tar@@")
    lines.append('tar -C "$provision_dir" -cf - . | base64; provision_rc=$?')
    lines.append('rm -rf "$provision_dir"; exit $provision_rc')
    return "\n".join(lines) + "\n"


def parse_batch(output: str, count: int) -> dict[int, CommandResult]:
    """The results by index; a read whose files are missing is left out (it runs live)."""
    _, found, encoded = output.partition(MARK + "tar@@")
    if not found:
        return {}
    try:
        archive = tarfile.open(fileobj=io.BytesIO(base64.b64decode("".join(encoded.split()))))
        files = {os.path.basename(member.name): archive.extractfile(member).read()
                 for member in archive.getmembers() if member.isfile()}
    except (ValueError, tarfile.TarError, binascii.Error):
        return {}
    results: dict[int, CommandResult] = {}
    for index in range(count):
        parts = [files.get(f"{kind}{index}") for kind in ("o", "e", "r")]
        if None in parts or not parts[2].strip().isdigit():
            continue
        results[index] = CommandResult(int(parts[2]), parts[0].decode("utf-8", "replace"),
                                       parts[1].decode("utf-8", "replace"))
    return results


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
