#!/usr/bin/env python3
"""Benchmark: the nightly drift check (`provision check`) at fleet scale, against a converged apply.

For each N it starts a sandbox of N plain hosts and a copy of its own project (a playbook and two
roles in bench/check_scale_project/: 16 idempotent tasks and 15 testinfra checks asserting the same
end state), converges it, proves the check sees drift (one file changed by hand on one host: exit
3, that host and no other named), re-converges, then times R interleaved rounds of the three whole
commands as a user runs them: the converged `provision apply` (changed=0: the reference),
`provision check` and `provision verify`, plus the SSH floor (one `ssh ... true` per host, all at
once). Medians go to stdout and to bench/results/check_scale.md. Not a test: nothing is asserted about speed.

The verify part of the check is the `verify.duration` of the check's --report-json when it has
one, else the standalone `provision verify` time. Target: verify of 50 hosts within 2x the
converged apply of the same hosts.

    .venv/bin/python -m bench.check_scale --hosts 10 50 [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from provision.inventory import load_inventory  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH_DIR, "results", "check_scale.md")
PROVISION = os.path.join(os.path.dirname(sys.executable), "provision")
TARGET_HOSTS, TARGET_RATIO = 50, 2.0
TAMPERED_FILE = "/etc/benchfleet/motd"  # what the correctness gate changes by hand
# The benchmark's own playbook and roles (tasks + testinfra tests); copied to a temporary folder
# per size, so each run's history database (.provision/) stays out of the repository.
PROJECT = os.path.join(BENCH_DIR, "check_scale_project")


class BenchFailed(Exception):
    """A step did not go as it must; the message says which and why (no traceback)."""


def provision(project: str, *arguments: str, expect: tuple[int, ...] = (0,)) -> tuple[float, subprocess.CompletedProcess]:
    """Run the provision CLI in the project folder (so its roles/ are used); seconds and result."""
    started = time.monotonic()
    result = subprocess.run([PROVISION, *arguments], cwd=project, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode not in expect:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BenchFailed(f"`provision {' '.join(arguments)}` exited {result.returncode} "
                          f"(expected {' or '.join(map(str, expect))}):\n    " + "\n    ".join(tail))
    return elapsed, result


def sandbox_up(name: str, count: int) -> str:
    """Start the sandbox; its inventory's path (the last line `up` prints)."""
    result = subprocess.run([PROVISION, "sandbox", "up", "--hosts", str(count), "--name", name],
                            capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines or not os.path.isfile(lines[-1]):
        raise BenchFailed(f"sandbox {name} ({count} hosts) could not start (exit {result.returncode}):\n    "
                          + "\n    ".join((result.stdout + result.stderr).strip().splitlines()[-10:]))
    return lines[-1]


def sandbox_down(name: str) -> None:
    result = subprocess.run([PROVISION, "sandbox", "down", "--name", name], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"  sandbox {name} did not come down cleanly: {(result.stdout + result.stderr).strip()}")


def host_names(inventory_path: str) -> list[str]:
    return sorted(load_inventory(inventory_path).hosts)


def ssh_floor(ssh_config: str, names: list[str], at_once: int | None = None) -> float:
    """One `ssh HOST true` per host, all started at once (or at most `at_once` running, a new one
    as soon as any returns): seconds until the last one returns."""
    started = time.monotonic()
    waiting, running, failed = list(reversed(names)), {}, []
    while waiting or running:
        while waiting and len(running) < (at_once or len(names)):
            name = waiting.pop()
            process = subprocess.Popen(["ssh", "-F", ssh_config, "-o", "BatchMode=yes", name, "true"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running[process.pid] = (name, process)
        pid, status = os.wait()
        if pid not in running:
            continue
        name, process = running.pop(pid)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            failed.append(f"{name}: {process.stderr.read().decode().strip()}")
        process.stderr.close()
    elapsed = time.monotonic() - started
    if failed:
        raise BenchFailed("ssh floor: " + "; ".join(failed[:5]))
    return elapsed


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def drift_gate(project: str, inventory: str, ssh_config: str, names: list[str]) -> str:
    """Change one file by hand on one host; the check must exit 3 and name that host alone."""
    victim = names[len(names) // 2]
    edit = subprocess.run(["ssh", "-F", ssh_config, "-o", "BatchMode=yes", victim,
                           f"echo 'changed by hand' >> {TAMPERED_FILE}"], capture_output=True, text=True)
    if edit.returncode != 0:
        raise BenchFailed(f"drift gate: could not change {TAMPERED_FILE} on {victim}: {edit.stderr.strip()}")
    report = os.path.join(project, "gate.json")
    provision(project, "check", inventory, "site.yaml", "--report-json", report, expect=(3,))
    drifted = sorted(host for host, tasks in read_json(report).get("drift", {}).items() if tasks)
    if drifted != [victim]:
        raise BenchFailed(f"drift gate: changed {TAMPERED_FILE} on {victim}, the check's JSON names {drifted}")
    failing = verify_failures(report)
    if failing is not None and failing != [victim]:
        raise BenchFailed(f"drift gate: changed {TAMPERED_FILE} on {victim}, the check's verify failed on {failing}")
    provision(project, "apply", inventory, "site.yaml", "-q")
    seen = "its verify not in the JSON" if failing is None else f"its verify failed on [{victim}] only"
    return f"{TAMPERED_FILE} changed on {victim}: check exit 3, drift names [{victim}] only, {seen}; re-applied"


def verify_failures(report_path: str) -> list[str] | None:
    """Hosts with a failed check in the check's verify (the report's per-host `checks_failed`);
    None when the report has no verify part."""
    report = read_json(report_path)
    if not isinstance(report.get("verify"), dict):
        return None
    return sorted(host for host, recap in report.get("hosts", {}).items() if recap.get("checks_failed"))


def verify_part(report_path: str) -> float | None:
    """The check's own verify time, once its JSON carries `"verify": {"duration": seconds}`."""
    section = read_json(report_path).get("verify")
    duration = section.get("duration") if isinstance(section, dict) else None
    return float(duration) if isinstance(duration, (int, float)) else None


def measure(count: int, runs: int, project: str, name: str) -> dict:
    started = time.monotonic()
    inventory = sandbox_up(name, count)
    print(f"{count} hosts: sandbox {name} up in {time.monotonic() - started:.1f} s")
    ssh_config = os.path.join(os.path.dirname(inventory), "ssh_config")
    names = host_names(inventory)
    first, _ = provision(project, "apply", inventory, "site.yaml", "-q")
    print(f"  first apply (converge, untimed): {first:.1f} s")
    gate = drift_gate(project, inventory, ssh_config, names)
    print(f"  gate: {gate}")
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {"apply": [], "check": [], "verify": [], "floor": []}
    check_verify: list[float] = []
    apply_json, check_json = os.path.join(project, "apply.json"), os.path.join(project, "check.json")
    for run in range(1, runs + 1):  # interleaved, so a load change hits every command alike
        seconds, _ = provision(project, "apply", inventory, "site.yaml", "-q", "--report-json", apply_json)
        changed = sum(host["changed"] for host in read_json(apply_json)["hosts"].values())
        if changed:
            raise BenchFailed(f"the converged apply changed {changed} task(s): the playbook is not idempotent")
        times["apply"].append(seconds)
        times["check"].append(provision(project, "check", inventory, "site.yaml", "--report-json", check_json)[0])
        part = verify_part(check_json)
        if part is not None:
            check_verify.append(part)
        times["verify"].append(provision(project, "verify", inventory, "site.yaml", "-q")[0])
        times["floor"].append(ssh_floor(ssh_config, names))
        print(f"  run {run}/{runs}: apply {times['apply'][-1]:.2f} s, check {times['check'][-1]:.2f} s"
              f"{f' (verify part {part:.2f} s)' if part is not None else ''}, verify {times['verify'][-1]:.2f} s, "
              f"ssh floor {times['floor'][-1]:.2f} s")
    row = {key: statistics.median(values) for key, values in times.items()}
    row.update(hosts=count, load=load, gate=gate, verify_source="standalone verify")
    row["verify_part"] = row["verify"]
    if len(check_verify) == runs:
        row.update(verify_part=statistics.median(check_verify), verify_source="check JSON")
    return row


def table(rows: list[dict], runs: int, load_at_start: float, notes: list[str]) -> str:
    lines = [
        "# `provision check` at fleet scale",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} cores; load average at start "
        f"{load_at_start:.2f}; medians of {runs} interleaved run(s) of each whole command "
        "(`bench/check_scale.py`: 16 tasks, 15 testinfra checks per host).",
        "",
        "| N | converged apply s | check s | verify part s | verify / apply | SSH floor s | verify s (standalone) | load at N |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        mark = "" if row["verify_source"] == "check JSON" else " *"
        lines.append(f"| {row['hosts']} | {row['apply']:.2f} | {row['check']:.2f} | {row['verify_part']:.2f}{mark} | "
                     f"{row['verify_part'] / row['apply']:.2f} | {row['floor']:.2f} | {row['verify']:.2f} | {row['load']:.2f} |")
    if not rows:
        lines.append("| (no size measured: see the notes below) | | | | | | | |")
    if any(row["verify_source"] != "check JSON" for row in rows):
        lines += ["", "\\* the check's JSON has no `verify.duration`: the standalone `provision verify` time stands in."]
    target = next((row for row in rows if row["hosts"] == TARGET_HOSTS), None)
    verdict = ("not measured in this run" if target is None else
               f"{'met' if target['verify_part'] <= TARGET_RATIO * target['apply'] else 'NOT met'} "
               f"({target['verify_part'] / target['apply']:.2f}x)")
    lines += ["", f"Target: verify of {TARGET_HOSTS} hosts within {TARGET_RATIO:g}x the converged apply: {verdict}."]
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50], help="fleet sizes (default 10 50)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per size (default 3)")
    args = parser.parse_args()
    if args.runs < 1 or any(not 1 <= count <= 250 for count in args.hosts):
        parser.error("--runs must be at least 1 and each --hosts between 1 and 250")
    load_at_start = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load_at_start:.2f}; {args.runs} run(s) per size")
    rows, notes, failed = [], [], False
    for count in args.hosts:
        project = os.path.join(tempfile.mkdtemp(prefix="provision-check-scale-"), "project")
        name = f"bvcs{os.getpid()}n{count}"
        try:
            shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", ".provision"))
            rows.append(measure(count, args.runs, project, name))
            notes.append(f"{count} hosts: drift gate passed: {rows[-1]['gate']}")
        except BenchFailed as error:
            print(f"  {count} hosts: {error}")
            notes.append(f"{count} hosts: not measured: {str(error).splitlines()[0]}")
            failed = True
        finally:
            sandbox_down(name)
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)
    text = table(rows, args.runs, load_at_start, notes)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        handle.write(text)
    print("\n" + text + f"\n(written to {os.path.relpath(RESULTS)})")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the sandbox went down in `finally`
        sys.exit(130)
