"""Every subcommand's arguments, in one place, built from shared option groups.

Two reasons this file exists apart from the handlers:
- One set of common options: the same flag means the same thing on every subcommand that has it
  (`-i`, `-l`, `--slice`, `--run-group`, `-e`, `-f`, `-u`, `--private-key`, `-b`, `-K`, `-F`, `-T`, `-v`,
  `-q`, `--state-db`), with Ansible's spellings where they mean what Ansible means. The two that
  may come from the environment ($PROVISION_STATE_DB, $PROVISION_RUN_GROUP) are read when the
  parser is built: a value, never a connection.
- Start-up time: this module imports nothing heavy, and a command's handler is named as
  "module:function" and imported only when that command runs, so `provision --help`,
  `provision apply --help` and `--version` never import the engine, paramiko or pytest.
"""
from __future__ import annotations

import argparse
import os

DEFAULT_PLAYBOOK = "playbooks/site.yaml"
BECOME_PASSWORD_VARIABLE = "PROVISION_BECOME_PASSWORD"
STATE_DB_VARIABLE = "PROVISION_STATE_DB"
RUN_GROUP_VARIABLE = "PROVISION_RUN_GROUP"
STATE_DB_HELP = (f"the run history: a SQLite file (default .provision/history.sqlite under the current folder), or a "
                 f"PostgreSQL database that runs on several machines share: postgresql://USER@HOST[:PORT]/DATABASE "
                 f"(its password is best in PGPASSWORD or ${STATE_DB_VARIABLE}: a command line shows in `ps`); "
                 f"default ${STATE_DB_VARIABLE}")
EXIT_CODES = ("exit codes: 0 all good; 1 bad input or usage; 2 a task failed on some host; "
              "4 some host unreachable (2|4 = 6 when both); 130 interrupted")
CHECK_EXIT_CODES = ("exit codes: 0 no drift; 1 bad input; 2 a task failed or the checks could not run; 3 drift "
                    "(a task would change, or a check failed); 4 a host unreachable; 130 interrupted. When several "
                    "apply: 2, then 4, then 3.")
ONBOARD_EXIT_CODES = ("exit codes: 0 onboarded (or already was); 1 refused or bad input (nothing written after a "
                      "refused host key); 2 apply or verify failed on the host; 4 the host became unreachable")
GPU_PROFILES = ("h100x8", "a100x1", "v100x8", "rtxpro6000x2")  # provision/sandbox/standin/gpus.py PROFILES (a test keeps them equal)


def handler(path: str) -> dict:
    """set_defaults for a command whose handler is imported when it runs ("module:function")."""
    return {"handler": path}


# ---- the shared option groups -----------------------------------------------------------------------

def targets(parser: argparse.ArgumentParser, playbook: bool = True) -> None:
    """INVENTORY [PLAYBOOK] as positionals, or `-i INVENTORY [PLAYBOOK]` as Ansible users type it."""
    parser.add_argument("inventory", nargs="?", metavar="INVENTORY", help="Ansible YAML inventory file")
    if playbook:
        parser.add_argument("playbook", nargs="?", metavar="PLAYBOOK",
                            help=f"playbook (default {DEFAULT_PLAYBOOK}: the current folder's, else provision's own)")
    parser.add_argument("-i", "--inventory", dest="inventory_option", metavar="INVENTORY",
                        help="the inventory, as ansible-playbook takes it" +
                             (" (then PLAYBOOK is the only positional)" if playbook else ""))
    if playbook:
        parser.add_argument("--strict", action="store_true",
                            help="refuse a module provision lacks even on a task under a `when:` (by default that is "
                                 "a warning, and a host that reaches the task fails it)")
    parser.set_defaults(settle_targets=playbook)


def settle_targets(args: argparse.Namespace) -> str | None:
    """Fill args.inventory and args.playbook from the positionals and -i; a problem as text, or None."""
    with_playbook = args.settle_targets
    positionals = [value for value in (args.inventory, getattr(args, "playbook", None)) if value is not None]
    if args.inventory_option is not None:
        if len(positionals) > (1 if with_playbook else 0):
            return "the inventory is given twice (-i and a first argument): give it once"
        args.inventory = args.inventory_option
        if with_playbook:
            args.playbook = positionals[0] if positionals else None
    elif args.inventory is None:
        return "the inventory is required: INVENTORY as the first argument, or -i INVENTORY"
    if with_playbook and args.playbook is None:
        args.playbook = DEFAULT_PLAYBOOK
    return None


