"""The fault-injection suite (issue 10): one fault at a time on one host of a shared sandbox.

Each scenario asserts what a user would notice: the named per-host error (in the terminal and in
the JSON report), the other hosts converged, no file half-written, a re-run converges, and the
exit code (0 ok, 2 a task failed, 4 unreachable, 6 both, 130 interrupted). At the end of the run
`faults: N/M survived` is printed from the real outcomes of the tests marked `fault`.

The fleet (three plain hosts) is shared by the whole package, so scenarios are cheap; each one
repairs what it broke, and after every test any host that no longer answers SSH is restarted
(same disk). Waiting is done on conditions with deadlines, never on bare sleeps, so the suite
holds on a loaded machine.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from itertools import count

import pytest
import yaml

from provision.sandbox import system
from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import PROVISION, sandbox_inventory

HOSTS = ("host01", "host02", "host03")
FAULTY = "host01"  # the host a scenario breaks
OTHERS = ("host02", "host03")  # the hosts that must converge anyway


# ---- the `fault` marker and the survival count ---------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "fault: a fault-injection scenario, counted in `faults: N/M survived`")


def pytest_terminal_summary(terminalreporter):
    """`faults: N/M survived`: M fault scenarios ran, N passed every phase (setup, call, teardown)."""
    phases: dict[str, list] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) and "fault" in getattr(report, "keywords", {}):
                phases.setdefault(report.nodeid, []).append(report)
    if not phases:
        return
    survived = sorted(nodeid for nodeid, reports in phases.items()
                      if all(report.passed for report in reports)
                      and any(report.when == "call" for report in reports))
    lost = sorted(set(phases) - set(survived))
    terminalreporter.write_sep("=", f"faults: {len(survived)}/{len(phases)} survived",
                               green=not lost, red=bool(lost), bold=True)
    for nodeid in lost:
        terminalreporter.write_line(f"not survived: {nodeid}")


# ---- the fleet ------------------------------------------------------------------------------------

@pytest.fixture(scope="package")
def fleet():
    with throwaway_sandbox("xf", hosts=len(HOSTS)) as sandbox:
        yield sandbox


def answers_ssh(address: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as connection:
            connection.settimeout(timeout)
            return connection.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def unblock(fleet, name: str) -> None:
    """Take away the blackhole route `block` puts in a host's network namespace (if any)."""
    system.run("ip", "-n", fleet.host(name).netns, "route", "del", "blackhole", f"{fleet.gateway}/32", check=False)


def block(fleet, name: str) -> None:
    """Drop every packet the host sends to this machine: a connect to it times out."""
    system.run("ip", "-n", fleet.host(name).netns, "route", "add", "blackhole", f"{fleet.gateway}/32")


def repair(fleet) -> list[str]:
    """Restart (same disk) every host that does not answer SSH; returns their names."""
    restarted = []
    for host in fleet.hosts:
        unblock(fleet, host.name)
        if not (host.alive() and answers_ssh(host.address)):
            fleet.restart(host.name)
            restarted.append(host.name)
    return restarted


# ---- runs ---------------------------------------------------------------------------------------

def flat(text: str) -> str:
    """Whitespace collapsed: a message the console wrapped still matches."""
    return " ".join(text.split())


@dataclass
class Run:
    """One `provision apply`: its exit code, what it printed and its JSON report (None: not written)."""

    code: int
    stdout: str
    stderr: str
    report: dict | None
    report_path: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def checked(self) -> Run:
        """The JSON report, when one was written, says the exit code the process returned."""
        if self.report is not None:
            assert self.report["exit_code"] == self.code, (self.report["exit_code"], self.code, self.output[-3000:])
        return self

    def results(self, host: str, status: str | None = None) -> list[dict]:
        assert self.report is not None, f"no JSON report was written:\n{self.output[-3000:]}"
        return [row for row in self.report["results"] if row["host"] == host and status in (None, row["status"])]

    def error(self, host: str, status: str, *fragments: str) -> str:
        """The host's error message, after checking it is named, with every fragment, both in the
        JSON report (a result of that status and the host's recap) and in the terminal."""
        assert self.report is not None, f"no JSON report was written:\n{self.output[-3000:]}"
        rows = self.results(host, status)
        assert rows, (f"{host} has no {status} result; its results: "
                      f"{[(row['task'], row['status'], row['msg']) for row in self.results(host)]}")
        message = rows[-1]["msg"]
        for fragment in fragments:
            assert flat(fragment).lower() in flat(message).lower(), f"{fragment!r} not in {host}'s message: {message!r}"
        assert self.report["hosts"][host][status] >= 1, self.report["hosts"][host]
        shown = flat(f"{status} {host}: {rows[-1]['task']} - {message}")
        assert shown in flat(self.stdout), f"the terminal does not show {shown!r}:\n{self.stdout[-3000:]}"
        return message

    def assert_converged(self, *hosts: str) -> None:
        """Each host ran to the end of the playbook: no failed or unreachable result."""
        assert self.report is not None, f"no JSON report was written:\n{self.output[-3000:]}"
        for host in hosts:
            recap = self.report["hosts"][host]
            assert recap["failed"] == 0 and recap["unreachable"] == 0, (host, recap, self.output[-3000:])


