"""The tools the benchmark times, one small class each, all of one shape.

A tool can `converge` the fleet (apply drift20 for real), say which task it sees would change or
changed on which host (`changes`: {host: [task names]}, from the tool's own machine-readable output
where it has one), and give the `timed` command: its check/dry mode of drift20 as a user types it.
Every command runs as a whole process in the fleet's work folder; `run` measures its wall time,
CPU time and peak RSS from the child's own rusage (os.wait4).
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from bench.check_scale import BenchFailed, ssh_floor
from bench.drift20.fleet import Fleet

PROVISION = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         ".venv", "bin", "provision")


CONVERGE_FORKS = 100


@dataclass
class Outcome:
    seconds: float
    cpu: float         # user + system seconds of the command and the children it waited for
    peak_rss_kib: int  # ru_maxrss: the largest single process of the command's tree
    returncode: int
    stdout: str
    stderr: str
    tree_rss_kib: int = 0  # the peak of the whole tree's RSS summed (parent + worker processes), sampled
    tree_pss_kib: int = 0  # the same peak in PSS: pages a forked worker shares with its parent counted once

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class TreeMemory:
    """Samples the summed memory of a process and all its descendants every `interval` seconds.

    ru_maxrss is one process's peak; provision's worker processes (and Ansible's forks) each have
    their own, so the controller's real footprint is the tree's sum at one moment. RSS summed
    counts a page a forked worker still shares with its parent once per process; PSS divides it
    among them, so the PSS sum is what the machine actually spends.
    """

    def __init__(self, root: int, interval: float = 0.5):
        self.root, self.interval = root, interval
        self.peak_rss_kib = self.peak_pss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for pid in self._tree():
                rss_kib, pss_kib = self._memory(pid)
                rss, pss = rss + rss_kib, pss + pss_kib
            self.peak_rss_kib, self.peak_pss_kib = max(self.peak_rss_kib, rss), max(self.peak_pss_kib, pss)
            self._stop.wait(self.interval)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone between the listing and the read
            children.setdefault(int(fields[1]), []).append(int(entry))
        tree, queue = [], [self.root]
        while queue:
            pid = queue.pop()
            tree.append(pid)
            queue.extend(children.get(pid, ()))
        return tree

    @staticmethod
    def _memory(pid: int) -> tuple[int, int]:
        rss = pss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass  # exited, or a zombie with no mappings
        return rss, pss


def run(command: list[str], cwd: str, env: dict[str, str] | None = None) -> Outcome:
    # files, not pipes: nothing to drain while waiting, so os.wait4 can wait for the rusage
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        memory = TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        memory.stop()
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        texts = []
        for stream in (stdout, stderr):
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace"))
    return Outcome(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, process.returncode, *texts,
                   tree_rss_kib=memory.peak_rss_kib, tree_pss_kib=memory.peak_pss_kib)


def expect(outcome: Outcome, what: str, codes: tuple[int, ...] = (0,)) -> Outcome:
    if outcome.returncode not in codes:
        tail = "\n    ".join(outcome.output.strip().splitlines()[-12:])
        raise BenchFailed(f"{what} exited {outcome.returncode} (expected {' or '.join(map(str, codes))}):\n    {tail}")
    return outcome


class Tool:
    forks_cap: int | None = None  # --forks-cap: at most this many hosts at once (None: all of them)
    name = ""    # the key in results and --tools
    label = ""   # the column header
    command = ""  # the timed command, as the table's notes show it
    checks = True  # converges and checks drift20 (the floor does neither: it is not gated)

    def forks(self, fleet: Fleet) -> int:
        return min(len(fleet.hosts), self.forks_cap or len(fleet.hosts))

    def converge(self, fleet: Fleet) -> None:
        """Apply drift20 for real (not timed)."""

    def changes(self, fleet: Fleet, check: bool) -> dict[str, list[str]]:
        """{host: [tasks]} this tool's run (check mode, or for real) reports as (would be) changed."""
        return {}

    def timed(self, fleet: Fleet) -> Outcome:
        raise NotImplementedError


class Provision(Tool):
    """`provision apply --check` of the playbook: like for like with the others' check/dry modes."""
    name, label = "provision", "provision apply --check"
    command = "provision apply --check -f N INVENTORY drift20.yaml"

    def _line(self, fleet: Fleet, *arguments: str, forks: int | None = None) -> list[str]:
        return [PROVISION, *arguments, fleet.inventory, "drift20.yaml", "-q", "-f", str(forks or self.forks(fleet))]

    def _run(self, fleet: Fleet, *arguments: str, codes=(0,)) -> Outcome:
        return expect(run(self._line(fleet, *arguments), fleet.work), "`provision " + " ".join(arguments) + "`", codes)

    def converge(self, fleet: Fleet) -> None:
        # Untimed, so gentler than the timed run: at most CONVERGE_FORKS hosts at once (a thousand
        # concurrent apt runs starve the hosts' own sshd on a small machine), and the hosts that
        # failed for it are tried again from provision's retry file, up to twice.
        line = self._line(fleet, "apply", forks=min(len(fleet.hosts), CONVERGE_FORKS))
        outcome = run(line, fleet.work)
        for _ in range(2):
            if outcome.returncode not in (2, 4):  # 2: a task failed, 4: a host unreachable
                break
            outcome = run(line + ["--limit", "@.provision/drift20.retry"], fleet.work)
        expect(outcome, "`provision apply` (converge)")

    def changes(self, fleet: Fleet, check: bool) -> dict[str, list[str]]:
        report = os.path.join(fleet.work, "provision.json")
        self._run(fleet, "apply", *(["--check"] if check else []), "--report-json", report)
        with open(report) as handle:
            results = json.load(handle)["results"]
        found: dict[str, list[str]] = {}
        for result in results:
            if result.get("changed"):
                found.setdefault(result["host"], []).append(result["task"])
        return found

    def timed(self, fleet: Fleet) -> Outcome:
        return self._run(fleet, "apply", "--check")


class ProvisionCheck(Provision):
    """`provision check`: the nightly drift command (check mode plus the roles' testinfra checks;
    drift20 has no roles, so no checks). Exit 0: nothing drifted."""
    name, label = "provision-check", "provision check"
    command = "provision check -f N INVENTORY drift20.yaml"

    def converge(self, fleet: Fleet) -> None:
        pass  # the same playbook as `provision`: converged there

    def changes(self, fleet: Fleet, check: bool) -> dict[str, list[str]]:
        if not check:
            return {}
        report = os.path.join(fleet.work, "provision-check.json")
        self._run(fleet, "check", "--report-json", report, codes=(0, 3))
        with open(report) as handle:
            return {host: tasks for host, tasks in json.load(handle)["drift"].items() if tasks}

    def timed(self, fleet: Fleet) -> Outcome:
        return self._run(fleet, "check")


class Pyinfra(Tool):
    """`pyinfra INVENTORY deploy.py --dry`: pyinfra 3's check. (`--dry -y` would skip its change
    detection altogether: -y means "no change detection, execute at once", --dry then stops.)"""
    name, label = "pyinfra", "pyinfra --dry"
    command = "pyinfra pyinfra_inventory.py deploy.py --dry --parallel N"

    def __init__(self, venv: str):
        self.binary = os.path.join(venv, "bin", "pyinfra")

    def _run(self, fleet: Fleet, *arguments: str) -> Outcome:
        line = [self.binary, "pyinfra_inventory.py", "deploy.py", "--parallel", str(len(fleet.hosts)), *arguments]
        return expect(run(line, fleet.work), "`pyinfra ... " + " ".join(arguments) + "`")

    def converge(self, fleet: Fleet) -> None:
        self._run(fleet, "-y")

    def changes(self, fleet: Fleet, check: bool) -> dict[str, list[str]]:
        # --json: the plan's hosts with a (conditional) change for --dry; for a real run (-y, which
        # skips change detection) the results' hosts whose operation ran with a change ("success")
        outcome = self._run(fleet, *(["--dry", "--json"] if check else ["-y", "--json"]))
        report = json.loads(outcome.stdout)
        found: dict[str, list[str]] = {}
        for operation in report["plan"] if check else report["results"]["operations"]:
            hosts = (operation["hosts_with_change"] + operation["hosts_with_conditional_change"] if check
                     else operation["success"] + operation["error"])
            for host in hosts:
                found.setdefault(host, []).append(operation["name"])
        return found

    def timed(self, fleet: Fleet) -> Outcome:
        return self._run(fleet, "--dry")


class Ansible(Tool):
    """`ansible-playbook --check`, forks=N, pipelining, ControlPersist (the work folder's ansible.cfg).
    Each run gets a fresh ControlPath folder and its masters are closed after it, so no run rides
    on the connections of the one before (a nightly check starts cold too)."""
    name, label = "ansible", "ansible-playbook --check"
    command = "ansible-playbook -i INVENTORY drift20.yaml --check (forks=N, pipelining, ControlPersist)"
    TASK = re.compile(r"^TASK \[(.*)\] \**$")
    CHANGED = re.compile(r"^changed: \[([^\]]+)\]")
    RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)")

    def __init__(self, venv: str):
        self.binary = os.path.join(venv, "bin", "ansible-playbook")
        self.runs = 0

    def _run(self, fleet: Fleet, *arguments: str) -> Outcome:
        self.runs += 1
        control = os.path.join(fleet.work, f".ansible-cp{self.runs}")
        env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(fleet.work, "ansible.cfg"),
               "ANSIBLE_HOME": os.path.join(fleet.work, ".ansible"), "ANSIBLE_SSH_CONTROL_PATH_DIR": control,
               "ANSIBLE_NOCOLOR": "1"}
        try:
            outcome = run([self.binary, "-i", fleet.inventory, "drift20.yaml", *arguments], fleet.work, env)
        finally:
            close_masters(control)
        return expect(outcome, "`ansible-playbook " + " ".join(arguments) + "`")

    def converge(self, fleet: Fleet) -> None:
        self._run(fleet)

    def changes(self, fleet: Fleet, check: bool) -> dict[str, list[str]]:
        outcome = self._run(fleet, *(["--check"] if check else []))
        found: dict[str, list[str]] = {}
        task = "?"
        for line in outcome.output.splitlines():
            if header := self.TASK.match(line):
                task = header.group(1)
            elif changed := self.CHANGED.match(line):
                found.setdefault(changed.group(1), []).append(task)
            elif (recap := self.RECAP.match(line)) and int(recap.group(2)) != len(found.get(recap.group(1), [])):
                raise BenchFailed(f"ansible: the recap says changed={recap.group(2)} on {recap.group(1)}, "
                                  f"its task lines {found.get(recap.group(1), [])}")
        return found

    def timed(self, fleet: Fleet) -> Outcome:
        return self._run(fleet, "--check")


def close_masters(control: str) -> None:
    """Stop the ssh ControlPersist masters a run left (they outlive ansible by design)."""
    if not os.path.isdir(control):
        return
    for socket in os.listdir(control):
        subprocess.run(["ssh", "-o", f"ControlPath={os.path.join(control, socket)}", "-O", "exit", "unused"],
                       capture_output=True)


class Floor(Tool):
    """The SSH floor: one `ssh -F <sandbox ssh_config> HOST true` per host, all at once."""
    name, label = "floor", "SSH floor"
    checks = False
    command = "ssh -F SSH_CONFIG HOST true, one per host, all at once (at most --forks-cap at once)"

    def timed(self, fleet: Fleet) -> Outcome:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = ssh_floor(fleet.ssh_config, fleet.hosts, self.forks(fleet))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Outcome(seconds, cpu, 0, 0, "", "")


def make_tools(names: list[str], venv: str | None) -> list[Tool]:
    known = {"provision": Provision, "provision-check": ProvisionCheck, "pyinfra": Pyinfra,
             "ansible": Ansible, "floor": Floor}
    return [known[name](venv) if name in ("pyinfra", "ansible") else known[name]() for name in names]


TOOL_NAMES = ("provision", "provision-check", "pyinfra", "ansible", "floor")
