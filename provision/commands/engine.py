"""The engine's commands: `apply`, `lint` and `inventory`. Parse options, call, return an exit code.

Everything is validated (inventory, playbook, every role, every module argument) before a single
host is contacted; bad input exits 1 with every problem listed and nothing touched.
"""
from __future__ import annotations

import argparse
import getpass
import os

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from provision.errors import InputError, Mark, ProvisionError, ValidationFailed
from provision.history import HistoryEvents, HistoryStore
from provision.inventory import graph, host_view, load_inventory
from provision.playbook.validate import load_and_validate
from provision.report.console import ConsoleEvents
from provision.report.jsonreport import write_json
from provision.runner import RunOptions, run_playbook
from provision.runner.interrupts import Interrupt
from provision.verify.outcome import check_exit_code, drift_of, verify_run_report
from provision.runner.play import targeted_hosts
from provision.transport.connect import ConnectOptions
from provision.transport.ssh import library_logs
from provision.yamlsource import dump, load_text, read_text

DEFAULT_PLAYBOOK = "playbooks/site.yaml"
BECOME_PASSWORD_VARIABLE = "PROVISION_BECOME_PASSWORD"
EXIT_CODES = ("exit codes: 0 all good; 1 bad input or usage; 2 a task failed on some host; "
              "4 some host unreachable (2|4 = 6 when both); 130 interrupted")


def project_roles_dir() -> str | None:
    """The project's roles/: in the current folder, else beside the installed package's source."""
    source_tree = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for base in (os.getcwd(), source_tree):
        candidate = os.path.join(base, "roles")
        if os.path.isdir(candidate):
            return candidate
    return None


def add_apply(commands) -> None:
    parser = commands.add_parser(
        "apply", help="converge hosts: run a playbook against an inventory",
        description="Validate the inventory and playbook as a whole, then run the playbook on every "
                    "targeted host in parallel, one SSH connection per host.",
        epilog=EXIT_CODES + ". Example: provision apply inventories/lab.yaml playbooks/site.yaml --limit gpu --check --diff")
    _run_arguments(parser)
    parser.set_defaults(handler=run_apply)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="Ansible YAML inventory file")
    parser.add_argument("playbook", nargs="?", default=DEFAULT_PLAYBOOK, help=f"playbook (default {DEFAULT_PLAYBOOK})")
    parser.add_argument("-l", "--limit", help="Ansible host pattern: gpu, 'gpu:&h100', 'gpu:!drain', 'node*', @retry-file")
    parser.add_argument("-C", "--check", action="store_true", help="change nothing; report what would change")
    parser.add_argument("-D", "--diff", action="store_true", help="show a unified diff of each file change")
    parser.add_argument("-t", "--tags", default="", help="only tasks with these tags (comma-separated)")
    parser.add_argument("--skip-tags", default="", help="skip tasks with these tags")
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="KEY=VALUE, YAML/JSON text, or @FILE; highest precedence; repeatable")
    parser.add_argument("-f", "--forks", type=int, default=100, help="hosts worked on at once (default 100)")
    parser.add_argument("-K", "--ask-become-pass", action="store_true",
                        help=f"prompt for the sudo password (or set {BECOME_PASSWORD_VARIABLE})")
    parser.add_argument("--accept-new-host-keys", action="store_true",
                        help="record the key of a host never seen before (like OpenSSH accept-new); "
                             "a changed key is always refused")
    parser.add_argument("-F", "--ssh-config", help="ssh config file (default ~/.ssh/config)")
    parser.add_argument("-T", "--timeout", type=float, default=10.0, help="SSH connect timeout in seconds (default 10)")
    parser.add_argument("--report-json", metavar="FILE", help="write every task result as JSON (schema in README)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: ok/skipped lines and output; -vv more")
    parser.add_argument("-q", "--quiet", action="store_true", help="only problems and the recap")
    parser.add_argument("--state-db", metavar="PATH", help="run history (SQLite); default .provision/history.sqlite")


