"""The engine's commands: `apply`, `lint` and `inventory`. Parse options, call, return an exit code.

Everything is validated (inventory, playbook, every role, every module argument) before a single
host is contacted; bad input exits 1 with every problem listed and nothing touched.
"""
from __future__ import annotations

import getpass
import json
import os
import sys

from rich.console import Console
from rich.markup import escape

from provision.ansible_cfg import AnsibleConfig, load_config
from provision.commands.arguments import BECOME_PASSWORD_VARIABLE, DEFAULT_PLAYBOOK
from provision.errors import InputError, Mark, ProvisionError, ValidationFailed
from provision.hostpatterns import slice_of, targeted_hosts
from provision.inventory import CONNECTION_VARIABLES, graph, host_view, load_inventory
from provision.playbook.context import did_you_mean
from provision.playbook.validate import load_and_validate
from provision.yamlsource import dump, load_text, read_text

# `lint` and `inventory` import only the above (they run in well under a second); what `apply`
# needs to reach hosts (runner, transport, history, reports) is imported when it runs.



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
    config = None
    try:
        config = load_config()
    except InputError as error:
        errors.append(error)
    if os.path.isfile(args.playbook):
        try:
            playbook = load_and_validate(args.playbook, inventory, extra, roles_dirs(args.playbook, config),
                                         strict=getattr(args, "strict", False))
        except ValidationFailed as failure:
            errors += failure.errors
    start = getattr(args, "start_at_task", None)
    if start is not None and playbook is not None:
        problem = start_at_task_problem(playbook, start, _tags(args.tags), _tags(args.skip_tags))
        if problem:
            errors.append(InputError(problem, Mark(args.playbook)))
    if errors:
        raise ValidationFailed(errors)
    config_defaults(config, args)
    command_line_defaults(inventory, args)
    return inventory, playbook, extra


def roles_dirs(playbook: str, config: AnsibleConfig | None) -> list[str]:
    """Where roles not beside the playbook are found: ansible.cfg's roles_path when it has one
    (provision's own roles/ after it only for provision's own playbooks), else project_roles_dir."""
    project = project_roles_dir(playbook)
    if config is None or not config.roles_path:
        return [project] if project else []
    own = os.path.join(project_root(), "roles")
    return [*config.roles_path, *([own] if project == own else [])]


def config_defaults(config: AnsibleConfig | None, args) -> None:
    """ansible.cfg's remote_user, private_key_file, become, become_user where the command line
    gave none (both stay below the inventory's variables); host_key_checking = False: accept-new."""
    if config is None:
        return
    for option, value in (("remote_user", config.remote_user), ("private_key", config.private_key_file),
                          ("become", config.become), ("become_user", config.become_user)):
        if hasattr(args, option) and not getattr(args, option) and value:
            setattr(args, option, value)
    if not config.host_key_checking and hasattr(args, "accept_new_host_keys"):
        args.accept_new_host_keys = True


def start_at_task_problem(playbook, wanted: str, tags: set[str], skip_tags: set[str]) -> str | None:
    """--start-at-task naming no task that would run (a handler, a task -t leaves out, a typo)
    would silently skip the whole playbook: refuse it."""
    from provision.playbook.tags import selected_tasks

    names = {name for item in selected_tasks(playbook, tags, skip_tags) if item.task.name
             for name in (item.task.name, item.task.display_name)}
    if wanted in names:
        return None
    return (f"--start-at-task {wanted!r}: no task that this run would start has that name (handlers and tasks "
            f"left out by -t/--skip-tags do not count){did_you_mean(wanted, sorted(names))}")


# Ansible's -u, --private-key, -b, --become-user: defaults below every inventory variable (an
# inventory's ansible_user wins over -u, as in Ansible): option -> the connection setting it gives.
COMMAND_LINE_DEFAULTS = (("remote_user", "user"), ("private_key", "private_key_file"), ("become", "become"),
                         ("become_user", "become_user"))


def command_line_defaults(inventory, args) -> None:
    """Give every host the command line's connection settings where its inventory sets none."""
    for option, setting in COMMAND_LINE_DEFAULTS:
        value = getattr(args, option, None)
        if not value:
            continue
        variables = CONNECTION_VARIABLES[setting]
        for host in inventory.hosts.values():
            if not any(variable in host.vars for variable in variables):
                host.vars[variables[0]] = value


def print_warnings(console: Console, playbook) -> None:
    """What validation let through for the user to hear, each with its place."""
    for warning in playbook.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(str(warning))}", highlight=False, soft_wrap=True)


def run_lint(args, console: Console) -> int:
    inventory, playbook, _ = prepare(args)
    print_warnings(console, playbook)
    tasks = sum(1 for _ in _count(playbook))
    console.print(f"ok: {len(inventory.hosts)} host(s), {len(playbook.plays)} play(s), {tasks} task(s); no problems")
    return 0


