"""`provision verify` and `provision check`: prove the end state, and the nightly drift check.

Both build one RunReport (check mode's task results, then one result per testinfra check) and
every output reads it: the exit code, the terminal, `--report-json`, `--junit`, `--prom`, the
history and the HTML report made from it. `check` is quiet for cron: when nothing moved and the
output is not a terminal it prints nothing (one line with `--summary`); when something moved it
names each host and task with the diff, and each check that failed with its message.
"""
from __future__ import annotations

import os
import time

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from provision.commands.arguments import DEFAULT_PLAYBOOK
from provision.ansible_cfg import load_config
from provision.commands.engine import (_options, become_password, command_line_defaults, list_only,
                                       parse_extra_vars, prepare, print_warnings, project_root, roles_dirs, config_defaults,
                                       resolve_playbook, warn_unmatched_tags)
from provision.errors import InputError
from provision.history import HistoryEvents, HistoryStore
from provision.inventory import Inventory, load_inventory
from provision.playbook.model import Playbook
from provision.playbook.validate import load_and_validate
from provision.report.console import ConsoleEvents
from provision.report.jsonreport import write_json
from provision.runner import run_playbook
from provision.runner.interrupts import Interrupt
from provision.hostpatterns import slice_of, targeted_hosts
from provision.runner.results import CHECK_MODULE, RunReport, drift_of
from provision.transport.connect import ConnectOptions
from provision.transport.ssh import library_logs
from provision.verify.outcome import fold_verify, check_exit_code, check_summary, verify_run_report
from provision.verify.plan import VerifyPlan, plan_of
from provision.verify.report import (VerifyProgress, attach_gpu_rows, check_table, print_check_failures,
                                     print_gpu, print_verify)
from provision.verify.run import VerifyResult, run_verify, verify_preconditions



def site_tests_dir() -> str:
    return os.path.join(project_root(), "tests", "verify", "site")


def is_site_playbook(path: str) -> bool:
    """The project's own site playbook: the site-wide tests describe its end state, no other's."""
    return os.path.realpath(path) == os.path.realpath(os.path.join(project_root(), DEFAULT_PLAYBOOK)) or \
        os.path.realpath(path) == os.path.realpath(DEFAULT_PLAYBOOK)


def plan_for(playbook: Playbook, inventory: Inventory, names: list[str], extra: dict,
             roles: list[str] | None = None) -> VerifyPlan:
    """Which tests prove which of `names`: those of the roles `playbook` applies to each."""
    return plan_of(playbook, inventory, names, extra, site_tests_dir(), is_site_playbook(playbook.path), roles)


def verify_hosts(console: Console, inventory: Inventory, plan: VerifyPlan, extra: dict, options: ConnectOptions,
                 forks: int = 100, become_password: str | None = None, progress: bool = True) -> VerifyResult:
    """The plan's tests, hosts in parallel, with a live line per host on a terminal."""
    with VerifyProgress(console, plan.hosts, enabled=progress) as listener:
        return run_verify(inventory, plan, options, extra, forks=forks, listener=listener,
                          become_password=become_password)


# ---- verify ---------------------------------------------------------------------------------------

def run_verify_command(args, console: Console) -> int:
    started = time.time()
    if args.forks < 1:
        raise InputError(f"-f/--forks must be at least 1, got {args.forks}")
    extra = parse_extra_vars(args.extra_vars)
    args.playbook = resolve_playbook(args.playbook)
    if not os.path.isfile(args.playbook):
        raise InputError(f"playbook not found: {args.playbook}")
    # the playbook's group_vars/ and host_vars/ count, as in apply and check
    inventory = load_inventory(args.inventory, os.path.dirname(os.path.abspath(args.playbook)))
    config = load_config()
    config_defaults(config, args)
    command_line_defaults(inventory, args)
    names = targeted_hosts(inventory, "all", args.limit)
    if not names:
        raise InputError(f"--limit {args.limit!r} matches no host of {args.inventory}" if args.limit
                         else f"{args.inventory} has no host")
    if args.host_slice is not None:
        names = slice_of(names, *args.host_slice)
    playbook = load_and_validate(args.playbook, inventory, extra, roles_dirs(args.playbook, config), strict=args.strict)
    print_warnings(console, playbook)
    options = ConnectOptions(accept_new_host_keys=args.accept_new_host_keys, timeout=args.timeout,
                             ssh_config=args.ssh_config)
    password = become_password(args)
    if args.role:
        applied = {role for play in playbook.plays for role in play.all_roles}
        unknown = [role for role in args.role if role not in applied]
        if unknown:
            raise InputError(f"--role {', '.join(unknown)}: not a role {args.playbook} applies "
                             f"(it applies {', '.join(sorted(applied)) or 'none'})")
    with HistoryStore(args.state_db) as store:
        run_id = store.begin_run("verify", args.inventory, args.playbook, False, args.run_group, args.host_slice)
        # Ctrl-C and SIGTERM are counted (the workers, in the same process group, stop on Ctrl-C);
        # the run is then closed as interrupted, its report written and its temporary files removed
        with Interrupt().handling() as interrupt, library_logs(args.verbose):
            plan = plan_for(playbook, inventory, names, extra, args.role)
            result = verify_hosts(console, inventory, plan, extra, options, args.forks, become_password=password,
                                  progress=not args.quiet)
        report = verify_run_report(result, plan.hosts, started)
        if interrupt.requested:
            report.interrupted, report.final_exit_code = True, 130
        attach_gpu_rows(report)
        store.finish_run(run_id, report)
    if not plan.hosts:
        console.print(f"nothing to verify: no tests for the roles {args.playbook} applies to "
                      f"{args.limit or 'these hosts'}" + (f" (--role {', '.join(args.role)})" if args.role else ""),
                      highlight=False)
    print_verify(console, report, args.quiet)
    print_gpu(console, report)
    write_outputs(report, args)
    return report.exit_code


