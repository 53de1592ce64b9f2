"""A fleet run: the runs sharing one run group (`--run-group`), seen as one run of the whole fleet.

Slices of one fleet run (`--slice K/N`) run as separate processes, on one machine or several
(cron on two bastions, CI matrix jobs, a Kubernetes Indexed Job), and each records itself as a run
of its own with its group and slice. Here they are folded back into one: the hosts and counts of
all slices, and whether every slice has reported.

The easy thing to get wrong is a slice that ran twice (a Job's pod retried, a CI job re-run): only
the latest run of each slice counts, the earlier attempt is superseded, or its hosts would be
counted twice. Runs of a group without --slice (say two bastions with their own --limit) all count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from provision.history.records import Run

FINISHED = ("complete", "interrupted", "incomplete")


@dataclass
class FleetRun:
    """Looks like a Run to the tables and the HTML report (id, command, status, counts...); its id
    is the run group's name."""

    run_group: str
    runs: list[Run]  # what counts: the latest run of each slice, oldest first
    superseded: list[Run]
    slice_count: int  # N; 0 when the group's runs were not sliced
    slices_missing: list[int]
    slices_running: list[int]
    command: str
    inventory: str
    playbook: str
    started: float
    finished: float | None
    status: str
    exit_code: int | None
    check: bool
    hosts: int = 0
    changed: int = 0
    failed: int = 0
    drift: int = 0
    slice_counts: list[int] = field(default_factory=list)  # more than one: the slices disagree on N

    @property
    def id(self) -> str:
        return self.run_group

    @property
    def slices_reported(self) -> int:
        return len({run.slice_number for run in self.runs if run.slice_count and run.status in FINISHED})

    @property
    def slice_label(self) -> str:
        """"4/4" when every slice reported; else what is missing or still running."""
        if not self.slice_count:
            return f"{len(self.runs)} runs"
        text = f"{self.slices_reported}/{self.slice_count}"
        if len(self.slice_counts) > 1:
            text += f", slices disagree on N: {', '.join(map(str, self.slice_counts))}"
        if self.slices_missing:
            text += f", missing {_numbers(self.slices_missing)}"
        if self.slices_running:
            text += f", running {_numbers(self.slices_running)}"
        return text


def counted_runs(members: list[Run]) -> list[Run]:
    """The latest run of each slice (members come oldest first), and every unsliced run."""
    latest: dict[int, Run] = {}
    unsliced: list[Run] = []
    for run in members:
        if run.slice_count:
            latest[run.slice_number] = run
        else:
            unsliced.append(run)
    return sorted(unsliced + list(latest.values()), key=lambda run: (run.started, run.id))


def build_fleet(run_group: str, members: list[Run], scoped: dict[int, Run], hosts: int) -> FleetRun:
    """The fleet run of `members` (all the group's runs, oldest first). `scoped` holds the counted
    runs' counts by id (only one host's, for `history --host`; a run missing there counts 0);
    `hosts` is the number of distinct hosts their results name."""
    counted = counted_runs(members)
    counted_ids = {run.id for run in counted}
    counts = sorted({run.slice_count for run in counted if run.slice_count})
    slice_count = max(counts, default=0)
    present = {run.slice_number for run in counted if run.slice_count}
    running = sorted(run.slice_number for run in counted if run.slice_count and run.status == "running")
    finished = [run.finished for run in counted]
    return FleetRun(
        run_group=run_group, runs=counted, superseded=[run for run in members if run.id not in counted_ids],
        slice_count=slice_count, slice_counts=counts,
        slices_missing=[number for number in range(1, slice_count + 1) if number not in present],
        slices_running=running,
        command="+".join(_distinct(run.command for run in counted)),
        inventory=", ".join(_distinct(run.inventory for run in counted)),
        playbook=", ".join(_distinct(run.playbook for run in counted)),
        started=min(run.started for run in counted),
        finished=None if any(value is None for value in finished) else max(finished),
        status=fleet_status(counted, bool(slice_count) and len(present) < slice_count),
        exit_code=combined_exit_code([run.exit_code for run in counted], counted[0].command),
        check=all(run.check for run in counted),
        hosts=hosts,
        changed=sum(scoped[run.id].changed for run in counted if run.id in scoped),
        failed=sum(scoped[run.id].failed for run in counted if run.id in scoped),
        drift=sum(scoped[run.id].drift for run in counted if run.id in scoped))


def fleet_status(counted: list[Run], missing: bool) -> str:
    """running while a slice runs; "partial" while a slice has not reported at all; else the
    worst of its runs' states."""
    states = {run.status for run in counted}
    if "running" in states:
        return "running"
    if missing:
        return "partial"
    for state in ("incomplete", "interrupted"):
        if state in states:
            return state
    return "complete"


def combined_exit_code(codes: list[int | None], command: str) -> int | None:
    """What one unsliced run would have exited with: apply and verify OR their bits (2 failed,
    4 unreachable: 6 both); check takes 2, then 4, then 3 (drift), as its own exit code does.
    None while a slice has no exit code yet; 130 if any was interrupted, 1 if any had bad input."""
    if not codes or any(code is None for code in codes):
        return None
    known = set(codes)
    for special in (130, 1):
        if special in known:
            return special
    if command == "check":
        return next((code for code in (2, 4, 3) if code in known), max(known))
    combined = 0
    for code in known:
        combined |= code
    return combined


def _distinct(values) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _numbers(values: list[int]) -> str:
    return ", ".join(map(str, values))