def slice_spec(text: str) -> tuple[int, int]:
    """`K/N` for --slice: the K-th (from 1) of N slices."""
    number, slash, count = text.partition("/")
    if not (slash and number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N (e.g. 2/4), not {text!r}")
    return int(number), int(count)


def run_group_name(text: str) -> str:
    """A --run-group name: what the slices of one fleet run share (a CI pipeline id, a Job's name)."""
    name = text.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise argparse.ArgumentTypeError(f"expected a name of 1 to 200 printable characters, not {text!r}")
    return name


def state_db(parser) -> None:
    """--state-db, read where it is given (nothing opened while parsing), else from the environment."""
    parser.add_argument("--state-db", metavar="PATH|URL", default=os.environ.get(STATE_DB_VARIABLE) or None,
                        help=STATE_DB_HELP)


def selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "--limit", help="Ansible host pattern: gpu, 'gpu:&h100', 'gpu:!drain', 'node*', @retry-file")
    parser.add_argument("--slice", type=slice_spec, metavar="K/N", dest="host_slice",
                        help="only the K-th of N slices of the targeted hosts (AWX's job slicing: N runs, on N "
                             "machines or CI jobs, share a fleet; the same inventory always slices the same way)")
    parser.add_argument("--run-group", metavar="NAME", type=run_group_name,
                        default=os.environ.get(RUN_GROUP_VARIABLE) or None,
                        help="record this run as part of the fleet run NAME: the N slices of one fleet run, given "
                             "the same NAME and one --state-db (PostgreSQL across machines), are one run in `history` and `report`, "
                             "which say whether all N reported (as AWX's sliced job is one workflow job); e.g. "
                             f"a CI pipeline id or a Kubernetes Job's name; default ${RUN_GROUP_VARIABLE}")
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="KEY=VALUE, YAML/JSON text, or @FILE; highest precedence; repeatable")


def connection(parser: argparse.ArgumentParser, forks_help: str = "hosts worked on at once (default 100)") -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("-f", "--forks", type=int, default=100, help=forks_help)
    group.add_argument("-u", "--user", dest="remote_user", metavar="USER",
                       help="login user where the inventory sets none (ansible_user wins, as in Ansible)")
    group.add_argument("--private-key", "--key-file", dest="private_key", metavar="FILE",
                       help="private key where the inventory sets none (ansible_ssh_private_key_file wins)")
    group.add_argument("--accept-new-host-keys", action="store_true",
                       help="record the key of a host never seen before (like OpenSSH accept-new); "
                            "a changed key is always refused")
    group.add_argument("-F", "--ssh-config", help="ssh config file (default ~/.ssh/config)")
    group.add_argument("-T", "--timeout", type=float, default=10.0, help="SSH connect timeout in seconds (default 10)")


def workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes sharing the hosts, past one interpreter's limit (default: one per 200 "
                             "targeted hosts, at most one per core; 1: this process alone). A playbook that looks "
                             "across hosts (hostvars, run_once, serial...) always runs in one")


