"""`provision verify`: the roles' testinfra assertions against an inventory's hosts, in parallel.

What runs where comes from provision.verify.plan (the tests of the roles the playbook applies to
each host). Hosts are cut into slices, and each slice's tests run in its own pytest worker process
with testinfra's plugin: up to `forks` hosts at once, at most a few workers per core (a worker is
an interpreter; a host's tests are mostly waiting on the network). Each host is reached through
provision.verify.backend, one provision SSH connection per host for all of its tests, with the
same host-key policy as apply; an `ansible_connection: local` host through testinfra's local
backend. Workers announce what they collected and each outcome on a pipe, so the command can show
a live line per host, and write their results to a JSON file.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from provision.errors import InputError
from provision.inventory import Inventory
from provision.playbook.roles import main_file
from provision.templating import resolve_variables
from provision.transport.connect import ConnectOptions
from provision.variables import layer
from provision.verify.hosts import (CONNECTIONS_VARIABLE, EVENTS_VARIABLE, LOCAL_HOSTNAME, connection_record, hostspec,
                                    target_of)
from provision.verify.plan import VerifyGroup, VerifyPlan
from provision.yamlsource import load_file

WORKERS_PER_CORE = 4  # a worker mostly waits on its hosts' commands
HOSTS_PER_WORKER = 4  # starting a worker (an interpreter with pytest and testinfra) costs ~0.6 s of CPU,
# about what four hosts' checks cost: fewer hosts per worker would spend more on starting than checking


@dataclass
class VerifyResult:
    checks: list[dict] = field(default_factory=list)  # one per host x test
    unreachable: dict[str, str] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)  # the hosts verified (those with tests)
    returncode: int = 0  # 0, or the first worker exit code that means pytest itself broke
    output: str = ""  # what a broken worker printed
    started: float = 0.0
    finished: float = 0.0
    workers: int = 0

    @property
    def failed(self) -> list[dict]:
        return [check for check in self.checks if check["outcome"] == "failed"]

    @property
    def broken(self) -> bool:
        return self.returncode not in (0, 1, 5)

    @property
    def duration(self) -> float:
        return max(self.finished - self.started, 0.0)

    @property
    def exit_code(self) -> int:
        """2 any check failed (or pytest itself broke), 4 any host unreachable; both add up."""
        code = 2 if self.failed or self.broken else 0
        return code | (4 if self.unreachable else 0)


class VerifyListener:
    """What a verify run announces while it runs; the console's progress overrides these."""

    def collected(self, host: str, total: int) -> None:
        pass

    def check_done(self, host: str, outcome: str) -> None:
        pass

    def unreachable(self, host: str, reason: str) -> None:
        pass

    def broken(self, host: str, reason: str) -> None:
        """The checks could not run on `host` (its sudo failed)."""


def role_defaults(roles_dirs: list[str]) -> dict:
    """Every role's defaults under `roles_dirs` (onboarding's plan preview reads them)."""
    merged: dict = {}
    for roles_dir in roles_dirs:
        for role in sorted(os.listdir(roles_dir)) if os.path.isdir(roles_dir) else []:
            path = main_file(os.path.join(roles_dir, role), "defaults")
            data = load_file(path) if path else None
            if isinstance(data, dict):
                merged.update(data)
    return merged


def verify_preconditions(inventory: Inventory, names: list[str], become: dict[str, str] | None = None,
                         become_password: str | None = None) -> dict:
    """What must hold before any check runs, as InputError; `check` asks before its check-mode
    run, so a verify that cannot start never throws away a finished run. Returns the targets."""
    missing = [name for name in ("pytest", "testinfra") if importlib.util.find_spec(name) is None]
    if missing:  # without them every worker would fail before a check, and nothing would say so
        raise InputError(f"verify needs {' and '.join(missing)}, which this installation lacks: "
                         "pip install 'provision[verify]' (./bootstrap installs it)")
    targets = {name: target_of(inventory.hosts[name], (become or {}).get(name), become_password) for name in names}
    local = [name for name, target in targets.items() if target.local]
    if len(local) > 1:
        raise InputError(f"hosts {', '.join(local)} all use ansible_connection: local, so they are one machine "
                         "and testinfra's local backend cannot tell them apart; verify one (--limit)")
    return targets


