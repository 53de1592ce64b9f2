"""`python -m bench.drift20`: see this package's docstring (bench/drift20/__init__.py)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

from bench import drift20
from bench.check_scale import BenchFailed, sandbox_down
from bench.drift20.fleet import TAMPERED_FILE, TAMPERED_TASK, Fleet, open_fleet
from bench.drift20.report import write_results
from bench.drift20.tools import TOOL_NAMES, Tool, make_tools
from bench.drift20.venv import bench_venv, version
from provision.errors import ProvisionError
from provision.sandbox import Sandbox

DEFAULT_TOOLS = "provision,provision-check,pyinfra,ansible,floor"


def step(tools: list[Tool], failed: dict[str, str], what: str, action) -> None:
    """Run `action(tool)` for each tool still in the race; one that fails is out, with its reason."""
    for tool in tools:
        if tool.name in failed or not tool.checks:
            continue
        try:
            action(tool)
        except (BenchFailed, OSError, ValueError, KeyError) as error:
            failed[tool.name] = f"{what}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
            print(f"  {tool.name}: {what} failed, not timed:\n    " + "\n    ".join(str(error).splitlines()[:14]))


def idempotent(tool: Tool, fleet: Fleet) -> None:
    changed = tool.changes(fleet, check=False)
    if any(changed.values()):
        raise BenchFailed(f"a second run changed {dict(changed)}: not idempotent (or another tool's state differs)")


def gate(tool: Tool, fleet: Fleet, victims: list[str]) -> None:
    seen = {host: tasks for host, tasks in tool.changes(fleet, check=True).items() if tasks}
    wanted = {host: [TAMPERED_TASK] for host in victims}
    if seen != wanted:
        raise BenchFailed(f"changed {TAMPERED_FILE} on {victims}: its check names {seen}, not {wanted}")


def measure(count: int, runs: int, tools: list[Tool], name: str, work: str) -> dict:
    started = time.monotonic()
    try:
        sandbox = Sandbox.up(name, hosts=count, kind="python", log=lambda text: print(f"  {text}"))
    except ProvisionError as error:
        raise BenchFailed(f"sandbox {name} ({count} python hosts) could not start: {error}") from None
    print(f"{count} hosts: sandbox {name} up in {time.monotonic() - started:.1f} s")
    fleet = open_fleet(name, sandbox.directory, work)
    failed: dict[str, str] = {}
    clock = time.monotonic()
    step(tools, failed, "converge", lambda tool: tool.converge(fleet))
    step(tools, failed, "second run", lambda tool: idempotent(tool, fleet))
    print(f"  converged, and a second run of each changed nothing ({time.monotonic() - clock:.0f} s, untimed)")
    victims = fleet.tamper()
    step(tools, failed, "correctness gate", lambda tool: gate(tool, fleet, victims))
    converger = next((tool for tool in tools if tool.name in ("provision", "pyinfra", "ansible")
                      and tool.name not in failed), None)
    if converger is None:
        raise BenchFailed("no tool passed the gate to re-converge with: " + "; ".join(failed.values()))
    converger.converge(fleet)
    print(f"  gate: {TAMPERED_FILE} changed on {len(victims)} host(s) {victims[:5]}{'...' if len(victims) > 5 else ''}: "
          f"named exactly by {', '.join(tool.name for tool in tools if tool.checks and tool.name not in failed)}; "
          f"re-converged by {converger.name}")
    load = os.getloadavg()[0]
    samples: dict[str, list[dict]] = {tool.name: [] for tool in tools if tool.name not in failed}
    for round_number in range(1, runs + 1):  # interleaved: a change of load hits every tool alike
        line = []
        for tool in list(tools):
            if tool.name not in samples:
                continue
            before = fleet.sshd_counts()
            try:
                outcome = tool.timed(fleet)
            except BenchFailed as error:
                failed[tool.name] = f"timed run {round_number}: {str(error).splitlines()[0]}"
                print(f"  {tool.name}: {error}")
                del samples[tool.name]
                continue
            after = fleet.sshd_counts()
            per_host = [(after[host][0] - before[host][0], after[host][1] - before[host][1]) for host in fleet.hosts]
            samples[tool.name].append({
                "seconds": outcome.seconds, "cpu": outcome.cpu, "peak_rss_kib": outcome.peak_rss_kib,
                "tree_rss_kib": outcome.tree_rss_kib, "tree_pss_kib": outcome.tree_pss_kib,
                "channels": statistics.median(sessions for sessions, _ in per_host),
                "connections": statistics.median(connections for _, connections in per_host)})
            line.append(f"{tool.name} {outcome.seconds:.2f} s")
        print(f"  run {round_number}/{runs}: " + ", ".join(line))
    results = {name_: summary(values, count) for name_, values in samples.items()}
    return {"hosts": count, "load": load, "tools": results, "failed": failed}


def summary(values: list[dict], count: int) -> dict:
    def median(key: str) -> float:
        return statistics.median(value[key] for value in values)
    return {"seconds": median("seconds"), "runs": [value["seconds"] for value in values],
            "cpu_per_host_ms": median("cpu") * 1000 / count, "peak_rss_mib": max(v["peak_rss_kib"] for v in values) / 1024,
            "tree_rss_mib": max(v.get("tree_rss_kib", 0) for v in values) / 1024,
            "tree_pss_mib": max(v.get("tree_pss_kib", 0) for v in values) / 1024,
            "channels": median("channels"), "connections": median("connections")}


def main() -> int:
    parser = argparse.ArgumentParser(description=drift20.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50], help="fleet sizes (default 10 50)")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per size (default 5)")
    parser.add_argument("--forks-cap", type=int, metavar="K",
                        help="at most K hosts at once for provision (-f) and the SSH floor (default: every "
                             "host at once). At 1,000 hosts on 2 cores, a thousand handshakes at once starve "
                             "the sandbox hosts' own sshd (they share this machine's CPU; real servers do not)")
    parser.add_argument("--anchors-up-to", type=int, metavar="N",
                        help="run pyinfra and ansible only at sizes up to N (their time at 1,000 hosts is hours); "
                             "larger sizes time provision and the floor (default: every size)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the sizes of results/drift20.json this run does not measure (a long size on its own)")
    parser.add_argument("--tools", default=DEFAULT_TOOLS,
                        help=f"comma-separated, from {', '.join(TOOL_NAMES)} (default: all)")
    args = parser.parse_args()
    names = [name.strip() for name in args.tools.split(",") if name.strip()]
    unknown = [name for name in names if name not in TOOL_NAMES]
    if unknown or not names or args.runs < 1 or any(count < 1 for count in args.hosts):
        parser.error(f"--tools from {', '.join(TOOL_NAMES)} ({', '.join(unknown) or 'none given'}?); "
                     "--runs and --hosts at least 1")
    load_at_start = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load_at_start:.2f}; {args.runs} run(s) per size; "
          f"tools: {', '.join(names)}")
    venv, versions, notes = None, {}, []
    if {"pyinfra", "ansible"} & set(names):
        try:
            venv = bench_venv()
            versions = {name: version(venv, "ansible-playbook" if name == "ansible" else name)
                        for name in ("pyinfra", "ansible") if name in names}
        except RuntimeError as error:
            notes.append(f"pyinfra and ansible not measured: their venv could not be made: {str(error).splitlines()[0]}")
            print(f"  {notes[-1]}")
            names = [name for name in names if name not in ("pyinfra", "ansible")]
    tools = make_tools(names, venv)
    for tool in tools:
        tool.forks_cap = args.forks_cap
    if args.forks_cap:
        notes.append(f"At most {args.forks_cap} hosts at once for provision (-f {args.forks_cap}) and the SSH floor "
                     "(--forks-cap): the sandbox hosts share this machine's 2 cores.")
    rows, failed_any = [], False
    for count in args.hosts:
        name = f"bd{os.getpid()}n{count}"
        work = tempfile.mkdtemp(prefix="provision-drift20-")
        try:
            sized = [tool for tool in tools if args.anchors_up_to is None or count <= args.anchors_up_to
                     or tool.name not in ("pyinfra", "ansible")]
            rows.append(measure(count, args.runs, sized, name, work))
            for tool in tools:
                if tool not in sized:
                    rows[-1]["failed"][tool.name] = f"not run above {args.anchors_up_to} hosts (--anchors-up-to)"
            for tool_name, reason in rows[-1]["failed"].items():
                notes.append(f"{count} hosts: {tool_name} not timed: {reason}")
                failed_any |= "--anchors-up-to" not in reason
        except (BenchFailed, ProvisionError, OSError) as error:
            print(f"  {count} hosts: {error}")
            notes.append(f"{count} hosts: not measured: {str(error).splitlines()[0]}")
            failed_any = True
        finally:
            sandbox_down(name)
            shutil.rmtree(work, ignore_errors=True)
    shown = tools
    if args.merge:  # the table shows every tool of the sizes kept too, in the usual order
        earlier = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results", "drift20.json")
        if os.path.exists(earlier):
            with open(earlier) as handle:
                labelled = set(json.load(handle).get("labels", {}))
            names_shown = [name for name in TOOL_NAMES if name in labelled | {tool.name for tool in tools}]
            shown = make_tools(names_shown, venv or bench_venv())
    text = write_results(rows, shown, args.runs, load_at_start, versions, notes, venv, merge=args.merge)
    print("\n" + text)
    return 1 if failed_any else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the sandbox went down in `finally`
        sys.exit(130)
