"""Issue 13's slice test: 4 slices in 4 processes over one PostgreSQL history are one fleet run
whose report is, in content, the report of a single unsliced run of the same fleet.

The four `provision check --slice K/4 --run-group G` run at once, as a Kubernetes Indexed Job's
pods or CI matrix jobs would, each with its own connection to the same (new, empty) database, so
the schema is created under contention too. Check mode changes nothing, so the unsliced run that
follows sees the fleet exactly as the slices did, and the two reports must agree host by host
and task by task (timings and ids aside).
"""
from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from provision.cli import main
from provision.history import HistoryStore
from tests.engine.scenario import PROVISION, dump_inventory, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

HOSTS = ["host01", "host02", "host03", "host04"]
PLAYBOOK = """
- name: a small fleet check
  hosts: lab
  gather_facts: false
  tasks:
    - name: a folder that is there
      file: {path: /tmp, state: directory}
    - name: a file not there yet
      copy: {dest: "/tmp/{{ marker }}-{{ inventory_hostname }}", content: "hello {{ inventory_hostname }}\\n"}
    - name: only on host02
      copy: {dest: "/tmp/{{ marker }}-special", content: "x\\n"}
      when: inventory_hostname == 'host02'
"""


def content(results) -> list[tuple]:
    return sorted((item.host, item.play, item.task, item.file, item.line, item.module, item.status, item.changed,
                   item.drift, item.ignored, item.handler, item.diff, item.msg) for item in results)


def page_content(path) -> str:
    """The report's results: tally, heatmap and every detail panel, without durations."""
    with open(path, encoding="utf-8") as handle:
        page = handle.read()
    body = page[page.index("<p class=\"meta\">results:"):page.index("<script>")]
    return re.sub(r"\d+\.\d+s<", "s<", body)


def test_four_slices_in_four_processes_are_one_fleet_report_identical_to_a_single_run(tmp_path, sandbox,
                                                                                       postgres_url, capsys,
                                                                                       monkeypatch):
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, HOSTS))
    write(tmp_path, {"site.yaml": PLAYBOOK})
    marker = f"slices-{os.getpid()}-{time.time_ns()}"
    common = [inventory, str(tmp_path / "site.yaml"), "--no-verify", "--state-db", postgres_url,
              "-e", f"marker={marker}"]
    environment = {**os.environ, "COLUMNS": "200"}
    environment.pop("PROVISION_RUN_GROUP", None)
    slices = [subprocess.Popen([PROVISION, "check", *common, "--slice", f"{number}/4", "--run-group", "fleet-1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
              for number in range(1, 5)]
    outputs = [process.communicate(timeout=300) for process in slices]
    assert [process.returncode for process in slices] == [3] * 4, outputs  # each slice found drift
    monkeypatch.delenv("PROVISION_RUN_GROUP", raising=False)
    assert main(["check", *common]) == 3  # the same fleet unsliced, in this process (one start-up less)
    capsys.readouterr()

    with HistoryStore(postgres_url) as store:
        fleet = store.fleet("fleet-1")
        alone = next(run for run in reversed(store.runs()) if not run.run_group)
        assert sorted(run.slice_label for run in fleet.runs) == ["1/4", "2/4", "3/4", "4/4"]
        assert (fleet.slice_label, fleet.status, fleet.superseded) == ("4/4", "complete", [])
        assert [len({item.host for item in store.results(run.id)}) for run in fleet.runs] == [1, 1, 1, 1]
        fleet_results = [item for run in fleet.runs for item in store.results(run.id)]
        assert content(fleet_results) == content(store.results(alone.id))
        assert (fleet.hosts, fleet.changed, fleet.drift, fleet.failed, fleet.exit_code, fleet.check, fleet.command) \
            == (alone.hosts, alone.changed, alone.drift, alone.failed, alone.exit_code, alone.check, alone.command) \
            == (4, 0, 5, 0, 3, True, "check")

    assert main(["history", "--state-db", postgres_url]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if "fleet-1" in line)
    assert re.search(r"\b4/4\s+complete\s+3\s+4\s+0\s+5\s+0\b", row), row
    assert main(["report", "--run-group", "fleet-1", "--state-db", postgres_url,
                 "-o", str(tmp_path / "fleet.html")]) == 0
    assert main(["report", "--run", str(alone.id), "--state-db", postgres_url, "-o", str(tmp_path / "one.html")]) == 0
    capsys.readouterr()
    assert page_content(tmp_path / "fleet.html") == page_content(tmp_path / "one.html")
    assert "host04" in page_content(tmp_path / "fleet.html")