def worker_count(hosts: int, forks: int, cores: int | None = None) -> int:
    """Workers for `hosts`: never more than --forks hosts at once, a few per core, a few hosts each."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(math.ceil(hosts / HOSTS_PER_WORKER), forks, WORKERS_PER_CORE * cores))


def slices(plan: VerifyPlan, workers: int) -> list[VerifyGroup]:
    """Each group's hosts cut into slices of about the same size, `workers` slices in all (or a
    few more when groups do not divide evenly). A worker verifies its hosts one after another, so
    hosts at once = workers <= --forks."""
    total = len(plan.hosts)
    size = max(1, math.ceil(total / max(1, workers)))
    return [VerifyGroup(group.hosts[start:start + size], group.files)
            for group in plan.groups for start in range(0, len(group.hosts), size)]


def run_verify(inventory: Inventory, plan: VerifyPlan, options: ConnectOptions, extra_vars: dict,
               forks: int = 100, listener: VerifyListener | None = None,
               become_password: str | None = None) -> VerifyResult:
    listener = _Recording(listener or VerifyListener())
    result = VerifyResult(started=time.time(), hosts=plan.hosts)
    if not plan.hosts:
        result.finished = time.time()
        return result
    targets = verify_preconditions(inventory, plan.hosts, plan.become, become_password)
    local = [name for name, target in targets.items() if target.local]
    with tempfile.TemporaryDirectory(prefix="provision-verify-") as folder:
        environment = dict(os.environ)
        environment[CONNECTIONS_VARIABLE] = _write(folder, "connections.json", _connections(targets, options, become_password))
        variables = {name: _jsonable(resolve_variables(layer(plan.defaults, inventory.hosts[name].vars, extra_vars,
                                                             {"inventory_hostname": name})))
                     for name in plan.hosts}
        if local:  # testinfra's local backend calls its host `local`
            variables[LOCAL_HOSTNAME] = variables[local[0]]
        vars_path = _write(folder, "vars.json", variables)
        with open(os.path.join(folder, "pytest.ini"), "w") as handle:
            handle.write("[pytest]\n")
        jobs = slices(plan, worker_count(len(plan.hosts), forks))
        result.workers = min(len(jobs), worker_count(len(plan.hosts), forks))
        lock = threading.Lock()

        def run_job(number: int, job: VerifyGroup) -> None:
            checks, code, output = _worker(folder, number, job, targets, vars_path, environment, listener, local)
            with lock:
                result.checks += checks
                if code not in (0, 1, 5) and result.returncode in (0, 1, 5):
                    result.returncode, result.output = code, output

        with ThreadPoolExecutor(max_workers=worker_count(len(plan.hosts), forks)) as pool:
            for future in [pool.submit(run_job, number, job) for number, job in enumerate(jobs)]:
                future.result()
    result.unreachable = dict(listener.hosts)
    if listener.broken_hosts and not result.broken:
        result.returncode = 3
        result.output = "".join(f"{host}: {why}\n" for host, why in listener.broken_hosts.items())
    result.checks = [check for check in result.checks if check["host"] not in result.unreachable]
    order = {name: index for index, name in enumerate(plan.hosts)}
    result.checks.sort(key=lambda check: (order.get(check["host"], len(order)), check["file"], check["line"]))
    result.finished = time.time()
    return result


class _Recording(VerifyListener):
    """Passes events on, keeping the hosts a worker's backend could not reach."""

    def __init__(self, inner: VerifyListener):
        self.inner = inner
        self.hosts: dict[str, str] = {}
        self.broken_hosts: dict[str, str] = {}  # sudo failed: the checks could not run there
        self.lock = threading.Lock()

    def collected(self, host: str, total: int) -> None:
        self.inner.collected(host, total)

    def check_done(self, host: str, outcome: str) -> None:
        self.inner.check_done(host, outcome)

    def unreachable(self, host: str, reason: str) -> None:
        with self.lock:
            self.hosts.setdefault(host, reason)
        self.inner.unreachable(host, reason)

    def broken(self, host: str, reason: str) -> None:
        with self.lock:
            self.broken_hosts.setdefault(host, reason)


