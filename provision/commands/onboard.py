"""`provision onboard HOST`: connect, check sudo, preflight, add to the inventory, apply, verify.

Safe to re-run: a host that is already onboarded is left as it is and the command says so. The
steps themselves live in provision/onboard/steps.py; this file parses options, orders them and prints.
"""
from __future__ import annotations

import getpass
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape

from provision.ansible_cfg import load_config
from provision.commands.engine import project_roles_dir, resolve_playbook, roles_dirs
from provision.errors import InputError
from provision.history import HistoryEvents, HistoryStore
from provision.inventory import Inventory, load_inventory
from provision.onboard.steps import (
    OnboardError,
    Target,
    changed_tasks,
    check_become,
    check_fingerprint_syntax,
    connection_variables,
    install_public_key,
    installed_versions,
    open_with_key,
    open_with_password,
    pinned_known_hosts,
    plan_lines,
    preflight_facts,
    preflight_playbook,
    public_key_text,
    reboot_expected,
    record_host_key,
    resolve_target,
    scan_host_key,
    trust_host_key,
)
from provision.onboard.inventory import add_host_text, load_inventory_text, write_atomically
from provision.playbook.validate import load_and_validate
from provision.report.console import ConsoleEvents
from provision.runner import RunOptions, run_playbook
from provision.runner.hoststate import open_transport
from provision.templating import Templar, TemplateError
from provision.verify.report import print_gpu
from provision.variables import layer

@dataclass
class Progress:
    """What this onboarding changed, for the final "nothing to do" verdict."""

    host_key_recorded: bool = False
    key_installed: bool = False
    inventory_changed: bool = False
    changed_tasks: list[str] = field(default_factory=list)

    @property
    def nothing_done(self) -> bool:
        return not (self.host_key_recorded or self.key_installed or self.inventory_changed or self.changed_tasks)


def run_onboard(args, console: Console) -> int:
    check_fingerprint_syntax(args.host_key_fingerprint)
    if not os.path.isfile(args.inventory):
        raise InputError(f"inventory not found: {args.inventory}")
    args.playbook = resolve_playbook(args.playbook)
    if not os.path.isfile(args.playbook):
        raise InputError(f"playbook not found: {args.playbook}")
    # The history first: a --state-db that cannot be opened must stop onboarding before it trusts a
    # key, edits the inventory or touches the host.
    with HistoryStore(args.state_db) as store:
        return _onboard(args, console, store)


def _onboard(args, console: Console, store: HistoryStore) -> int:
    progress = Progress()
    playbook_dir = os.path.dirname(os.path.abspath(args.playbook))
    with open(args.inventory, encoding="utf-8") as handle:
        original = handle.read()
    new_text, progress.inventory_changed = add_host_text(original, args.group, args.host,
                                                         _entry(args, original, playbook_dir))
    candidate = load_inventory_text(args.inventory, new_text, playbook_dir)
    target = resolve_target(candidate, args.host, args.key, args.ssh_config)
    console.print(f"[bold]onboard {escape(args.host)}[/]: {escape(target.user)}@{escape(target.address)}:{target.port}",
                  highlight=False)

    connect(args, console, target, progress)
    playbook = load_and_validate(args.playbook, candidate, {}, roles_dirs(args.playbook, load_config()))
    facts = preflight(args, console, candidate, playbook)
    if args.dry_run:
        console.print("dry run: stopping here; the inventory and the host's configuration are unchanged")
        return 0

    if progress.inventory_changed:
        write_atomically(args.inventory, new_text)
        console.print(f"inventory: added {escape(args.host)} to group {escape(args.group)} in {escape(args.inventory)}",
                      highlight=False)
    else:
        console.print(f"inventory: {escape(args.host)} is already in group {escape(args.group)}", highlight=False)
    inventory = load_inventory(args.inventory, playbook_dir)
    code, report = apply_site(args, console, inventory, playbook, store)
    progress.changed_tasks = changed_tasks(report, args.host)
    if code:
        console.print(f"[bold red]apply failed on {escape(args.host)}[/]: the host is in the inventory; fix the "
                      f"cause and re-run the same `provision onboard` command (it is safe to re-run)")
        return code
    verified = verify(args, console, inventory, playbook, store)
    if verified.exit_code:
        console.print(f"[bold red]verify failed on {escape(args.host)}[/]; re-run `provision onboard` once fixed")
        return verified.exit_code
    summary(args, console, inventory, report, facts, progress, verified)
    return 0