def verify_sources() -> tuple[list[str], str | None]:
    """Where verify's testinfra files are: the project's roles/ and tests/verify/site/."""
    roles_dir = project_roles_dir()
    if roles_dir is None:
        return [], None
    return [roles_dir], os.path.join(os.path.dirname(roles_dir), "tests", "verify", "site")


def record_verify(state_db: str | None, inventory_path: str, result, names: list[str]) -> None:
    """A verify run into history, as one result per host and check."""
    with HistoryStore(state_db) as store:
        run_id = store.begin_run("verify", inventory_path)
        store.finish_run(run_id, verify_run_report(result, names), exit_code=result.exit_code)


def add_lint(commands) -> None:
    parser = commands.add_parser(
        "lint", help="validate an inventory and playbook without touching any host",
        description="The validation `apply` runs first, alone: YAML, keywords, modules and their "
                    "arguments, roles, templates, handlers, undefined variables. Exit 0 or 1.")
    parser.add_argument("inventory")
    parser.add_argument("playbook", nargs="?", default=DEFAULT_PLAYBOOK)
    parser.add_argument("-e", "--extra-vars", action="append", default=[])
    parser.set_defaults(handler=run_lint)


def add_inventory(commands) -> None:
    parser = commands.add_parser("inventory", help="show what an inventory resolves to",
                                 description="Like ansible-inventory: --graph, --host NAME or --list.")
    parser.add_argument("inventory")
    show = parser.add_mutually_exclusive_group()
    show.add_argument("--graph", action="store_true", help="groups and hosts as a tree (the default)")
    show.add_argument("--host", metavar="NAME", help="one host's resolved variables, as YAML")
    show.add_argument("--list", action="store_true", help="every host with its groups")
    parser.add_argument("-l", "--limit", help="host pattern, with --list")
    parser.set_defaults(handler=run_inventory)


# ---- handlers -------------------------------------------------------------------------------------

def parse_extra_vars(values: list[str]) -> dict:
    result: dict = {}
    for value in values:
        text = value.strip()
        if text.startswith("@"):  # read as any input file is: size limit, UTF-8, errors with their place
            loaded = load_text(read_text(text[1:], what="extra vars file"), text[1:])
        elif text.startswith(("{", "[")) or ": " in text:
            loaded = load_text(text, "--extra-vars")
        else:
            loaded = {}
            for word in text.split():
                key, sign, item = word.partition("=")
                if not sign or not key:
                    raise InputError(f"--extra-vars: expected KEY=VALUE, got {word!r}")
                loaded[key] = item
        if not isinstance(loaded, dict):
            raise InputError(f"--extra-vars: {value!r} is not a mapping of variables")
        result.update(loaded)
    return result


def prepare(args) -> tuple:
    """Load and validate everything; raises ValidationFailed with every problem found."""
    extra = parse_extra_vars(args.extra_vars)
    errors: list[InputError] = []
    inventory = None
    if not os.path.isfile(args.playbook):
        errors.append(InputError(f"playbook not found: {args.playbook}", Mark(args.playbook)))
    try:
        inventory = load_inventory(args.inventory, os.path.dirname(os.path.abspath(args.playbook)))
    except ValidationFailed as failure:
        errors += failure.errors
    except InputError as error:
        errors.append(error)
    playbook = None
    if os.path.isfile(args.playbook):
        try:
            playbook = load_and_validate(args.playbook, inventory, extra, project_roles_dir())
        except ValidationFailed as failure:
            errors += failure.errors
    if errors:
        raise ValidationFailed(errors)
    return inventory, playbook, extra


def run_lint(args, console: Console) -> int:
    inventory, playbook, _ = prepare(args)
    tasks = sum(1 for _ in _count(playbook))
    console.print(f"ok: {len(inventory.hosts)} host(s), {len(playbook.plays)} play(s), {tasks} task(s); no problems")
    return 0


def _count(playbook):
    from provision.playbook.names import play_tasks

    for play in playbook.plays:
        yield from play_tasks(play)


