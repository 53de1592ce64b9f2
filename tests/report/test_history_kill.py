"""A run killed with SIGKILL mid-way: earlier history intact, every batch it committed kept (none
half-written), and the run marked incomplete the next time the store is opened. The writer is a real process killed
while it writes from several host threads, so the kill lands at an arbitrary point."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from provision.history import HistoryStore
from tests.report.builders import gpu_result, report, result

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WRITER = r"""
import sys, threading
from provision.history import HistoryEvents, HistoryStore
from provision.runner.events import Collect
from tests.report.builders import result

store = HistoryStore(sys.argv[1])
run_id = store.begin_run("apply", "inventories/lab.yaml", "playbooks/site.yaml", False)
events = HistoryEvents(store, run_id, Collect())
print(f"run {run_id}", flush=True)
lock = threading.Lock()

def host(name):
    index = 0
    while True:  # until killed
        events.task_result(result(name, f"role : task {index}", "changed", diff="-a\n+b" * 20))
        if index % 10 == 9:
            events.flush()  # as at a host's end: this host's results so far are one committed batch
            with lock:  # printed only after the batch committed
                print(f"written {name} {index}", flush=True)
        index += 1

for number in range(8):
    threading.Thread(target=host, args=(f"gpu{number:02}",), daemon=True).start()
threading.Event().wait()
"""


def test_sigkill_mid_run_keeps_earlier_runs_and_written_results(tmp_path):
    path = str(tmp_path / "history.sqlite")
    with HistoryStore(path) as store:
        earlier = []
        for command in ("apply", "check"):
            run_id = store.begin_run(command, "inventories/lab.yaml", "playbooks/site.yaml", command == "check")
            results = [result("gpu01", "docker : daemon.json", "changed", check=command == "check"),
                       gpu_result("gpu01", 700.0)]
            for item in results:
                store.record(run_id, item)
            store.finish_run(run_id, report(results, command, command == "check"), 3 if command == "check" else 0)
            earlier.append(run_id)

    environment = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path], cwd=ROOT, env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged: set[tuple[str, str]] = set()
    try:
        killed_run = int(writer.stdout.readline().split()[1])
        deadline = time.time() + 60
        while len(acknowledged) < 300 and time.time() < deadline:
            line = writer.stdout.readline()
            assert line, f"writer ended early: {writer.stderr.read()}"
            _, host, last = line.split()
            acknowledged |= {(host, f"role : task {index}") for index in range(int(last) + 1)}
        assert len(acknowledged) >= 300, "the writer was too slow"
        writer.send_signal(signal.SIGKILL)  # mid-way: the threads are writing right now
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL

    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()

    with HistoryStore(path) as store:  # opening marks the dead run
        runs = {run.id: run for run in store.runs()}
        assert [runs[run_id].status for run_id in earlier] == ["complete", "complete"]
        assert [runs[run_id].exit_code for run_id in earlier] == [0, 3]
        assert [len(store.results(run_id)) for run_id in earlier] == [2, 2]
        assert store.trend("gpu01")[0].bf16_tflops == 700.0
        assert [span.appeared_run for span in store.drift_timeline("gpu01")] == [earlier[1]]

        killed = runs[killed_run]
        assert killed.status == "incomplete" and killed.exit_code is None
        assert killed.finished is not None and killed.finished >= killed.started
        stored = {(item.host, item.task) for item in store.results(killed_run)}
        assert acknowledged <= stored  # every result the writer saw committed is there
        assert all(item.diff == "-a\n+b" * 20 for item in store.results(killed_run))  # none half-written

        # and the store still takes new runs
        new = store.begin_run("check", check=True)
        store.finish_run(new, report([result("gpu01", "docker : daemon.json", check=True)], "check", True), 0)
    with HistoryStore(path) as store:
        assert store.run(new).status == "complete"
        assert store.run(killed_run).status == "incomplete"