def _worker(folder: str, number: int, job: VerifyGroup, targets: dict, vars_path: str, environment: dict,
            listener: VerifyListener, local: list[str]) -> tuple[list[dict], int, str]:
    """One pytest worker over one slice; returns its checks, exit code and (when broken) output."""
    results_path = os.path.join(folder, f"results-{number}.json")
    specs = ",".join(hostspec(targets[name]) for name in job.hosts)
    command = [sys.executable, "-m", "pytest", "-c", os.path.join(folder, "pytest.ini"), "--rootdir", folder,
               "-p", "provision.verify.plugin", "-p", "no:cacheprovider", "-q", "--tb=short",
               f"--hosts={specs}", f"--provision-vars={vars_path}", f"--provision-results={results_path}",
               *job.files]
    read_end, write_end = os.pipe()
    events = os.fdopen(read_end, encoding="utf-8", errors="replace")  # closed below, whatever happens
    try:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=folder,
                                       env={**environment, EVENTS_VARIABLE: str(write_end)}, pass_fds=(write_end,))
        finally:
            os.close(write_end)  # the worker holds the only write end: EOF when it exits
        with process:  # waited for and its stdout closed, even if a listener raises
            output: list[str] = []
            reader = threading.Thread(target=lambda: output.append(process.stdout.read().decode("utf-8", "replace")),
                                      daemon=True)
            reader.start()
            try:
                for line in events:
                    _dispatch(line, listener, local)
            except BaseException:  # nobody reads its events any more: stop it rather than wait on it
                process.kill()
                raise
            code = process.wait()
            reader.join()
    finally:
        events.close()
    checks: list[dict] = []
    if not os.path.exists(results_path):  # the worker died before its session ended: not "no checks"
        return [], code if code not in (0, 1, 5) else 3, "".join(output) or f"pytest worker exited {code}"
    with open(results_path, encoding="utf-8") as handle:
        checks = json.load(handle)
    for check in checks:  # paths as the user sees them, not from the temporary root
        check["file"] = os.path.relpath(os.path.normpath(os.path.join(folder, check["file"])))
        if local and check["host"] == LOCAL_HOSTNAME:
            check["host"] = local[0]
    return checks, code, "".join(output)


def _dispatch(line: str, listener: VerifyListener, local: list[str]) -> None:
    try:
        event = json.loads(line)
    except ValueError:
        return
    if not isinstance(event, dict):
        return

    def name(host: str) -> str:
        return local[0] if local and host == LOCAL_HOSTNAME else host

    if event.get("event") == "collected":
        for host, total in (event.get("hosts") or {}).items():
            listener.collected(name(host), int(total))
    elif event.get("event") == "check":
        listener.check_done(name(str(event.get("host"))), str(event.get("outcome")))
    elif event.get("event") == "unreachable":
        listener.unreachable(name(str(event.get("host"))), str(event.get("reason")))
    elif event.get("event") == "broken":
        listener.broken(name(str(event.get("host"))), str(event.get("reason")))


def _connections(targets: dict, options: ConnectOptions, become_password: str | None) -> dict:
    """Each ssh host's connection record for the workers, from its target (rendered once)."""
    records = {}
    for name, target in targets.items():
        if target.local:
            continue
        connection = target.connection
        become = target.sudo_user if (target.sudo or connection.become) else None
        password = (connection.become_password or become_password) if become else None  # only where sudo runs
        records[name] = connection_record(connection, target.rendered, options, become, password)
    return records


def _write(folder: str, name: str, data) -> str:
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


def _jsonable(variables: dict) -> dict:
    return json.loads(json.dumps(variables, default=str))
