"""A piped `provision apply` (CI, `| tee`, cron) says what a long task is doing: a plain heartbeat
line, not a live panel, while the task runs, and the usual lines around it."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.engine.scenario import PROVISION, dump_inventory, sandbox_inventory, write

pytestmark = pytest.mark.sandbox


def test_a_piped_apply_prints_a_heartbeat_naming_the_host_and_its_long_task(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": """
        - hosts: lab
          gather_facts: false
          tasks:
            - name: a long task
              command: sleep 25
    """})
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host01"]))
    run = subprocess.run([PROVISION, "apply", inventory, str(tmp_path / "site.yaml"), "-T", "10",
                          "--state-db", str(tmp_path / "history.sqlite")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    beats = [line for line in run.stdout.splitlines() if line.startswith("... host01: a long task (running ")]
    # "task 1/1" too once the history wrapper forwards the runner's positions
    assert beats and re.match(r"\.\.\. host01: a long task \(running 1\ds(, task 1/1)?\)$", beats[0]), run.stdout
    assert len(beats) == 2, "at 10 s and 20 s of a 25 s task, no more: " + run.stdout
    assert "\x1b" not in run.stdout, "piped output is plain text"
    lines = run.stdout.splitlines()
    assert lines.index(beats[-1]) < next(index for index, line in enumerate(lines)
                                         if line.startswith("changed") and "host01: a long task" in line)
