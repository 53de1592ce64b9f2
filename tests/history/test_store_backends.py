"""The same history on SQLite and on a real PostgreSQL server: the same input gives the same runs,
results, GPU figures, drift episodes and fleet runs; writes go in batches on both; a run whose
process is gone is marked incomplete, on this machine by pid and from anywhere by its heartbeat."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from provision.history import HistoryEvents, HistoryStore
from provision.history.fleet import combined_exit_code
from provision.history.store import STALE_AFTER
from provision.runner.events import Collect
from provision.runner.results import NO_LOG_TEXT
from tests.report.builders import gpu_result, report, result

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON, NTP = "docker : daemon.json", "chrony : chrony.conf"


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return request.getfixturevalue("postgres_url")


def record_run(store: HistoryStore, results, command="apply", check=False, exit_code=None, run_group=None,
               host_slice=None, interrupted=False) -> int:
    run_id = store.begin_run(command, "inventories/lab.yaml", "playbooks/site.yaml", check, run_group, host_slice)
    events = HistoryEvents(store, run_id, Collect())
    for item in results:
        events.task_result(item)
        events.host_end(item.host, "done")
    store.finish_run(run_id, report(results, command, check, interrupted=interrupted), exit_code)
    return run_id


def populate(store: HistoryStore) -> None:
    """A week of a small fleet: an apply, drift seen and fixed, GPU figures, a fleet run of two
    slices whose second slice ran twice (the first attempt interrupted)."""
    diff = "--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n"
    record_run(store, [result("gpu01", DAEMON, "changed", diff=diff, msg="written", line=7),
                       result("gpu01", "ping", "ok", file="playbooks/site.yaml", line=3),
                       result("gpu02", DAEMON, "failed", msg="permission denied"),
                       result("gpu02", "secret", "changed", msg="token=abc", diff="+token=abc", no_log=True),
                       result("gpu02", "handler : restart", "changed", handler=True),
                       result("gpu02", "optional", "failed", ignored=True)])
    record_run(store, [result("gpu01", DAEMON, "changed", check=True, diff="-a\n+b"),
                       result("gpu02", NTP, "ok", check=True), gpu_result("gpu01", 700.0)], "check", True, 3)
    record_run(store, [result("gpu01", DAEMON, "changed", check=True, diff="-a\n+c"), gpu_result("gpu01", 520.0),
                       gpu_result("gpu02", None, h2d=None, busbw=None)],
               "check", True, 3, run_group="nightly", host_slice=(1, 2))
    record_run(store, [result("gpu02", NTP, "changed", check=True, msg="would restart")], "check", True, 130,
               run_group="nightly", host_slice=(2, 2), interrupted=True)
    record_run(store, [result("gpu02", NTP, "changed", check=True, msg="would restart"),
                       result("gpu02", "ping", "skipped", check=True)],
               "check", True, 3, run_group="nightly", host_slice=(2, 2))
    record_run(store, [result("gpu01", DAEMON, "changed"), result("gpu02", NTP, "changed")], "apply")
    record_run(store, [result("gpu01", DAEMON, check=True), result("gpu02", NTP, check=True)], "check", True, 0)


def snapshot(store: HistoryStore) -> dict:
    """Everything the store answers, with run ids as positions and no timestamps: comparable."""
    runs = store.runs()
    position = {run.id: index for index, run in enumerate(runs)}

    def run_row(run):
        return (run.command, run.inventory, run.playbook, run.status, run.exit_code, run.check, run.hosts,
                run.changed, run.failed, run.drift, run.run_group, run.slice_label)

    fleet = store.fleet("nightly")
    return {
        "runs": [run_row(run) for run in runs],
        "runs of gpu02": [run_row(run) for run in store.runs(host="gpu02")],
        "recent runs": len(store.runs(since_seconds=3600)),
        "results": [[(item.host, item.play, item.task, item.file, item.line, item.module, item.status, item.changed,
                      item.drift, item.ignored, item.handler, item.diff, item.msg, item.duration)
                     for item in store.results(run.id)] for run in runs],
        "results of gpu02": [item.task for item in store.results(runs[0].id, host="gpu02")],
        "figures": [[(figure.host, figure.passed, figure.bf16_tflops, figure.h2d_gbps, figure.allreduce_busbw_gbps)
                     for figure in store.figures(run.id)] for run in runs],
        "trend": [(figure.host, position[figure.run_id], figure.bf16_tflops) for figure in store.trend()],
        "trend of gpu02": len(store.trend("gpu02", since_seconds=3600)),
        "drift": [(span.host, span.task, position[span.appeared_run], position[span.last_seen_run],
                   None if span.disappeared_run is None else position[span.disappeared_run], span.msg, span.diff)
                  for span in store.drift_timeline()],
        "fleet": (fleet.slice_label, fleet.status, fleet.exit_code, fleet.hosts, fleet.changed, fleet.drift,
                  fleet.failed, fleet.check, [position[run.id] for run in fleet.runs],
                  [position[run.id] for run in fleet.superseded]),
        "fleet for gpu01": (store.fleet("nightly", "gpu01").hosts, store.fleet("nightly", "gpu01").drift),
        "timeline": [entry.id if isinstance(entry.id, str) else position[entry.id] for entry in store.timeline()],
        "no such group": store.fleet("weekly"),
    }


def test_postgresql_answers_exactly_as_sqlite_for_the_same_input(tmp_path, postgres_url):
    stores = {}
    for name, location in (("sqlite", str(tmp_path / "history.sqlite")), ("postgresql", postgres_url)):
        with HistoryStore(location) as store:
            populate(store)
        with HistoryStore(location) as store:  # read back by a new connection
            stores[name] = snapshot(store)
    assert stores["postgresql"] == stores["sqlite"]
    seen = stores["postgresql"]  # and it is what was written, not two equal mistakes
    assert [row[3:6] for row in seen["runs"]] == [("complete", 2, False), ("complete", 3, True),
                                                  ("complete", 3, True), ("interrupted", 130, True),
                                                  ("complete", 3, True), ("complete", 0, False),
                                                  ("complete", 0, True)]
    assert seen["runs"][0][6:10] == (2, 3, 1, 0)  # hosts, changed (the handler too), failed (not ignored), drift
    assert seen["results"][0][3][11:13] == (None, NO_LOG_TEXT) and "token=abc" not in str(seen["results"])
    assert seen["fleet"] == ("2/2", "complete", 3, 2, 0, 2, 0, True, [2, 4], [3])
    assert seen["timeline"] == [0, 1, "nightly", 5, 6]
    assert seen["trend"] == [("gpu01", 1, 700.0), ("gpu01", 2, 520.0), ("gpu02", 2, None)]
    assert [(span[0], span[2], span[4]) for span in seen["drift"]] == [("gpu01", 1, 5), ("gpu02", 3, 5)]
    assert seen["fleet for gpu01"] == (1, 1)


def test_results_are_written_in_batches_not_one_transaction_each(location):
    """50 hosts x 20 tasks: one transaction per host's end, not 1,000."""
    with HistoryStore(location) as store:
        run_id = store.begin_run("check", check=True)
        events = HistoryEvents(store, run_id, Collect())
        before = store.transactions

        def host(name):
            for index in range(20):
                events.task_result(result(name, f"task {index}", "changed", check=True))
            events.host_end(name, "done")

        threads = [threading.Thread(target=host, args=(f"gpu{number:02}",)) for number in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        written = store.transactions - before
        store.finish_run(run_id, report([], "check", True), 3)
        assert written <= 50 + 10  # a host's end each, plus what the background flush took first
        run = store.run(run_id)
        assert (run.hosts, run.drift) == (50, 1000)
        assert not events.write_failed


def test_a_result_reaches_the_database_within_the_flush_interval_without_a_host_end(location):
    """A long task on a host must not keep its earlier results out of the history: a process
    killed then keeps them. Another connection (as after a crash) sees them within ~0.5 s."""
    with HistoryStore(location) as writer, HistoryStore(location) as reader:
        run_id = writer.begin_run("apply")
        writer.record(run_id, result("gpu01", "pull the image", "changed"))
        deadline = time.time() + 5
        while not reader.results(run_id) and time.time() < deadline:
            time.sleep(0.05)
        assert [item.task for item in reader.results(run_id)] == ["pull the image"]
        assert time.time() < deadline - 3.5  # well within 1.5 s of being queued


def test_a_run_of_another_machine_is_incomplete_once_its_heartbeat_is_stale(location):
    with HistoryStore(location) as store:
        silent, beating = store.begin_run("check", check=True), store.begin_run("check", check=True)
        now = time.time()
        for run_id, beat in ((silent, now - STALE_AFTER - 60), (beating, now - 20)):
            store._write("UPDATE runs SET machine = 'bastion-b', started = ?, heartbeat = ? WHERE id = ?",
                         (beat - 100, beat, run_id))
    with HistoryStore(location) as store:
        assert (store.run(silent).status, store.run(beating).status) == ("incomplete", "running")
        assert store.run(silent).finished == pytest.approx(now - STALE_AFTER - 60, abs=1)  # its last sign of life


V1_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, inventory TEXT NOT NULL DEFAULT '',
    playbook TEXT NOT NULL DEFAULT '', started REAL NOT NULL, finished REAL, status TEXT NOT NULL, exit_code INTEGER,
    check_mode INTEGER NOT NULL DEFAULT 0, pid INTEGER NOT NULL, pid_started TEXT NOT NULL DEFAULT '',
    machine TEXT NOT NULL DEFAULT '');
CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, recorded REAL NOT NULL,
    host TEXT NOT NULL, play TEXT NOT NULL DEFAULT '', task TEXT NOT NULL, file TEXT NOT NULL DEFAULT '',
    line INTEGER NOT NULL DEFAULT 0, module TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    changed INTEGER NOT NULL DEFAULT 0, drift INTEGER NOT NULL DEFAULT 0, ignored INTEGER NOT NULL DEFAULT 0,
    handler INTEGER NOT NULL DEFAULT 0, diff TEXT, msg TEXT NOT NULL DEFAULT '', duration REAL NOT NULL DEFAULT 0);
CREATE TABLE gpu_verify (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, recorded REAL NOT NULL,
    host TEXT NOT NULL, passed INTEGER, bf16_tflops REAL, h2d_gbps REAL, allreduce_busbw_gbps REAL);
INSERT INTO runs VALUES (1, 'check', 'inv.yaml', 'site.yaml', 100.0, 110.0, 'complete', 3, 1, 1, '', 'old');
INSERT INTO results VALUES (1, 1, 105.0, 'gpu01', 'site', 'docker : daemon.json', 'roles/docker/tasks/main.yaml',
    3, 'copy', 'changed', 1, 1, 0, 0, '-a', '', 0.5);
PRAGMA user_version=1;
"""


def test_a_version_1_file_is_migrated_in_place(tmp_path):
    path = str(tmp_path / "old.sqlite")
    connection = sqlite3.connect(path)
    connection.executescript(V1_SCHEMA)
    connection.close()
    with HistoryStore(path) as store:
        old = store.run(1)
        assert (old.command, old.drift, old.run_group, old.slice_label) == ("check", 1, "", "")
        new = record_run(store, [result("gpu01", DAEMON, "changed")], "apply", run_group="g", host_slice=(1, 1))
        assert store.fleet("g").slice_label == "1/1" and store.run(new).run_group == "g"
        assert [(span.appeared_run, span.disappeared_run) for span in store.drift_timeline()] == [(1, new)]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


@pytest.mark.parametrize("codes, command, expected", [
    ([0, 0, 0], "apply", 0), ([2, 4, 0], "apply", 6), ([3, 0, 4], "check", 4), ([3, 2, 4], "check", 2),
    ([3, 0], "check", 3), ([0, 130], "check", 130), ([0, None], "apply", None)])
def test_a_fleet_exits_as_one_unsliced_run_would(codes, command, expected):
    assert combined_exit_code(codes, command) == expected


WRITER = r"""
import sys, threading
from provision.history import HistoryEvents, HistoryStore
from provision.runner.events import Collect
from tests.report.builders import result

