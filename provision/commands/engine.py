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

from provision.errors import InputError, Mark, ProvisionError, ValidationFailed
from provision.history import HistoryEvents, HistoryStore
from provision.inventory import graph, host_view, load_inventory
from provision.playbook.validate import load_and_validate
from provision.report.console import ConsoleEvents
from provision.report.jsonreport import write_json
from provision.runner import RunOptions, run_playbook
from provision.runner.interrupts import Interrupt
from provision.runner.play import targeted_hosts
from provision.verify.report import attach_gpu_rows, print_gpu
from provision.transport.ssh import library_logs
from provision.yamlsource import dump, load_text, read_text

DEFAULT_PLAYBOOK = "playbooks/site.yaml"
BECOME_PASSWORD_VARIABLE = "PROVISION_BECOME_PASSWORD"
EXIT_CODES = ("exit codes: 0 all good; 1 bad input or usage; 2 a task failed on some host; "
              "4 some host unreachable (2|4 = 6 when both); 130 interrupted")


def project_root() -> str:
    """The folder of provision's own project (roles/, playbooks/, tests/verify/site/), beside the
    installed package's source."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resolve_playbook(path: str) -> str:
    """The default playbook from any folder (cron, CI): the current folder's playbooks/site.yaml,
    else the project's own. Any other path is the user's, as given."""
    if path == DEFAULT_PLAYBOOK and not os.path.isfile(path):
        bundled = os.path.join(project_root(), DEFAULT_PLAYBOOK)
        if os.path.isfile(bundled):
            return bundled
    return path


def project_roles_dir(playbook: str | None = None) -> str | None:
    """Where roles not beside the playbook are looked up: provision's own roles/ for its own
    playbooks (from any folder), else the current folder's roles/, else provision's own."""
    own = os.path.join(project_root(), "roles")
    if playbook and os.path.realpath(playbook).startswith(os.path.realpath(project_root()) + os.sep) \
            and os.path.isdir(own):
        return own
    for candidate in (os.path.join(os.getcwd(), "roles"), own):
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
    args.playbook = resolve_playbook(args.playbook)
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
            playbook = load_and_validate(args.playbook, inventory, extra, project_roles_dir(args.playbook))
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
        attach_gpu_rows(report)
        print_gpu(console, report)
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


ENGINE_COMMANDS = [add_apply, add_lint, add_inventory]
__all__ = ["ENGINE_COMMANDS", "ProvisionError"]
