#!/usr/bin/env python3
"""Benchmark: how long a converged fleet takes to re-check, against one SSH round trip per host.

Starts a sandbox of N plain hosts, converges a 12-task playbook on it, then times a second `apply`
(everything already converged: changed=0) and an `apply --check`. It also times one bare SSH
round trip per host over the same connections, so the ratio says how close a re-check is to the
floor. Not a test: figures go to stdout (and the README), nothing is asserted.

    .venv/bin/python bench/recheck.py --hosts 10 50
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from provision.inventory import load_inventory  # noqa: E402
from provision.playbook.validate import load_and_validate  # noqa: E402
from provision.runner import RunOptions, run_playbook  # noqa: E402
from provision.runner.hoststate import open_transport  # noqa: E402
from provision.sandbox import Sandbox  # noqa: E402

PLAYBOOK = """
- hosts: all
  tasks:
    - file: {path: /etc/bench, state: directory, mode: "0755"}
    - copy: {content: "one\\n", dest: /etc/bench/one.conf}
    - copy: {content: "two {{ inventory_hostname }}\\n", dest: /etc/bench/two.conf, mode: "0600"}
    - template: {src: bench.j2, dest: /etc/bench/three.conf}
    - lineinfile: {path: /etc/bench/lines, line: "alpha=1", create: true}
    - lineinfile: {path: /etc/bench/lines, line: "beta=2", create: true}
    - blockinfile: {path: /etc/bench/block, block: "x=1\\ny=2", create: true}
    - json_merge: {path: /etc/bench/daemon.json, keys: {log-driver: json-file, live-restore: true}}
    - file: {path: "/etc/bench/{{ item }}", state: directory}
      loop: [a, b, c]
    - command: cat /etc/hostname
      register: name
      changed_when: false
    - stat: {path: /etc/bench/one.conf}
    - file: {path: /etc/bench/link, src: /etc/bench/one.conf, state: link}
"""


def timed(label: str, action) -> float:
    started = time.monotonic()
    action()
    elapsed = time.monotonic() - started
    print(f"  {label:<46} {elapsed * 1000:8.0f} ms")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="provision-bench-")
    with open(os.path.join(folder, "site.yaml"), "w") as handle:
        handle.write(textwrap.dedent(PLAYBOOK))
    os.makedirs(os.path.join(folder, "templates"))
    with open(os.path.join(folder, "templates", "bench.j2"), "w") as handle:
        handle.write("host={{ inventory_hostname }} os={{ ansible_distribution }}\n")
    print(f"machine: {os.cpu_count()} cores; playbook: 12 tasks (14 with the loop items)")
    for count in args.hosts:
        sandbox = Sandbox.up(f"bench{count}", hosts=count, log=lambda text: None)
        try:
            inventory = load_inventory(sandbox.inventory_path)
            playbook = load_and_validate(os.path.join(folder, "site.yaml"), inventory)
            print(f"{count} hosts:")
            first = run_playbook(playbook, inventory, RunOptions())
            print(f"    first apply took {first.finished - first.started:.2f} s, "
                  f"changed per host {statistics.mean(r.changed for r in first.recaps.values()):.0f}")
            results = {}
            for label, options in (("re-check: apply, converged (changed=0)", RunOptions()),
                                   ("re-check: apply --check", RunOptions(check=True))):
                report = run_playbook(playbook, inventory, options)
                assert not report.failed_hosts and not any(r.changed for r in report.recaps.values()), report.recaps
                results[label] = report.finished - report.started
                print(f"  {label:<46} {results[label] * 1000:8.0f} ms")
            variables = {name: host.vars for name, host in inventory.hosts.items()}
            transports = {}

            def connect(name):
                transports[name] = open_transport(name, variables[name], RunOptions())

            connect_time = timed("open one SSH connection per host (parallel)",
                                 lambda: list(ThreadPoolExecutor(100).map(connect, variables)))
            round_trip = timed("one round trip per host (parallel, `true`)",
                               lambda: list(ThreadPoolExecutor(100).map(lambda t: t.run("true"), transports.values())))
            for transport in transports.values():
                transport.close()
            floor = connect_time + round_trip
            for label, seconds in results.items():
                print(f"  {label:<46} = {seconds / floor:5.1f} x (connect + one round trip)")
        finally:
            sandbox.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