def run_apply(args, console: Console) -> int:
    inventory, playbook, extra = prepare(args)
    if args.limit and not targeted_hosts(inventory, "all", args.limit):
        raise InputError(f"--limit {args.limit!r} matches no host of {args.inventory}")
    options = _options(args, extra)
    store = HistoryStore(args.state_db)
    run_id = store.begin_run("apply", args.inventory, args.playbook, args.check)
    # Ctrl-C and SIGTERM are counted, not raised, until the report and history are written
    with Interrupt().handling() as interrupt, library_logs(args.verbose):
        with HistoryEvents(store, run_id, ConsoleEvents(console, args.verbose, args.quiet, args.diff)) as events:
            report = run_playbook(playbook, inventory, options, events, interrupt=interrupt)
        store.finish_run(run_id, report)
        store.close()
        if args.report_json:
            write_json(report, args.report_json)
    return report.exit_code



def _options(args, extra: dict) -> RunOptions:
    password = os.environ.get(BECOME_PASSWORD_VARIABLE)
    if args.ask_become_pass:
        password = getpass.getpass("BECOME password: ")
    return RunOptions(
        check=args.check, diff=args.diff, forks=max(1, args.forks), limit=args.limit,
        tags=_tags(args.tags), skip_tags=_tags(args.skip_tags), extra_vars=extra, become_password=password,
        accept_new_host_keys=args.accept_new_host_keys, ssh_config=args.ssh_config,
        connect_timeout=args.timeout, command=args.command)


def _tags(text: str) -> set[str]:
    return {tag.strip() for tag in text.split(",") if tag.strip()}


def run_inventory(args, console: Console) -> int:
    inventory = load_inventory(args.inventory)
    if args.host:
        print(dump(host_view(inventory, args.host)), end="")
    elif args.list:
        for name in targeted_hosts(inventory, "all", args.limit):
            host = inventory.hosts[name]
            console.print(f"{escape(name)}: {', '.join(host.group_names) or '(ungrouped)'}", highlight=False)
    else:
        print(graph(inventory))
    return 0


def add_verify(commands) -> None:
    parser = commands.add_parser(
        "verify", help="prove the end state: the roles' testinfra assertions against the hosts",
        description="Runs roles/<role>/tests/test_*.py and tests/verify/site/test_*.py with testinfra "
                    "against the inventory's hosts, connecting as apply does (user, port, key, "
                    "known_hosts, passwordless sudo).",
        epilog="exit codes: 0 every check passed; 1 bad input; 2 a check failed; 4 a host unreachable (6 both)")
    parser.add_argument("inventory")
    parser.add_argument("-l", "--limit", help="Ansible host pattern")
    parser.add_argument("--role", action="append", help="only this role's checks (repeatable)")
    parser.add_argument("-e", "--extra-vars", action="append", default=[])
    parser.add_argument("--junit", metavar="FILE", help="JUnit XML, one test case per host x check")
    parser.add_argument("--report-json", metavar="FILE", help="every check's outcome as JSON")
    parser.add_argument("--accept-new-host-keys", action="store_true")
    parser.add_argument("-T", "--timeout", type=float, default=10.0, help="SSH connect timeout (default 10)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only failures and the summary")
    parser.add_argument("--state-db", metavar="PATH", help="run history (SQLite); default .provision/history.sqlite")
    parser.set_defaults(handler=run_verify_command)


def run_verify_command(args, console: Console) -> int:
    from provision.verify.report import print_verify, write_verify_json
    from provision.verify.run import run_verify

    inventory = load_inventory(args.inventory)
    names = targeted_hosts(inventory, "all", args.limit)
    if not names:
        raise InputError(f"no host of {args.inventory} matches {args.limit or 'all'!r}")
    options = ConnectOptions(accept_new_host_keys=args.accept_new_host_keys, timeout=args.timeout)
    roles_dirs, site_dir = verify_sources()
    result = run_verify(inventory, names, roles_dirs, site_dir, options,
                        parse_extra_vars(args.extra_vars), args.role, args.junit)
    print_verify(console, result, names, args.quiet)
    if args.report_json:
        write_verify_json(result, names, args.report_json)
    record_verify(args.state_db, args.inventory, result, names)
    return result.exit_code


