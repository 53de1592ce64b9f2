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
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provision import __version__, shell
from provision.errors import ProvisionError, SandboxError, UsageError, ValidationFailed
from provision.sandbox.standin.gpus import PROFILES as GPU_PROFILES

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
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="provision",
        description="Bring fleets of GPU servers to a known, verified state over SSH.",
        epilog="Exit codes: 0 ok, 1 bad input or usage, 2 a task failed, 3 drift found, 4 a host unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"provision {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_sandbox(commands)
    for register in _ENGINE_COMMANDS:
        register(commands)
    return parser


def _add_sandbox(commands) -> None:
    sandbox = commands.add_parser(
        "sandbox", help="throwaway Linux hosts with real sshd on this machine, to try playbooks on",
        description="Start, inspect and stop a sandbox of throwaway hosts (needs root on Linux). "
                    "Each host has its own filesystem (overlay on a shared Debian bookworm image), "
                    "hostname, PID and network namespaces, and real sshd on port 22.")
    actions = sandbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start hosts; the last line printed is the inventory's path")
    up.add_argument("--hosts", type=int, default=3, help="how many hosts (default 3)")
    up.add_argument("--kind", default="plain", choices=["plain", "docker", "systemd"],
                    help="plain: sshd only; docker: with Docker Engine; systemd: booted by systemd")
    up.add_argument("--name", default="default", help="sandbox name; several can run side by side")
    up.add_argument("--gpus", default="h100x8", choices=list(GPU_PROFILES),
                    help="the STAND-IN GPU hardware each host pretends to have (default h100x8: 8 H100 + NVSwitch)")
    up.add_argument("--os", dest="os_name", default="debian12", choices=["debian12", "ubuntu22.04", "ubuntu24.04"],
                    help="the OS the hosts present themselves as (identity files; the userland stays Debian 12's), "
                         "with NVIDIA's stand-in repository for it (default debian12)")
    up.add_argument("--no-pytorch-image", dest="pytorch_image", action="store_false",
                    help="docker kind: do not put the stand-in pytorch/pytorch image (CPU torch, built once "
                         "and cached) into the sandbox registry")
    up.add_argument("--apt-proxy", action="store_true",
                    help="start the sandbox's apt proxy on the bridge (it forwards only to this machine's own apt "
                         "sources, caching .deb files) and point every host's apt at it")
    down = actions.add_parser("down", help="stop every host of a sandbox and remove what it made")
    down.add_argument("--name", default="default")
    status = actions.add_parser("status", help="list a sandbox's hosts, whether they run, their memory")
    status.add_argument("--name", default=None, help="one sandbox (default: all)")
    push = actions.add_parser(
        "push-image", help="put a tiny busybox image (from the base image's files) into the sandbox registry",
        description="Starts the sandbox registry if needed. Docker hosts then `docker pull IMAGE` from it.")
    push.add_argument("--name", default="default")
    push.add_argument("--image", default="busybox:sandbox", help="NAME:TAG to push it as (default busybox:sandbox)")
    ssh = actions.add_parser("ssh", help="run a command (or a shell) on a sandbox host; exit code passed through")
    ssh.add_argument("--name", default="default")
    ssh.add_argument("--user", "-l", default="root", help="root, admin (sudo NOPASSWD) or deploy (sudo asks a password)")
    ssh.add_argument("host")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND...")


def run_sandbox(args, console: Console) -> int:
    from provision.sandbox import Sandbox

    if args.action == "up":
        sandbox = Sandbox.up(args.name, hosts=args.hosts, kind=args.kind, gpus=args.gpus, os_name=args.os_name, log=lambda text: console.print(text),
                             pytorch_image=args.pytorch_image, apt_proxy=args.apt_proxy)
        console.print(f"sandbox [bold]{sandbox.name}[/]: {len(sandbox.hosts)} {sandbox.kind} hosts up; "
                      f"ssh config {sandbox.ssh_config_path}")
        print(sandbox.inventory_path)
        return EXIT_OK
    if args.action == "down":
        sandbox = Sandbox.load(args.name)
        if sandbox is None:
            console.print(f"no sandbox named {args.name}")
            return EXIT_OK
        sandbox.down()
        console.print(f"sandbox {args.name} stopped and removed")
        return EXIT_OK
    if args.action == "status":
        names = [args.name] if args.name else Sandbox.names()
        table = Table("sandbox", "host", "address", "running", "memory")
        for name in names:
            sandbox = Sandbox.load(name)
            if sandbox is None:
                raise SandboxError(f"no sandbox named {name}")
            for row in sandbox.status():
                memory = f"{row['memory_bytes'] / 2**20:.1f} MiB" if row["memory_bytes"] else "-"
                table.add_row(name, row["host"], row["address"], "yes" if row["running"] else "NO", memory)
        console.print(table)
        return EXIT_OK
    sandbox = Sandbox.load(args.name)
    if sandbox is None:
        raise SandboxError(f"no sandbox named {args.name}; start one with `provision sandbox up --name {args.name}`")
    if args.action == "push-image":
        name, _, tag = args.image.partition(":")
        image = sandbox.push_image(name, tag or "latest")
        console.print(f"pushed {image} to {sandbox.registry.url} as library/{image}; on a docker host: docker run {image}")
        return EXIT_OK
    sandbox.host(args.host)  # a clear error for an unknown host
    remote = args.remote[1:] if args.remote[:1] == ["--"] else args.remote
    command = ["ssh", "-F", sandbox.ssh_config_path, "-l", args.user]
    command += ["-t"] if not remote and sys.stdin.isatty() else []
    # ssh joins its arguments with spaces: quote them so `-- sh -c "exit 7"` arrives as typed
    return subprocess.call(command + [args.host] + ([shell.join(remote)] if remote else []))


from provision.commands.check import CHECK_COMMANDS  # noqa: E402
from provision.commands.engine import ENGINE_COMMANDS  # noqa: E402
from provision.commands.history import HISTORY_COMMANDS  # noqa: E402
from provision.commands.onboard import ONBOARD_COMMANDS  # noqa: E402

_ENGINE_COMMANDS = ENGINE_COMMANDS + CHECK_COMMANDS + HISTORY_COMMANDS + ONBOARD_COMMANDS


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Logs and CI read the recap too: off a terminal, do not squeeze tables into 80 columns.
    console = Console(stderr=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
    errors = Console(stderr=True)
    try:
        args = parser.parse_args(argv)
        if args.command == "sandbox":
            return run_sandbox(args, console)
        return args.handler(args, console)
    except UsageError as error:
        errors.print(escape(error.usage.rstrip()), highlight=False, soft_wrap=True)
        errors.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
        return EXIT_INPUT
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


if __name__ == "__main__":
    sys.exit(main())
