"""async_status, and how a command starts in the background (`async: N` with `poll: 0`).

Ansible leaves such a task running on the host under its async_wrapper and registers a job id;
`async_status` reads the job's file later (`until: job is finished`). provision does the same
with the host's own shell, no Python there: the command runs detached (setsid, its output in
files beside the job's), bounded by N seconds, and the job file in `~/.ansible_async/JID` (the
user the task runs as) says started, then finished with the rc. The job file is JSON, as
Ansible's, and each version of it is written whole (a temporary file renamed over it), so a
reader never sees half of one. Only command and shell start in the background: every other
module does its steps from the controller, so there is nothing to leave running on the host.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import quote
from provision.transport.base import CommandResult

# the folder of the user the command runs as (with become, the become user's), as Ansible's
JOB_FOLDER = 'd="$(getent passwd "$(id -u)" | cut -d: -f6)"; d="${d:-$HOME}/.ansible_async"'
_JOB_ID = re.compile(r"[A-Za-z0-9_.-]+")
_PART = "--provision-async-part--"
_STAMP = "date '+%Y-%m-%d %H:%M:%S.%6N'"
# Runs detached: $1 the job file, $2 the limit in seconds, $3 the command's shell text.
_RUNNER = (
    'f=$1; s=$(' + _STAMP + '); timeout "$2" sh -c "$3" >"$f.stdout" 2>"$f.stderr" </dev/null; rc=$?; '
    'e=$(' + _STAMP + '); j=${f##*/}; '
    'if [ "$rc" = 124 ]; then r=\'"failed": true, "msg": "Timeout exceeded"\'; '
    'else r=\'"started": true, "rc": \'$rc\', "start": "\'$s\'", "end": "\'$e\'"\'; fi; '
    'printf \'{"ansible_job_id": "%s", "finished": true, %s}\\n\' "$j" "$r" > "$f.tmp" && mv "$f.tmp" "$f"'
)


def new_job_id() -> str:
    """Ansible's shape: j, random digits, a dot, a number (its wrapper's PID there)."""
    return f"j{secrets.randbelow(10 ** 12)}.{os.getpid()}"


def start_text(job_id: str, limit: float, command: str) -> str:
    """Shell text that writes the job file (started), starts `command` detached and bounded by
    `limit` seconds, and prints the job file's path; it returns at once."""
    started = json.dumps({"ansible_job_id": job_id, "started": True, "finished": False})
    return (f"{JOB_FOLDER}; mkdir -p \"$d\" && chmod 700 \"$d\" || exit 1; f=\"$d/{job_id}\"; "
            f"printf '%s\\n' {quote(started)} > \"$f.tmp\" && mv \"$f.tmp\" \"$f\" || exit 1; "
            f"setsid sh -c {quote(_RUNNER)} job \"$f\" {max(1, int(limit))} {quote(command)} "
            "</dev/null >/dev/null 2>&1 & echo \"$f\"")


def started_result(job_id: str, result: CommandResult) -> dict[str, Any]:
    """What the task registers once its command has started: Ansible's keys for `poll: 0`."""
    if result.rc != 0 or not result.stdout.strip():
        raise ModuleFailed(f"could not start the job: {(result.stderr or result.stdout).strip() or result.rc}")
    return {"ansible_job_id": job_id, "started": True, "finished": False,
            "results_file": result.stdout.strip().splitlines()[-1]}


class AsyncStatus(Module):
    """Reads (or, mode=cleanup, erases) the job a `poll: 0` command task started: not finished
    yet, or its rc, stdout and stderr with Ansible's keys; a job that failed fails this task."""

    name = "async_status"
    read_only = True  # it reads; it runs in check mode as normal
    opaque = True  # the job runs beside the play: never read ahead in a batch
    supports_async = False
    spec = {
        "jid": Arg("str", required=True, help="the ansible_job_id a `poll: 0` task registered"),
        "mode": Arg("str", default="status", choices=("status", "cleanup")),
    }

    def job_id(self) -> str:
        job_id = str(self.args["jid"])
        if not _JOB_ID.fullmatch(job_id):
            raise ModuleFailed(f"{job_id!r} is not a job id")
        return job_id

    def read_command(self) -> str:
        job = f"{JOB_FOLDER}; f=\"$d/{self.job_id()}\"; [ -f \"$f\" ] || {{ echo missing; exit 0; }}; echo \"$f\"; "
        if self.args["mode"] == "cleanup":
            return job  # only where it is: apply erases it
        return job + (f'cat "$f"; printf \'\\n%s\\n\' {_PART}; cat "$f.stdout" 2>/dev/null; '
                      f'printf \'\\n%s\\n\' {_PART}; cat "$f.stderr" 2>/dev/null')

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        job_id = self.job_id()
        text = result.stdout if result is not None else ""
        if result is None or result.rc != 0 or text.strip() == "missing":
            raise ModuleFailed("could not find job", {"ansible_job_id": job_id, "started": True, "finished": True})
        path, _, rest = text.partition("\n")
        if self.args["mode"] == "cleanup":
            return {"ansible_job_id": job_id, "erased": path}
        head, _, rest = rest.partition(f"\n{_PART}\n")
        stdout, _, stderr = rest.partition(f"\n{_PART}\n")
        try:
            job = json.loads(head)
        except ValueError:
            raise ModuleFailed(f"Could not parse job output: {head}", {"ansible_job_id": job_id, "started": True,
                                                                       "finished": True}) from None
        data = {**job, "results_file": path}
        if not job.get("finished"):
            return data
        stdout, stderr = stdout.rstrip("\r\n"), stderr.rstrip("\r\n")
        data.update(stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines(),
                    changed=True)
        if job.get("failed"):
            raise ModuleFailed(job.get("msg") or "the job failed", data)
        if job.get("rc"):
            data["msg"] = "non-zero return code"
            raise ModuleFailed(f"non-zero return code {job['rc']}", data)
        data["msg"] = ""
        return data

    def diff(self, current: Any) -> Any:
        if self.args["mode"] == "cleanup":
            return current["erased"]
        # a finished job that changed something: this task says so, as Ansible's passes the job's
        # `changed` through (a command job always has)
        return current if current.get("finished") and current.get("changed") else None

    def apply(self, plan: Any) -> dict[str, Any]:
        """mode=cleanup: the job's files erased (not in check mode, though this module runs there);
        a finished job's result as it is."""
        if isinstance(plan, dict):
            return plan
        data = {"ansible_job_id": self.job_id(), "erased": plan}
        if self.context.check:
            return data
        result = self.context.run(f"f={quote(plan)}; rm -f \"$f\" \"$f.stdout\" \"$f.stderr\" \"$f.tmp\"")
        if result.rc != 0:
            raise ModuleFailed(f"could not erase job {self.job_id()}: {result.stderr.strip()}")
        return data

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current