def add_check(commands) -> None:
    parser = commands.add_parser(
        "check", help="the nightly drift check: check mode over the fleet plus verify, in one command",
        description="Runs the playbook in check mode (nothing is changed; read-only probes still run) and "
                    "then the roles' testinfra checks. Quiet when nothing moved; when something did, names "
                    "each host and task with the diff of what would change.",
        epilog="exit codes: 0 no drift; 1 bad input; 2 a task or check failed; 3 drift found; 4 a host "
               "unreachable. When several apply: 2, then 4, then 3.")
    _run_arguments(parser)
    parser.add_argument("--junit", metavar="FILE", help="JUnit XML: one test case per host x task, drift = failure")
    parser.add_argument("--prom", metavar="FILE", help="node_exporter textfile metrics (provision_drift_tasks...)")
    parser.add_argument("--no-verify", action="store_true", help="check mode only, without the testinfra checks")
    parser.set_defaults(handler=run_check, check=True)


def run_check(args, console: Console) -> int:
    args.check, args.diff = True, True
    inventory, playbook, extra = prepare(args)
    options = _options(args, extra)
    store = HistoryStore(args.state_db)
    run_id = store.begin_run("check", args.inventory, args.playbook, True)
    with Interrupt().handling() as interrupt, library_logs(args.verbose):
        return _check(args, console, inventory, playbook, extra, options, store, run_id, interrupt)


def _check(args, console: Console, inventory, playbook, extra: dict, options: RunOptions, store: HistoryStore,
           run_id: int, interrupt: Interrupt) -> int:
    from provision.report.junit import write_junit
    from provision.report.metrics import write_prometheus
    from provision.verify.report import print_verify, write_verify_json
    from provision.verify.run import run_verify

    with HistoryEvents(store, run_id, ConsoleEvents(console, args.verbose, quiet=True, diff=False)) as events:
        report = run_playbook(playbook, inventory, options, events, interrupt=interrupt)
    drift = drift_of(report)
    for host, results in drift.items():
        for result in results:
            console.print(f"[yellow]drift[/] {escape(host)}: {escape(result.task)} ({escape(result.file)}:{result.line})",
                          highlight=False, soft_wrap=True)
            if result.diff and not result.no_log:
                console.print(Text(result.diff.rstrip("\n")))
    verified = None
    if not args.no_verify and not report.interrupted:
        names = [name for name in report.recaps if not report.recaps[name].unreachable]
        roles_dirs, site_dir = verify_sources()
        if names:
            verified = run_verify(inventory, names, roles_dirs, site_dir, options.connect_options, extra)
            print_verify(console, verified, names, quiet=True)
    counts = {host: len(results) for host, results in drift.items()}
    moved = sorted(host for host, count in counts.items() if count)
    summary = (f"drift on {len(moved)} of {len(counts)} host(s): {', '.join(moved)}" if moved
               else f"no drift on {len(counts)} host(s)")
    console.print(summary)
    if args.report_json:
        write_json(report, args.report_json, extra={"drift": {host: [r.task for r in results]
                                                              for host, results in drift.items()}})
        if verified is not None:
            write_verify_json(verified, list(report.recaps), args.report_json + ".verify.json")
    code = check_exit_code(report, verified, moved)
    store.finish_run(run_id, report, exit_code=code)
    store.close()
    if args.junit:
        write_junit(report, args.junit, drift_is_failure=True)
    if args.prom:
        write_prometheus(report, args.prom, counts, exit_code=code)
    return code


ENGINE_COMMANDS = [add_apply, add_lint, add_inventory, add_verify, add_check]
__all__ = ["ENGINE_COMMANDS", "ProvisionError"]