# ---- check ----------------------------------------------------------------------------------------

def run_check(args, console: Console) -> int:
    started = time.time()
    args.check, args.diff = True, True
    if args.gpu_benchmark:
        args.extra_vars = list(args.extra_vars) + ["gpu_verify_depth=full"]
    inventory, playbook, extra = prepare(args)
    if playbook.warnings and console.is_terminal:  # from cron a warning would mail every night
        print_warnings(console, playbook)
    warn_unmatched_tags(args, console, playbook)
    if list_only(args, inventory, playbook, extra):
        return 0
    targeted = targeted_hosts(inventory, "all", args.limit)
    if args.limit and not targeted:  # a typo in a crontab is not "no drift"
        raise InputError(f"--limit {args.limit!r} matches no host of {args.inventory}")
    options = _options(args, extra, inventory)
    plan = None
    if not args.no_verify:  # before the check-mode run: a verify that cannot start must not waste it
        plan = plan_for(playbook, inventory, [name for name in targeted
                                              if options.only_hosts is None or name in options.only_hosts], extra)
        verify_preconditions(inventory, plan.hosts, plan.become, options.become_password)
    with HistoryStore(args.state_db) as store:
        run_id = store.begin_run("check", args.inventory, args.playbook, True, args.run_group, args.host_slice)
        with Interrupt().handling() as interrupt, library_logs(args.verbose):
            events = HistoryEvents(store, run_id, ConsoleEvents(console, args.verbose, quiet=args.quiet, diff=False,
                                                                silent=True))
            with events:
                report = run_playbook(playbook, inventory, options, events, interrupt=interrupt)
            report.started = started  # the whole command, validation and verify included
            if plan is not None and not report.interrupted:
                names = [name for name, recap in report.recaps.items() if not recap.unreachable]
                if names:
                    result = verify_hosts(console, inventory, plan.only(names), extra, options.connect_options,
                                          options.forks, become_password=options.become_password,
                                          progress=not args.quiet)
                    first = len(report.results)
                    fold_verify(report, result, names)
                    for row in report.results[first:]:
                        events.task_result(row)  # into history, as the tasks' results went
                    # Ctrl-C reached the workers too (one process group): they stopped; say so
                    report.interrupted = interrupt.requested
        attach_gpu_rows(report)
        report.final_exit_code = check_exit_code(report)
        report.finished = time.time()
        store.finish_run(run_id, report)
    show_check(console, report, args)
    write_outputs(report, args)
    return report.exit_code


def shown_path(path: str) -> str:
    """A task's file as the failed checks show theirs: relative to the current folder when under it."""
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return path if relative.startswith("..") else relative


def show_check(console: Console, report: RunReport, args) -> None:
    """Nothing when all is well and nobody watches (cron); else drift, failures, table, summary."""
    clean = report.exit_code == 0
    if clean and (args.quiet or not console.is_terminal):
        if args.summary:
            console.print(check_summary(report), highlight=False, soft_wrap=True)
        return
    for host, results in drift_of(report).items():
        for result in results:
            if result.module == CHECK_MODULE:
                continue
            console.print(f"[yellow]drift[/] {escape(host)}: {escape(result.task)} ({escape(shown_path(result.file))}:"
                          f"{result.line})", highlight=False, soft_wrap=True)
            if result.diff and not result.no_log:
                console.print(Text(result.diff.rstrip("\n")))
    print_check_failures(console, report, label="[yellow]drift[/]")
    for result in report.results:
        if result.status == "failed" and not result.ignored and result.module != CHECK_MODULE:
            console.print(f"[bold red]FAILED[/] {escape(result.host)}: {escape(result.task)} - {escape(result.msg)}",
                          highlight=False, soft_wrap=True)
    for name, recap in report.recaps.items():
        if recap.unreachable:
            console.print(f"[bold magenta]UNREACHABLE[/] {escape(name)}: {escape(recap.reason)}",
                          highlight=False, soft_wrap=True)
    if report.verify and report.verify.get("broken"):
        console.print("[bold red]the checks could not run:[/]\n" + escape(report.verify["broken"]), highlight=False)
    for note in report.notes:
        console.print(f"[bold yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    if not clean or args.verbose:
        console.print(check_table(report))
    print_gpu(console, report)
    console.print(check_summary(report), highlight=False, soft_wrap=True)


# ---- shared ---------------------------------------------------------------------------------------

def write_outputs(report: RunReport, args) -> None:
    from provision.report.junit import write_junit
    from provision.report.metrics import write_prometheus

    if getattr(args, "report_json", None):
        write_json(report, args.report_json, extra={"summary": check_summary(report)} if report.check else None)
    if getattr(args, "junit", None):
        write_junit(report, args.junit, drift_is_failure=True)
    if getattr(args, "prom", None):
        write_prometheus(report, args.prom)


__all__ = ["plan_for", "run_check", "run_verify_command", "verify_hosts"]