def _entry(args, original: str, playbook_dir: str) -> dict:
    """The connection variables to write: the address (kept if the host is listed), user, port, key."""
    address = args.address
    if not address:
        current = load_inventory_text(args.inventory, original, playbook_dir)
        known = current.hosts.get(args.host)
        address = str(known.vars.get("ansible_host", args.host)) if known else args.host
    return connection_variables(address, args.user, args.port, args.key)


# ---- step 1: host key, login, sudo -----------------------------------------------------------------

def connect(args, console: Console, target: Target, progress: Progress) -> None:
    offered = scan_host_key(target.address, target.port, args.timeout)
    confirm = _ask if sys.stdin.isatty() and not args.host_key_fingerprint else None
    must_record = trust_host_key(target, offered, args.host_key_fingerprint, confirm)
    with tempfile.TemporaryDirectory(prefix="provision-onboard-") as folder:
        known_hosts = pinned_known_hosts(folder, target, offered) if must_record else target.known_hosts
        transport = open_with_key(target, known_hosts, args.timeout)
        if transport is None:
            transport = _install_key(args, console, target, known_hosts, progress)
        try:
            check_become(transport, target)
        finally:
            transport.close()
    if must_record:
        record_host_key(target, offered)
        progress.host_key_recorded = True
        console.print(f"host key {offered.get_name()} recorded in {escape(target.known_hosts)}", highlight=False)
    console.print(f"login with key {escape(target.key_file or '')}: ok; sudo without password: ok", highlight=False)


def _install_key(args, console: Console, target: Target, known_hosts: str, progress: Progress):
    if not target.key_file:
        raise InputError("no key to install: set ansible_ssh_private_key_file in the inventory or pass --key")
    password = _password(args, target)
    if password is None:
        raise OnboardError(f"{target.user}@{target.address} does not accept the key {target.key_file}; re-run with "
                           f"--ask-pass (or --password-env VAR) to install it with the login password")
    public_key = public_key_text(target.key_file)
    with_password = open_with_password(target, known_hosts, password, args.timeout)
    try:
        progress.key_installed = install_public_key(with_password, public_key)
    finally:
        with_password.close()
    console.print(f"installed {escape(target.key_file)}.pub in {escape(target.user)}'s authorized_keys", highlight=False)
    transport = open_with_key(target, known_hosts, args.timeout)
    if transport is None:
        raise OnboardError(f"the key is in {target.user}'s authorized_keys but the host still refuses it: check "
                           f"sshd's PubkeyAuthentication/AuthorizedKeysFile and the permissions of ~/.ssh")
    return transport


def _password(args, target: Target) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise InputError(f"--password-env {args.password_env}: that variable is not set")
        return value
    if args.ask_pass:
        return getpass.getpass(f"SSH password for {target.user}@{target.address}: ")
    return None


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


# ---- step 3: preflight -----------------------------------------------------------------------------

PLAN_VARIABLES = ("nvidia_driver_branch", "nvidia_container_toolkit_version", "docker_install_source", "pytorch_image")


def preflight(args, console: Console, inventory: Inventory, playbook) -> dict:
    options = RunOptions(check=True, limit=args.host, forks=1, connect_timeout=args.timeout,
                         ssh_config=args.ssh_config, command="onboard")
    report = run_playbook(preflight_playbook(playbook), inventory, options)
    facts = preflight_facts(report, args.host)
    variables = _plan_variables(inventory, args.host)  # loaded/installed driver: gpu_driver_facts' reading
    gpus = facts.get("gpus") or []
    models = sorted({str(gpu.get("model")) for gpu in gpus})
    branch = str(variables.get("nvidia_driver_branch", "580"))
    rows = [("OS", f"{facts.get('os')} ({facts.get('arch')})"), ("kernel", facts.get("kernel")),
            ("GPUs", f"{facts.get('gpu_count', 0)} x {', '.join(models) or '-'}"),
            ("NVSwitch", str(facts.get("nvswitch_count", 0))), ("Secure Boot", facts.get("secure_boot")),
            ("driver now", facts.get("installed_driver") or "none"),
            ("will install", "; ".join(plan_lines(facts, variables))),
            ("reboot", "will be needed" if reboot_expected(facts, branch) else "not needed")]
    console.print("[bold]preflight[/]", highlight=False)
    for label, value in rows:
        console.print(f"  {label:<13} {escape(str(value))}", highlight=False, soft_wrap=True)
    return facts