def vault(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vault")
    group.add_argument("--vault-password-file", "--vault-pass-file", action="append", default=[], metavar="FILE",
                       help="the Ansible Vault password: the file's first line, or what it prints when executable "
                            "(repeatable; default $ANSIBLE_VAULT_PASSWORD_FILE)")
    group.add_argument("--vault-id", action="append", default=[], metavar="[LABEL@]FILE",
                       help="a labelled vault password file, as ansible-playbook's (LABEL@prompt asks for it)")
    group.add_argument("-J", "--ask-vault-pass", "--ask-vault-password", action="store_true",
                       help="prompt for the vault password")


def privilege(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("privilege escalation")
    group.add_argument("-b", "--become", action="store_true",
                       help="run tasks with sudo where neither play, task nor inventory says (ansible_become wins)")
    group.add_argument("--become-user", help="sudo to this user (default root) where the inventory sets none")
    group.add_argument("-K", "--ask-become-pass", action="store_true",
                       help=f"prompt for the sudo password (or set {BECOME_PASSWORD_VARIABLE})")


def output(parser: argparse.ArgumentParser, quiet_help: str = "only problems and the recap") -> None:
    group = parser.add_argument_group("output")
    group.add_argument("-v", "--verbose", action="count", default=0, help="-v: ok/skipped lines and output; -vv more")
    group.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    state_db(group)


def listing(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("look before running (nothing is contacted)")
    group.add_argument("--list-hosts", action="store_true", help="the hosts each play would run on, then stop")
    group.add_argument("--list-tasks", action="store_true", help="each play's tasks with their tags, then stop")
    group.add_argument("--list-tags", action="store_true", help="the tags in the playbook, then stop")


def tasks(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tasks")
    group.add_argument("-t", "--tags", default="", help="only tasks with these tags (comma-separated)")
    group.add_argument("--skip-tags", default="", help="skip tasks with these tags")
    group.add_argument("--step", action="store_true",
                       help="ask before each task, once for all hosts: (y)es, (n)o (skip it), (c)ontinue without asking")
    group.add_argument("--start-at-task", metavar="NAME",
                       help="skip every task before the first named NAME (or 'role : NAME'); facts are still gathered")


# ---- the commands ------------------------------------------------------------------------------------

def add_apply(commands) -> None:
    parser = commands.add_parser(
        "apply", help="converge hosts: run a playbook against an inventory",
        description="Validate the inventory and playbook as a whole, then run the playbook on every "
                    "targeted host in parallel, one SSH connection per host.",
        epilog=EXIT_CODES + ". Example: provision apply inventories/lab.yaml playbooks/site.yaml --limit gpu --check "
                            "--diff (or, as with ansible-playbook: provision apply -i inventories/lab.yaml playbooks/site.yaml)")
    targets(parser)
    selection(parser)
    parser.add_argument("-C", "--check", action="store_true", help="change nothing; report what would change")
    parser.add_argument("-D", "--diff", action="store_true", help="show a unified diff of each file change")
    tasks(parser)
    listing(parser)
    connection(parser)
    workers(parser)
    privilege(parser)
    vault(parser)
    parser.add_argument("--report-json", metavar="FILE", help="write every task result as JSON (schema in README)")
    output(parser)
    parser.set_defaults(**handler("provision.commands.engine:run_apply"))


def add_check(commands) -> None:
    parser = commands.add_parser(
        "check", help="the nightly drift check: check mode over the fleet plus verify, in one command",
        description="Runs the playbook in check mode (nothing is changed; read-only probes still run) and then "
                    "the testinfra tests of the roles it applies. Quiet for cron: when nothing moved and the "
                    "output is not a terminal it prints nothing (one line with --summary); when something moved "
                    "it names each host and task with the diff, and each failed check with its message.",
        epilog=CHECK_EXIT_CODES + " Cron: 0 3 * * * cd /srv/lab && provision check inventories/lab.yaml "
                                  "--prom /var/lib/node_exporter/textfile/provision.prom")
    targets(parser)
    selection(parser)
    tasks(parser)
    listing(parser)
    connection(parser)
    workers(parser)
    privilege(parser)
    vault(parser)
    group = parser.add_argument_group("reports")
    group.add_argument("--report-json", metavar="FILE", help="every task and check as JSON (schema in README)")
    group.add_argument("--junit", metavar="FILE", help="JUnit XML: one suite per host; tasks and checks, drift = failure")
    group.add_argument("--prom", metavar="FILE", help="node_exporter textfile metrics (provision_drift_tasks...)")
    group.add_argument("--summary", action="store_true", help="print the one-line summary even when all is well")
    parser.add_argument("--no-verify", action="store_true", help="check mode only, without the testinfra checks")
    parser.add_argument("--gpu-benchmark", action="store_true",
                        help="run the full GPU benchmark instead of the quick health check")
    output(parser, quiet_help="print nothing when all is well, even on a terminal")
    parser.set_defaults(check=True, diff=True, **handler("provision.commands.check:run_check"))


def add_verify(commands) -> None:
    parser = commands.add_parser(
        "verify", help="prove the end state: the roles' testinfra assertions against the hosts",
        description="Runs the testinfra tests (roles/<role>/tests/test_*.py) of the roles the playbook applies "
                    "to each host, plus tests/verify/site/ for the site playbook, against the inventory's hosts: "
                    "hosts in parallel (up to --forks), one SSH connection per host, connecting as apply does "
                    "(user, port, key, known_hosts, sudo).",
        epilog="exit codes: 0 every check passed; 1 bad input; 2 a check failed; 4 a host unreachable (6 both)")
    targets(parser)
    selection(parser)
    parser.add_argument("--role", action="append", help="only this role's checks (repeatable)")
    connection(parser, forks_help="hosts verified at once (default 100)")
    privilege(parser)
    vault(parser)
    group = parser.add_argument_group("reports")
    group.add_argument("--junit", metavar="FILE", help="JUnit XML: one suite per host, one case per check")
    group.add_argument("--report-json", metavar="FILE", help="every check's outcome, in the run report's schema")
    output(parser, quiet_help="only failures and the summary")
    parser.set_defaults(**handler("provision.commands.check:run_verify_command"))


def add_lint(commands) -> None:
    parser = commands.add_parser(
        "lint", help="validate an inventory and playbook without touching any host",
        description="The validation `apply` runs first, alone: YAML, keywords, modules and their "
                    "arguments, roles, templates, handlers, undefined variables. Exit 0 or 1.")
    targets(parser)
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="KEY=VALUE, YAML/JSON text, or @FILE; highest precedence; repeatable")
    vault(parser)
    parser.set_defaults(**handler("provision.commands.engine:run_lint"))


def add_inventory(commands) -> None:
    parser = commands.add_parser(
        "inventory", help="show what an inventory resolves to",
        description="Like ansible-inventory: --graph (the default), --host NAME, or --list in "
                    "ansible-inventory's JSON (_meta.hostvars), which other tools read.")
    targets(parser, playbook=False)
    show = parser.add_mutually_exclusive_group()
    show.add_argument("--graph", action="store_true", help="groups and hosts as a tree (the default)")
    show.add_argument("--host", metavar="NAME", help="one host's resolved variables, as YAML")
    show.add_argument("--list", action="store_true", help="every group and host, as ansible-inventory --list's JSON")
    parser.add_argument("-l", "--limit", help="host pattern, with --list")
    vault(parser)
    parser.set_defaults(**handler("provision.commands.engine:run_inventory"))


def add_history(commands) -> None:
    parser = commands.add_parser(
        "history", help="past runs, drift appearing and disappearing per host, GPU figures over time",
        description="Read the run history that apply, check and verify record. Without options: "
                    "every run, then per host each drift episode (when a check run first saw a task "
                    "would change, and the run after which it no longer did).",
        epilog="Runs sharing a --run-group (the slices of one fleet run) are one row, with how many of its N "
               "slices reported. Example: provision history --host gpu01 --since 7d; provision history --trend; "
               "provision history --run-group nightly-2025-06-01")
    parser.add_argument("--host", help="only runs and drift of this host")
    parser.add_argument("--since", help="only what started within this long: 90m, 12h, 7d, 2w")
    parser.add_argument("--trend", action="store_true",
                        help="gpu_verify figures (bf16 TFLOPS, H2D and all-reduce bandwidth) per host over time")
    parser.add_argument("--run-group", metavar="NAME", type=run_group_name,
                        help="one fleet run: each of its runs (slice by slice, retried slices marked), then the "
                             "whole fleet as one")
    state_db(parser)
    parser.set_defaults(**handler("provision.commands.history:run_history"))


def add_report(commands) -> None:
    parser = commands.add_parser(
        "report", help="write one run as a self-contained HTML page",
        description="A heatmap of hosts x roles coloured by status; click a cell for that host's "
                    "results, messages and diffs; gpu_verify figures with their trend. The page "
                    "loads nothing from the network.",
        epilog="Example: provision report -o report.html; provision report --run 12 -o run12.html; "
               "provision report --run-group nightly-2025-06-01 -o fleet.html")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", type=int, metavar="ID",
                       help="one run (default: the latest; the whole fleet run when the latest is one of its slices)")
    which.add_argument("--run-group", metavar="NAME", type=run_group_name,
                       help="the fleet run NAME: every slice's hosts in one page")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the page")
    state_db(parser)
    parser.set_defaults(**handler("provision.commands.history:run_report"))


def add_onboard(commands) -> None:
    parser = commands.add_parser(
        "onboard", help="bring a new GPU server into the inventory and to a verified state, in one command",
        description="Trust the host key (shown and confirmed, or --host-key-fingerprint), install the "
                    "inventory's key if the host takes only a password, check sudo, run preflight, add the "
                    "host to the inventory (comments and layout kept), apply the site playbook to it, verify. "
                    "Safe to re-run.",
        epilog=ONBOARD_EXIT_CODES + ". Example: provision onboard gpu07 --inventory inventories/lab.yaml --group gpu "
                            "--address 10.0.0.17 --user ubuntu --ask-pass")
    parser.add_argument("host", help="the host's name in the inventory")
    parser.add_argument("--inventory", "-i", required=True, help="Ansible YAML inventory file to add the host to")
    parser.add_argument("--group", "-g", required=True, help="the group to add it to (made if missing)")
    parser.add_argument("--address", help="address or DNS name to connect to (default: HOST)")
    parser.add_argument("--user", "-u", help="login user (default: the inventory's ansible_user, else yours)")
    parser.add_argument("--port", "-p", type=int, help="SSH port (default 22)")
    password = parser.add_mutually_exclusive_group()
    password.add_argument("--ask-pass", "-k", action="store_true",
                          help="prompt for the login password when the host does not take the key yet")
    password.add_argument("--password-env", metavar="VAR",
                          help="read the login password from this environment variable (automation)")
    parser.add_argument("--host-key-fingerprint", metavar="SHA256:...",
                        help="the host key's fingerprint, for unattended use; any other key is refused")
    parser.add_argument("--key", "--private-key", metavar="FILE",
                        help="private key to log in with (its .pub is installed); default: the inventory's "
                             "ansible_ssh_private_key_file")
    parser.add_argument("--dry-run", action="store_true",
                        help="stop after preflight: show what the host is and what would be installed")
    parser.add_argument("--playbook", default=DEFAULT_PLAYBOOK, help=f"site playbook (default {DEFAULT_PLAYBOOK})")
    parser.add_argument("-F", "--ssh-config", help="ssh config file (default ~/.ssh/config)")
    parser.add_argument("-T", "--timeout", type=float, default=10.0, help="SSH connect timeout (default 10)")
    output(parser, quiet_help="only problems, the recap and the summary")
    parser.set_defaults(**handler("provision.commands.onboard:run_onboard"))


def add_sandbox(commands) -> None:
    sandbox = commands.add_parser(
        "sandbox", help="throwaway Linux hosts with real sshd on this machine, to try playbooks on",
        description="Start, inspect and stop a sandbox of throwaway hosts (needs root on Linux). "
                    "Each host has its own filesystem (overlay on a shared Debian bookworm image), "
                    "hostname, PID and network namespaces, and real sshd on port 22.")
    sandbox.set_defaults(**handler("provision.commands.sandbox:run_sandbox"))
    actions = sandbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start hosts; the last line printed is the inventory's path")
    up.add_argument("--hosts", type=int, default=3, help="how many hosts (default 3)")
    up.add_argument("--kind", default="plain", choices=["plain", "docker", "systemd", "python"],
                    help="plain: sshd only; docker: with Docker Engine; systemd: booted by systemd; python: with "
                         "python3 and python3-apt (for Ansible and pyinfra, as the benchmarks need) and sshd "
                         "logging each session")
    up.add_argument("--name", default="default", help="sandbox name; several can run side by side")
    up.add_argument("--gpus", default="h100x8", choices=GPU_PROFILES,
                    help="the STAND-IN GPU hardware each host pretends to have (default h100x8: 8 H100 + NVSwitch)")
    up.add_argument("--os", dest="os_name", default="debian12", choices=["debian12", "ubuntu22.04", "ubuntu24.04"],
                    help="the OS the hosts present themselves as (identity files; the userland stays Debian 12's), "
                         "with NVIDIA's stand-in repository for it (default debian12)")
    up.add_argument("--no-pytorch-image", dest="pytorch_image", action="store_false",
                    help="docker kind: do not put the stand-in pytorch/pytorch image (CPU torch, built once "
                         "and cached) into the sandbox registry")
    up.add_argument("--password-only", action="store_true",
                    help="make the hosts take only a root password, like a new server, to rehearse `provision "
                         "onboard` (the password: --password-env's variable, else one made up and printed)")
    up.add_argument("--password-env", metavar="VAR", help="with --password-only: the root password's variable")
    up.add_argument("--apt-proxy", action="store_true",
                    help="start the sandbox's apt proxy on the bridge (it forwards only to this machine's own apt "
                         "sources, caching .deb files) and point every host's apt at it")
    down = actions.add_parser("down", help="stop every host of a sandbox and remove what it made")
    down.add_argument("--name", default="default", help="the sandbox (default: default)")
    status = actions.add_parser("status", help="list a sandbox's hosts, whether they run, their memory")
    status.add_argument("--name", default=None, help="one sandbox (default: all)")
    push = actions.add_parser(
        "push-image", help="put a tiny busybox image (from the base image's files) into the sandbox registry",
        description="Starts the sandbox registry if needed. Docker hosts then `docker pull IMAGE` from it.")
    push.add_argument("--name", default="default", help="the sandbox (default: default)")
    push.add_argument("--image", default="busybox:sandbox", help="NAME:TAG to push it as (default busybox:sandbox)")
    ssh = actions.add_parser("ssh", help="run a command (or a shell) on a sandbox host; exit code passed through")
    ssh.add_argument("--name", default="default", help="the sandbox (default: default)")
    ssh.add_argument("--user", "-l", default="root", help="root, admin (sudo NOPASSWD) or deploy (sudo asks a password)")
    ssh.add_argument("host")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND...")


COMMANDS = [add_sandbox, add_apply, add_lint, add_inventory, add_verify, add_check, add_history, add_report,
            add_onboard]