def _count(playbook):
    from provision.playbook.names import play_tasks

    for play in playbook.plays:
        yield from play_tasks(play)


def run_apply(args, console: Console) -> int:
    from provision.history import HistoryEvents, HistoryStore
    from provision.report.console import ConsoleEvents
    from provision.report.jsonreport import write_json
    from provision.runner import run_playbook
    from provision.runner.interrupts import Interrupt
    from provision.transport.ssh import library_logs
    from provision.verify.report import attach_gpu_rows, print_gpu

    inventory, playbook, extra = prepare(args)
    if args.limit and not targeted_hosts(inventory, "all", args.limit):
        raise InputError(f"--limit {args.limit!r} matches no host of {args.inventory}")
    print_warnings(console, playbook)
    warn_unmatched_tags(args, console, playbook)
    if list_only(args, inventory, playbook, extra):
        return 0
    options = _options(args, extra, inventory)
    store = HistoryStore(args.state_db)
    run_id = store.begin_run("apply", args.inventory, args.playbook, args.check, args.run_group, args.host_slice)
    # Ctrl-C and SIGTERM are counted, not raised, until the report and history are written
    with Interrupt().handling() as interrupt, library_logs(args.verbose):
        with HistoryEvents(store, run_id, ConsoleEvents(console, args.verbose, args.quiet, args.diff,
                                                        live=not args.step)) as events:
            report = run_playbook(playbook, inventory, options, events, interrupt=interrupt)
        attach_gpu_rows(report)
        print_gpu(console, report)
        store.finish_run(run_id, report)
        store.close()
        if args.report_json:
            write_json(report, args.report_json)
    retry = write_retry_file(report, args.playbook, args.state_db)
    if retry and not report.check:
        # the file keeps hosts of earlier runs until they are retried: a run without failures says so
        failed_now = bool(failed_hosts(report))
        what = ("to retry the hosts that failed" if failed_now
                else f"hosts that failed in an earlier run are still listed in {escape(retry)}; to retry them")
        console.print(f"{what}: provision apply {escape(args.inventory)} "
                      f"{escape(args.playbook)} --limit @{escape(retry)}", highlight=False, soft_wrap=True)
    return report.exit_code


def warn_unmatched_tags(args, console: Console, playbook) -> None:
    """A -t/--skip-tags tag that no task carries would silently run nothing (or everything): say so."""
    from provision.playbook.tags import tag_warning

    warning = tag_warning(playbook, _tags(args.tags), _tags(args.skip_tags))
    if warning:
        console.print(f"[bold yellow]{escape(warning)}[/]", highlight=False, soft_wrap=True)


def failed_hosts(report) -> list[str]:
    """The hosts of this run that failed or could not be reached: what a retry file lists."""
    return [name for name, recap in report.recaps.items() if recap.failed or recap.unreachable]


def write_retry_file(report, playbook: str, state_db: str | None) -> str | None:
    """Ansible's retry file: the failed and unreachable hosts, one per line, for `--limit @FILE`,
    beside the history (.provision/<playbook>.retry). A later run takes out the hosts it ran
    without failure and adds its own failures, so `--limit` to some of them forgets none of the
    others; the file goes when no host is left. Check mode leaves it alone (it changed nothing)."""
    from provision.history import is_database_url
    from provision.report.files import write_text_atomic

    # beside a history file; a history on a database server has no folder here: .provision/
    local = state_db and not is_database_url(state_db)
    folder = os.path.dirname(os.path.abspath(state_db)) if local else os.path.abspath(".provision")
    path = os.path.join(folder, os.path.splitext(os.path.basename(playbook))[0] + ".retry")
    if report.check:
        return os.path.relpath(path) if os.path.exists(path) else None
    failed = failed_hosts(report)
    earlier = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            earlier = [line.strip() for line in handle if line.strip() and line.strip() not in report.recaps]
    hosts = earlier + [name for name in failed if name not in earlier]
    if not hosts:
        if os.path.exists(path):
            os.remove(path)
        return None
    os.makedirs(folder, exist_ok=True)
    write_text_atomic(path, "".join(f"{name}\n" for name in hosts))
    return os.path.relpath(path)