def _plan_variables(inventory: Inventory, host: str) -> dict:
    from provision.verify.run import role_defaults

    roles_dir = project_roles_dir()
    merged = layer(role_defaults([roles_dir] if roles_dir else []), inventory.hosts[host].vars)
    picked = {name: merged[name] for name in PLAN_VARIABLES if name in merged}
    try:
        return Templar(merged).render(picked)
    except TemplateError:
        return picked


# ---- step 5: apply and verify; step 6: summary -----------------------------------------------------

def apply_site(args, console: Console, inventory: Inventory, playbook, store: HistoryStore):
    options = RunOptions(limit=args.host, forks=1, connect_timeout=args.timeout, ssh_config=args.ssh_config)
    run_id = store.begin_run("apply", args.inventory, args.playbook, False)
    with HistoryEvents(store, run_id, ConsoleEvents(console, args.verbose, args.quiet, False)) as events:
        report = run_playbook(playbook, inventory, options, events)
    store.finish_run(run_id, report, exit_code=report.exit_code)
    return report.exit_code, report


def verify(args, console: Console, inventory: Inventory, playbook, store: HistoryStore):
    """The tests of the roles the site playbook applied to the host, recorded as a verify run."""
    from provision.commands.check import plan_for, verify_hosts
    from provision.transport.connect import ConnectOptions
    from provision.verify.outcome import verify_run_report
    from provision.verify.report import print_verify

    started = time.time()
    options = ConnectOptions(timeout=args.timeout, ssh_config=args.ssh_config)
    run_id = store.begin_run("verify", args.inventory, args.playbook)
    plan = plan_for(playbook, inventory, [args.host], {})
    result = verify_hosts(console, inventory, plan, {}, options)
    report = verify_run_report(result, plan.hosts or [args.host], started)
    store.finish_run(run_id, report)
    print_verify(console, report, quiet=True)
    passed = sum(recap.checks_passed for recap in report.recaps.values())
    console.print(f"verify: {passed} check(s) passed on {escape(args.host)}", highlight=False)
    return report


def summary(args, console: Console, inventory: Inventory, report, facts: dict, progress: Progress,
            verified) -> None:
    transport = open_transport(args.host, inventory.hosts[args.host].vars,
                               RunOptions(connect_timeout=args.timeout, ssh_config=args.ssh_config))
    try:
        versions = installed_versions(transport)
    finally:
        transport.close()
    console.print(f"[bold]{escape(args.host)} onboarded[/]", highlight=False)
    installed = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
    console.print(f"  installed     {escape(installed or '-')}", highlight=False, soft_wrap=True)
    print_gpu(console, report)  # what the GPU verification measured, and why anything was skipped
    console.print(f"  nightly check provision check {escape(args.inventory)} {escape(args.playbook)} --limit "
                  f"{escape(args.group)}", highlight=False, soft_wrap=True)
    recap = report.recaps.get(args.host)
    tasks = f"{recap.ok} task(s) ok, {recap.changed} changed" if recap is not None else "no task ran"
    checks = sum(host.checks_passed for host in verified.recaps.values())
    rechecked = f"re-checked: the site playbook converged ({tasks}); verify: {checks} check(s) passed"
    if progress.nothing_done:
        console.print(f"already onboarded: nothing to do ({rechecked})", highlight=False)
    else:
        console.print(f"changed: {len(progress.changed_tasks)} task(s)"
                      + (", inventory" if progress.inventory_changed else "")
                      + (", host key recorded" if progress.host_key_recorded else "")
                      + (", key installed" if progress.key_installed else ""))


__all__ = ["OnboardError", "run_onboard"]