store = HistoryStore(sys.argv[1])
run_id = store.begin_run("apply", "inventories/lab.yaml", "playbooks/site.yaml", False, "g", (1, 2))
events = HistoryEvents(store, run_id, Collect())
print(f"run {run_id}", flush=True)
lock = threading.Lock()

def host(name):
    index = 0
    while True:  # until killed
        events.task_result(result(name, f"task {index}", "changed", diff="-a\n+b" * 20))
        if index % 10 == 9:
            events.host_end(name, "done")  # this host's batch committed
            with lock:
                print(f"written {name} {index}", flush=True)
        index += 1

for number in range(4):
    threading.Thread(target=host, args=(f"gpu{number:02}",), daemon=True).start()
threading.Event().wait()
"""


def test_sigkill_on_postgresql_keeps_committed_batches_and_marks_the_run_incomplete(postgres_url):
    environment = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, postgres_url], cwd=ROOT, env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged: set[tuple[str, str]] = set()
    try:
        run_id = int(writer.stdout.readline().split()[1])
        while len(acknowledged) < 200:
            line = writer.stdout.readline()
            assert line, f"writer ended early: {writer.stderr.read()}"
            _, host, last = line.split()
            acknowledged |= {(host, f"task {index}") for index in range(int(last) + 1)}
        writer.send_signal(signal.SIGKILL)  # while the other threads queue and write
    finally:
        writer.kill()
        writer.wait()
    with HistoryStore(postgres_url) as store:  # the server rolled back whatever was half-way
        killed = store.run(run_id)
        assert (killed.status, killed.exit_code) == ("incomplete", None)
        stored = store.results(run_id)
        assert acknowledged <= {(item.host, item.task) for item in stored}
        assert all(item.diff == "-a\n+b" * 20 for item in stored)
        assert store.fleet("g").status == "partial"  # slice 2 never reported
