"""Command line: parse, call, map errors to exit codes. Nothing else lives here.

Exit codes: 0 all good; 1 bad input or usage; 2 a task or check failed; 3 drift found (check);
4 some host unreachable.

The easy thing to get wrong: argparse exits 2 on a usage error, and 2 means "a task failed" here.
`_Parser` turns every usage error into a UsageError (exit 1, the usage line and one `error:` line),
and checks what argparse's types cannot say (`-f 0`, `-T -1`, a missing `-F` file) before any
command runs, so no host is contacted on a command line that cannot work.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provision import __version__
from provision.commands.arguments import COMMANDS, settle_targets
from provision.errors import ProvisionError, UsageError, ValidationFailed

EXIT_OK, EXIT_INPUT, EXIT_FAILED, EXIT_DRIFT, EXIT_UNREACHABLE = 0, 1, 2, 3, 4


def _at_least_one(value: Any) -> str | None:
    return None if value is None or value >= 1 else f"must be at least 1, not {value}"


def _seconds(value: Any) -> str | None:
    return None if value is None or (math.isfinite(value) and value > 0) else f"must be seconds above 0, not {value:g}"


def _port(value: Any) -> str | None:
    return None if value is None or 0 < value < 65536 else f"must be a port number (1-65535), not {value}"


def _existing_file(value: Any) -> str | None:
    if value is None:
        return None
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        return f"no such file: {value}"
    return None if os.access(path, os.R_OK) else f"cannot read {value}"


@dataclass(frozen=True)
class ArgumentRule:
    """What an option's value must be, beyond its type; checked on every command that has it."""

    dest: str
    flag: str
    problem: Callable[[Any], str | None]


ARGUMENT_RULES = (
    ArgumentRule("forks", "-f/--forks", _at_least_one),
    ArgumentRule("timeout", "-T/--timeout", _seconds),
    ArgumentRule("ssh_config", "-F/--ssh-config", _existing_file),
    ArgumentRule("hosts", "--hosts", _at_least_one),
    ArgumentRule("port", "-p/--port", _port),
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are bad input (UsageError, exit 1), never argparse's exit 2.
    Subcommands are built with the same class (argparse passes it on), so each checks its own
    arguments against ARGUMENT_RULES as soon as they are parsed."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message, self.format_usage())

    def parse_known_args(self, args: Any = None, namespace: Any = None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        for rule in ARGUMENT_RULES:
            if hasattr(namespace, rule.dest):
                problem = rule.problem(getattr(namespace, rule.dest))
                if problem:
                    self.error(f"argument {rule.flag}: {problem}")
        if "settle_targets" in namespace and "inventory_option" in namespace:
            problem = settle_targets(namespace)
            if problem:
                self.error(problem)
            del namespace.settle_targets, namespace.inventory_option  # settled once, by the subcommand
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="provision",
        description="Bring fleets of GPU servers to a known, verified state over SSH.",
        epilog="Exit codes: 0 ok, 1 bad input or usage, 2 a task failed, 3 drift found, 4 a host unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"provision {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(commands)
    parser.set_defaults(subcommands=commands.choices)  # each command's own parser, for its usage line
    return parser


def handler_of(path: str) -> Callable[[argparse.Namespace, Any], int]:
    """The command's handler, imported now that it runs ("provision.commands.engine:run_apply")."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _open_files_limit() -> None:
    """One socket per host: a fleet of a thousand must not meet the common soft limit of 1,024 open
    files (the hard limit is the administrator's word; the soft one is only a default)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass


def _few_malloc_arenas() -> None:
    """glibc gives threads that contend for malloc arenas of their own (up to 8 per core), and each
    keeps the memory freed into it: with a thread per host, a check of 400 hosts held 145 MiB where
    two arenas hold 99. Threads that mostly wait on the network need no more. MALLOC_ARENA_MAX, when
    set, is the user's word; a libc without mallopt (musl) has no arenas to limit."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX (malloc.h), before any host's thread starts
    except (OSError, AttributeError):
        pass


def _vault(args):
    """The command's Ansible Vault passwords (--vault-password-file, --vault-id, -J, or
    $ANSIBLE_VAULT_PASSWORD_FILE), or None when it was given none."""
    files = list(getattr(args, "vault_password_file", None) or [])
    ids = list(getattr(args, "vault_id", None) or [])
    ask = getattr(args, "ask_vault_pass", False)
    if not (files or ids or ask) and os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE") and hasattr(args, "vault_id"):
        files = [os.environ["ANSIBLE_VAULT_PASSWORD_FILE"]]
    if not (files or ids or ask):
        return None
    import getpass

    from provision.vault import Vault, password_from_file

    passwords = [password_from_file(spec) for spec in files]
    for spec in ids:
        label, _, source = spec.rpartition("@")
        if source == "prompt":
            passwords.append((label or None, getpass.getpass(f"Vault password ({label or 'default'}): ").encode()))
        else:
            passwords.append(password_from_file(spec))
    if ask:
        passwords.append((None, getpass.getpass("Vault password: ").encode()))
    return Vault(passwords)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said with the subcommand's usage, not the top-level one
            command = args.subcommands.get(getattr(args, "command", None))
            (command or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    except UsageError as error:
        return _usage_error(error)
    from rich.console import Console
    from rich.markup import escape

    # Logs and CI read the recap too: off a terminal, do not squeeze tables into 80 columns.
    console = Console(stderr=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
    errors = Console(stderr=True)
    _open_files_limit()
    _few_malloc_arenas()
    try:
        from provision.vault import using

        with using(_vault(args)):
            return handler_of(args.handler)(args, console)
    except UsageError as error:
        return _usage_error(error)
    except ValidationFailed as failure:
        for error in failure.errors:
            errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        errors.print(f"{len(failure.errors)} problem(s) found; no host was touched")
        return EXIT_INPUT
    except ProvisionError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_INPUT
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    except BrokenPipeError:  # `provision ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _usage_error(error: UsageError) -> int:
    """The usage line and one `error:` line on stderr, exit 1 (plain text: no rich needed)."""
    sys.stderr.write(error.usage.rstrip() + "\n" + f"error: {error.message}\n")
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
