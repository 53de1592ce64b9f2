"""`provision sandbox`: start, inspect and stop throwaway SSH hosts on this machine."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

from rich.console import Console
from rich.table import Table

from provision import shell
from provision.errors import SandboxError

EXIT_OK = 0


def run_sandbox(args, console: Console) -> int:
    from provision.sandbox import Sandbox

    if args.action == "up":
        if args.password_env and not args.password_only:
            raise SandboxError("--password-env goes with --password-only")
        if args.password_env and not os.environ.get(args.password_env):  # checked before any host starts
            raise SandboxError(f"--password-env {args.password_env}: that variable is not set (or empty)")
        sandbox = Sandbox.up(args.name, hosts=args.hosts, kind=args.kind, gpus=args.gpus, os_name=args.os_name, log=lambda text: console.print(text),
                             pytorch_image=args.pytorch_image, apt_proxy=args.apt_proxy)
        console.print(f"sandbox [bold]{sandbox.name}[/]: {len(sandbox.hosts)} {sandbox.kind} hosts up; "
                      f"ssh config {sandbox.ssh_config_path}")
        if args.password_only:
            password = os.environ.get(args.password_env or "") or secrets.token_urlsafe(9)
            sandbox.password_only(password)
            shown = f"${args.password_env}" if args.password_env and os.environ.get(args.password_env) else password
            console.print(f"password-only: root logs in with the password {shown}, no key; rehearse onboarding "
                          f"with `provision onboard {sandbox.hosts[0].name} --address {sandbox.hosts[0].address} "
                          "--user root --ask-pass --inventory lab.yaml --group gpu`", highlight=False, soft_wrap=True)
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