@dataclass
class Started:
    """A `provision apply` running as a real process (for signals and controller kills)."""

    process: subprocess.Popen
    stdout_path: str
    stderr_path: str
    report_path: str

    def running(self) -> bool:
        return self.process.poll() is None

    def send(self, sig: int) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout: float = 120) -> Run:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"provision did not finish within {timeout}s:\n{open(self.stdout_path).read()[-3000:]}")
        report = None
        if os.path.exists(self.report_path):
            with open(self.report_path) as handle:
                report = json.load(handle)
        return Run(code, open(self.stdout_path).read(), open(self.stderr_path).read(), report,
                   self.report_path).checked()


def wait_until(condition, what: str, timeout: float = 60, interval: float = 0.05, while_running: Started | None = None):
    """Poll `condition` until it returns something true; fail naming `what` after `timeout` seconds
    (or as soon as `while_running` ended, since then it will not happen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if while_running is not None and not while_running.running():
            run = while_running.finish()
            raise AssertionError(f"provision ended (exit {run.code}) before {what}:\n{run.output[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(interval)


@dataclass
class Faults:
    """A scenario's workbench: inventories and playbooks in its tmp folder, runs of `provision
    apply` (in this process, or as a real process), and looks at the hosts."""

    fleet: object
    folder: str
    history: str = ""
    _numbers: count = field(default_factory=lambda: count(1))

    def __post_init__(self):
        self.history = os.path.join(self.folder, "history.sqlite")

    # ---- inputs -----------------------------------------------------------------------------------
    def inventory(self, host_vars: dict[str, dict] | None = None, hosts=HOSTS, name: str = "inventory.yaml",
                  **variables) -> str:
        inventory = sandbox_inventory(self.fleet, list(hosts))
        inventory["all"]["vars"].update(variables)
        members = inventory["all"]["children"]["lab"]["hosts"]
        for host, values in (host_vars or {}).items():
            members[host].update(values)
        path = os.path.join(self.folder, name)
        with open(path, "w") as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)
        return path

    def playbook(self, text: str, name: str = "site.yaml") -> str:
        path = os.path.join(self.folder, name)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text).lstrip("\n"))
        return path

    def file(self, name: str, data: bytes) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    # ---- runs -------------------------------------------------------------------------------------
    def _argv(self, playbook: str, options: tuple, inventory: str | None) -> tuple[list[str], str]:
        report = os.path.join(self.folder, f"report{next(self._numbers)}.json")
        return (["apply", inventory or self.inventory(), playbook, "--report-json", report,
                 "--state-db", self.history, *options], report)

    def apply(self, playbook: str, *options: str, inventory: str | None = None, process: bool = False,
              timeout: float = 120, umask: int | None = None) -> Run:
        """Run `provision apply`; in this process (cheap) unless `process` (real stdout/stderr, umask)."""
        argv, report = self._argv(playbook, options, inventory)
        if process or umask is not None:
            return self.start(playbook, *options, inventory=inventory, umask=umask, argv=(argv, report)).finish(timeout)
        from provision.cli import main

        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(argv)
        loaded = None
        if os.path.exists(report):
            with open(report) as handle:
                loaded = json.load(handle)
        return Run(code, stdout.getvalue(), stderr.getvalue(), loaded, report).checked()

    def start(self, playbook: str, *options: str, inventory: str | None = None, umask: int | None = None,
              argv: tuple[list[str], str] | None = None) -> Started:
        arguments, report = argv or self._argv(playbook, options, inventory)
        number = os.path.basename(report).removesuffix(".json")
        stdout_path = os.path.join(self.folder, f"{number}.stdout")
        stderr_path = os.path.join(self.folder, f"{number}.stderr")
        with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
            process = subprocess.Popen(
                [PROVISION, *arguments], stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                env={**os.environ, "COLUMNS": "400"}, cwd=self.folder,
                preexec_fn=lambda: _as_from_a_terminal(umask))
        return Started(process, stdout_path, stderr_path, report)

    # ---- history ----------------------------------------------------------------------------------
    def history_runs(self) -> list[sqlite3.Row]:
        """The runs table as stored, read without opening a HistoryStore (which would mark dead runs)."""
        connection = sqlite3.connect(f"file:{self.history}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        try:
            return connection.execute("SELECT id, command, status, exit_code, pid FROM runs ORDER BY id").fetchall()
        finally:
            connection.close()

    # ---- the hosts --------------------------------------------------------------------------------
    def ssh(self, host: str, command: str, check: bool = True) -> str:
        return ssh(self.fleet, host, command, check=check).stdout

    def ssh_each(self, commands: dict[str, str]) -> None:
        """Run one command on each of several hosts at once (setting up a scenario is then one round trip)."""
        with ThreadPoolExecutor(max_workers=len(commands) or 1) as pool:
            list(pool.map(lambda item: self.ssh(*item), commands.items()))

    def sha1(self, host: str, path: str) -> str:
        """The file's sha1 on the host, or "absent"."""
        return self.ssh(host, f"if [ -e {path} ]; then sha1sum < {path} | cut -d' ' -f1; else echo absent; fi").strip()

    def listing(self, host: str, folder: str) -> list[str]:
        return sorted(self.ssh(host, f"ls -A {folder}").split())

    def upper(self, host: str, path: str) -> str:
        """Where a file the host wrote lies on this machine (its overlay upper folder): for polling
        without an SSH round trip."""
        return os.path.join(self.fleet.host(host).upper, path.lstrip("/"))

    def temp_files(self, host: str, folder: str) -> list[str]:
        """`.provision-*` temp files in a folder, seen from this machine (no SSH)."""
        try:
            return [name for name in os.listdir(self.upper(host, folder)) if name.startswith(".provision-")]
        except FileNotFoundError:
            return []

    def host_pids(self, host: str, pattern: str) -> list[int]:
        """PIDs of the host's processes whose command line matches `pattern` (a regex)."""
        sandbox_host = self.fleet.host(host)
        found = []
        for pid in system.cgroup_pids(system.cgroup_dirs(sandbox_host.sandbox, sandbox_host.name)):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if re.search(pattern, command):
                found.append(pid)
        return found

    def kill(self, pids: list[int], sig: int = signal.SIGKILL) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


@pytest.fixture
def faults(fleet, tmp_path, monkeypatch):
    """The workbench of one scenario; afterwards every host answers SSH again, whatever happened."""
    monkeypatch.setenv("COLUMNS", "400")  # in-process runs: long messages stay on one line
    yield Faults(fleet, str(tmp_path))
    repair(fleet)


# ---- a large file written to every host ---------------------------------------------------------

BIG_BYTES = 4 * 2**20  # long enough to be caught mid-write: provision writes ~1-4 MB/s per host on this machine
OLD_CONTENT = b"the old content, which must survive a write that did not finish\n"


@dataclass
class BigCopy:
    """`copy` of a large local file over OLD_CONTENT at `dest` on every host, then an `after` task."""

    faults: Faults
    playbook: str
    new_sha1: str
    folder: str = "/srv/fault-big"
    after: str = "/root/fault-after-big-copy"  # written by the task after the copy

    @property
    def dest(self) -> str:
        return f"{self.folder}/data"

    @property
    def old_sha1(self) -> str:
        return hashlib.sha1(OLD_CONTENT).hexdigest()

    def assert_intact(self, host: str) -> str:
        """The destination is the old file or the new one, never a part of one; returns which."""
        found = self.faults.sha1(host, self.dest)
        assert found in (self.old_sha1, self.new_sha1), f"{host}: {self.dest} is half-written (sha1 {found})"
        return "old" if found == self.old_sha1 else "new"

    def assert_new(self, host: str) -> None:
        assert self.faults.sha1(host, self.dest) == self.new_sha1, f"{host}: {self.dest} is not the new file"
        assert self.faults.listing(host, self.folder) == ["data"], f"{host}: a temp file was left beside {self.dest}"


@pytest.fixture
def big_copy(faults) -> BigCopy:
    data = os.urandom(BIG_BYTES)
    source = faults.file("big.bin", data)
    copy = BigCopy(faults, "", hashlib.sha1(data).hexdigest())
    copy.playbook = faults.playbook(f"""
        - hosts: lab
          gather_facts: false
          tasks:
            - name: the large file
              copy:
                src: {source}
                dest: {copy.dest}
            - name: after the copy
              copy:
                content: "after\\n"
                dest: {copy.after}
    """, name="big-copy.yaml")
    old = OLD_CONTENT.decode().strip()
    faults.ssh_each({host: f"rm -rf {copy.folder} {copy.after} && mkdir -p {copy.folder} && echo '{old}' > {copy.dest}"
                     for host in HOSTS})
    return copy


def _as_from_a_terminal(umask: int | None) -> None:
    """In the child before exec: SIGINT as a terminal gives it (a suite started as a background
    job inherits it ignored, and provision keeps an ignored signal ignored), and the test's umask."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if umask is not None:
        os.umask(umask)