def list_only(args, inventory, playbook, extra: dict) -> bool:
    """--list-hosts, --list-tasks, --list-tags: print what would run, contact nothing (plain text
    in ansible-playbook's layout, so what reads Ansible's listing reads this one). Tasks are listed
    with every tag they inherit (play, role entry, block, include), filtered by -t/--skip-tags."""
    if not (getattr(args, "list_hosts", False) or getattr(args, "list_tasks", False)
            or getattr(args, "list_tags", False)):
        return False
    from provision.playbook.tags import selected_tasks
    from provision.runner.play import play_pattern

    chosen = selected_tasks(playbook, _tags(args.tags), _tags(args.skip_tags))
    only = sliced_hosts(args, inventory)
    print(f"playbook: {args.playbook}")
    every_tag: set[str] = set()
    for number, play in enumerate(playbook.plays, 1):
        pattern = play_pattern(play, extra)
        hosts = [name for name in targeted_hosts(inventory, pattern, args.limit) if only is None or name in only]
        print(f"\n  play #{number} ({pattern}): {play.name or pattern}\tTAGS: [{', '.join(sorted(play.tags))}]")
        if args.list_hosts:
            print(f"    pattern: ['{pattern}']\n    hosts ({len(hosts)}):")
            for name in hosts:
                print(f"      {name}")
        if args.list_tasks:
            print("    tasks:")
        for item in (item for item in chosen if item.play is play):
            every_tag |= item.tags
            if args.list_tasks:
                print(f"      {item.task.display_name}\tTAGS: [{', '.join(sorted(item.tags))}]")
    if args.list_tags:
        print(f"\n  TASK TAGS: [{', '.join(sorted(every_tag))}]")
    return True


def become_password(args) -> str | None:
    """-K's prompt, else PROVISION_BECOME_PASSWORD, else None (never on a command line)."""
    if getattr(args, "ask_become_pass", False):
        return getpass.getpass("BECOME password: ")
    return os.environ.get(BECOME_PASSWORD_VARIABLE)


def _ask(question: str) -> str:
    """--step's question, on the terminal when there is one (stdin may be a pipe)."""
    sys.stdout.write(question)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def sliced_hosts(args, inventory) -> frozenset[str] | None:
    """--slice K/N: this slice of the hosts -l targets (None without --slice)."""
    spec = getattr(args, "host_slice", None)
    if spec is None:
        return None
    return frozenset(slice_of(targeted_hosts(inventory, "all", args.limit), *spec))


def _options(args, extra: dict, inventory):
    from provision.runner.options import RunOptions
    from provision.runner.step import Stepper

    password = become_password(args)
    return RunOptions(
        check=args.check, diff=args.diff, forks=max(1, args.forks), limit=args.limit,
        tags=_tags(args.tags), skip_tags=_tags(args.skip_tags), extra_vars=extra, become_password=password,
        accept_new_host_keys=args.accept_new_host_keys, ssh_config=args.ssh_config,
        connect_timeout=args.timeout, command=args.command, start_at_task=getattr(args, "start_at_task", None),
        step=Stepper(_ask) if getattr(args, "step", False) else None, only_hosts=sliced_hosts(args, inventory),
        workers=_workers(args))


def _workers(args) -> int | None:
    """--workers N (None: sized to the machine); --step asks on this terminal: one process."""
    if getattr(args, "step", False):
        return 1
    requested = getattr(args, "workers", None)
    if requested is not None and requested < 1:
        raise InputError(f"--workers {requested}: give 1 or more (1: this process alone)")
    return requested


def _tags(text: str) -> set[str]:
    return {tag.strip() for tag in text.split(",") if tag.strip()}


def run_inventory(args, console: Console) -> int:
    inventory = load_inventory(args.inventory)
    if args.host:
        print(dump(host_view(inventory, args.host)), end="")
    elif args.list:
        print(json.dumps(ansible_list(inventory, targeted_hosts(inventory, "all", args.limit)), indent=4,
                         sort_keys=True, default=str))
    else:
        print(graph(inventory))
    return 0


def ansible_list(inventory, names: list[str]) -> dict:
    """`ansible-inventory --list`'s JSON: every group with its direct hosts, children and own vars,
    `all` with its children, and each host's variables under _meta.hostvars, so tools that read
    Ansible inventories (AWX, scripts, `ansible -i`) read this one."""
    wanted = set(names)
    listed: dict = {"_meta": {"hostvars": {name: inventory.hosts[name].vars for name in names}}}
    for name, group in inventory.groups.items():
        entry: dict = {}
        hosts = [host for host in group.hosts if host in wanted]
        if hosts:
            entry["hosts"] = hosts
        if group.children:
            entry["children"] = list(group.children)
        if name == "all":
            ungrouped = [host for host in names if inventory.hosts[host].group_names == []]
            entry["children"] = [child for child in entry.get("children", []) if child != "ungrouped"] + ["ungrouped"]
            entry.pop("hosts", None)
            listed["ungrouped"] = {"hosts": ungrouped} if ungrouped else {}
        variables = {**group.file_vars, **group.vars}
        if variables and name != "all":
            entry["vars"] = variables
        if entry or name == "all":
            listed[name] = entry
    return listed


__all__ = ["ProvisionError", "run_apply", "run_inventory", "run_lint"]
