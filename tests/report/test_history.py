"""The run store: what a run writes comes back, drift episodes open and close, figures trend."""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
from rich.console import Console

from provision.cli import build_parser, handler_of
from provision.commands.history import parse_since
from provision.errors import InputError
from provision.history import HistoryError, HistoryEvents, HistoryStore, gpu_figures, tflops_drops
from provision.runner.events import Collect
from provision.runner.results import NO_LOG_TEXT
from tests.report.builders import gpu_result, report, result


def record_run(store: HistoryStore, results, command="apply", check=False, exit_code=None) -> int:
    run_id = store.begin_run(command, "inventories/lab.yaml", "playbooks/site.yaml", check)
    events = HistoryEvents(store, run_id, Collect())
    for item in results:
        events.task_result(item)
    run = report(results, command, check)
    events.run_end(run)
    store.finish_run(run_id, run, exit_code)
    return run_id


def test_round_trip_keeps_every_field(tmp_path):
    path = str(tmp_path / "nested" / "history.sqlite")
    diff = "--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n"
    results = [result("gpu01", "docker : daemon.json", "changed", diff=diff, msg="written", line=7),
               result("gpu01", "ping", "ok", file="playbooks/site.yaml", line=3),
               result("gpu02", "docker : daemon.json", "failed", msg="permission denied"),
               result("gpu02", "secret", "changed", msg="token=abc", diff="+token=abc", no_log=True)]
    with HistoryStore(path) as store:
        run_id = record_run(store, results)
    with HistoryStore(path) as store:
        run = store.run(run_id)
        assert (run.command, run.inventory, run.playbook, run.status, run.exit_code, run.check) == (
            "apply", "inventories/lab.yaml", "playbooks/site.yaml", "complete", 2, False)
        assert run.finished >= run.started
        assert (run.hosts, run.changed, run.failed, run.drift) == (2, 2, 1, 0)
        stored = store.results(run_id)
        assert [(item.host, item.task, item.status) for item in stored] == [
            (item.host, item.task, item.status) for item in results]
        first = stored[0]
        assert (first.file, first.line, first.diff, first.msg, first.changed, first.drift, first.play) == (
            "roles/docker/tasks/main.yaml", 7, diff, "written", True, False, "site")
        assert first.duration == pytest.approx(0.25)
        hidden = stored[3]
        assert (hidden.msg, hidden.diff) == (NO_LOG_TEXT, None)  # no_log data never reaches the disk
        assert [item.task for item in store.results(run_id, host="gpu02")] == ["docker : daemon.json", "secret"]
    with open(path, "rb") as handle:
        assert b"token=abc" not in handle.read()


def test_events_forward_to_the_inner_listener_and_finish_writes_a_report_never_streamed(tmp_path):
    with HistoryStore(str(tmp_path / "h.sqlite")) as store:
        inner = Collect()
        run_id = store.begin_run("apply")
        events = HistoryEvents(store, run_id, inner)
        events.play_start("site", ["gpu01"])
        events.task_start("gpu01", "ping")
        events.task_result(result("gpu01", "ping"))
        events.note("batch 1 done")
        assert inner.started == [("gpu01", "ping")] and inner.notes == ["batch 1 done"]
        assert [item.task for item in inner.results] == ["ping"]
        # verify builds its report after the fact: finish_run writes its results itself
        other = store.begin_run("verify")
        store.finish_run(other, report([result("gpu01", "verify : nvidia loaded", "failed")], "verify"), 2)
        assert [item.status for item in store.results(other)] == ["failed"]
        assert store.run(other).exit_code == 2
        # an interrupted run says so
        stopped = store.begin_run("apply")
        store.finish_run(stopped, report([], interrupted=True), 130)
        assert (store.run(stopped).status, store.run(stopped).exit_code) == ("interrupted", 130)


def test_results_from_many_host_threads_are_all_written(tmp_path):
    with HistoryStore(str(tmp_path / "h.sqlite")) as store:
        run_id = store.begin_run("apply")
        events = HistoryEvents(store, run_id, Collect())

        def host(name):
            for index in range(50):
                events.task_result(result(name, f"task {index}"))

        threads = [threading.Thread(target=host, args=(f"gpu{number:02}",)) for number in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.results(run_id)) == 16 * 50
        assert not events.write_failed


def test_a_failed_write_is_a_note_not_a_crash(tmp_path):
    store = HistoryStore(str(tmp_path / "h.sqlite"))
    inner = Collect()
    events = HistoryEvents(store, store.begin_run("apply"), inner)
    store.connection.close()  # the file went away under us, in effect
    events.task_result(result("gpu01", "ping"))
    events.task_result(result("gpu01", "pong"))
    assert len(inner.results) == 2
    events.host_end("gpu01", "done")  # the host's batch is written now, and fails
    events.task_result(result("gpu02", "ping"))
    events.host_end("gpu02", "done")
    assert inner.ended == [("gpu01", "done"), ("gpu02", "done")]
    assert len(inner.notes) == 1 and "cannot record" in inner.notes[0]
    store.close()  # says nothing more: the failure was said


def test_store_is_in_wal_mode_and_refuses_a_newer_schema(tmp_path):
    path = str(tmp_path / "h.sqlite")
    HistoryStore(path).close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.execute("PRAGMA user_version=99")
    connection.close()
    with pytest.raises(HistoryError, match="newer provision"):
        HistoryStore(path)


def test_default_path_is_under_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with HistoryStore() as store:
        store.begin_run("apply")
    assert os.path.isfile(tmp_path / ".provision" / "history.sqlite")


def test_a_running_run_of_a_live_process_is_left_alone_a_dead_one_is_incomplete(tmp_path):
    path = str(tmp_path / "h.sqlite")
    with HistoryStore(path) as store:
        mine = store.begin_run("apply")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with HistoryStore(path) as store:
            alive = store.begin_run("apply")
            store.connection.execute("UPDATE runs SET pid = ?, pid_started = '' WHERE id = ?", (sleeper.pid, alive))
            gone = store.begin_run("apply")
            store.record(gone, result("gpu01", "ping"))
            # a pid reused by another process is not our run: the start time differs
            store.connection.execute("UPDATE runs SET pid = ?, pid_started = '1' WHERE id = ?", (os.getpid(), gone))
        with HistoryStore(path) as store:
            states = {run.id: run.status for run in store.runs()}
            assert states == {mine: "running", alive: "running", gone: "incomplete"}
            assert store.run(gone).finished is not None
    finally:
        sleeper.kill()
        sleeper.wait()
    with HistoryStore(path) as store:
        assert store.run(alive).status == "incomplete"


def test_drift_appears_and_disappears(tmp_path):
    daemon, ntp = "docker : daemon.json", "chrony : chrony.conf"
    with HistoryStore(str(tmp_path / "h.sqlite")) as store:
        both_ok = [result("gpu01", daemon, check=True), result("gpu02", ntp, check=True)]
        clean = record_run(store, both_ok, "check", True)
        seen = record_run(store, [result("gpu01", daemon, "changed", check=True, diff="-a\n+b"),
                                  result("gpu02", ntp, check=True)], "check", True, exit_code=3)
        # a run limited to gpu02 knows nothing of gpu01: the drift stays open
        limited = record_run(store, [result("gpu02", ntp, check=True)], "check", True)
        still = record_run(store, [result("gpu01", daemon, "changed", check=True, diff="-a\n+c"),
                                   result("gpu02", ntp, "changed", check=True, msg="would restart")],
                           "check", True, exit_code=3)
        fixed = record_run(store, [result("gpu01", daemon, "changed"), result("gpu02", ntp, "changed")], "apply")
        after = record_run(store, both_ok, "check", True)
        assert [run.drift for run in store.runs()] == [0, 1, 0, 2, 0, 0]
        assert [run.changed for run in store.runs()] == [0, 0, 0, 0, 2, 0]

        spans = store.drift_timeline("gpu01")
        assert len(spans) == 1
        span = spans[0]
        assert (span.host, span.task, span.appeared_run, span.last_seen_run, span.disappeared_run) == (
            "gpu01", daemon, seen, still, fixed)
        assert span.diff == "-a\n+c"  # the latest view of what drifted
        assert [(item.host, item.appeared_run, item.disappeared_run) for item in store.drift_timeline()] == [
            ("gpu01", seen, fixed), ("gpu02", still, fixed)]
        assert clean < limited < after

        # drift again after the fix opens a new episode, still open at the end
        again = record_run(store, [result("gpu01", daemon, "changed", check=True)], "check", True, exit_code=3)
        spans = store.drift_timeline("gpu01")
        assert [(item.appeared_run, item.disappeared_run) for item in spans] == [(seen, fixed), (again, None)]


def test_gpu_figures_are_read_tolerantly_and_trend_flags_a_drop(tmp_path):
    assert gpu_figures(result("gpu01", "x", module="gpu_verify")) is None
    assert gpu_figures(result("gpu01", "x", module="gpu_verify", output={"report": {"checks": "?"}})) is None
    assert gpu_figures(gpu_result("gpu01", None, None, None)) == (True, None, None, None)
    assert gpu_figures(gpu_result("gpu01", 700.0, failed=True)) == (False, 700.0, 25.0, 180.0)
    with HistoryStore(str(tmp_path / "h.sqlite")) as store:
        for value in (700.0, 705.0, 698.0, 520.0):
            record_run(store, [gpu_result("gpu01", value), gpu_result("gpu02", 650.0, busbw=None),
                               result("gpu01", "ping")])
        trend = store.trend("gpu01")
        assert [figure.bf16_tflops for figure in trend] == [700.0, 705.0, 698.0, 520.0]
        assert [figure.h2d_gbps for figure in trend] == [25.0] * 4
        assert store.trend("gpu02")[0].allreduce_busbw_gbps is None
        drops = tflops_drops(store.trend())
        assert list(drops) == [(trend[-1].run_id, "gpu01")]
        assert drops[(trend[-1].run_id, "gpu01")] == pytest.approx(520.0 / 700.0)
        assert len(store.figures(trend[0].run_id)) == 2


def _cli(*words: str) -> tuple[int, str]:
    args = build_parser().parse_args(list(words))
    console = Console(record=True, width=200, force_terminal=False)
    code = handler_of(args.handler)(args, console)
    return code, console.export_text()


def test_history_command_shows_runs_drift_and_trend(tmp_path):
    path = str(tmp_path / "h.sqlite")
    with HistoryStore(path) as store:
        record_run(store, [result("gpu01", "docker : daemon.json", "changed", check=True, msg="would write")],
                   "check", True, exit_code=3)
        record_run(store, [result("gpu01", "docker : daemon.json", "changed")])
        for value in (700.0, 702.0, 500.0):
            record_run(store, [gpu_result("gpu01", value)], "verify")
    code, text = _cli("history", "--state-db", path)
    assert code == 0
    assert "check" in text and "verify" in text and "complete" in text
    assert "gpu01" in text and "docker : daemon.json" in text and "would write" in text
    assert "run 1" in text and "run 2 apply" in text
    code, text = _cli("history", "--state-db", path, "--trend", "--since", "7d")
    assert "700.0" in text and "500.0" in text and "TFLOPS DROP" in text
    code, text = _cli("history", "--state-db", path, "--host", "gpu02")
    assert "no runs match" in text and "no drift recorded" in text
    code, text = _cli("history", "--state-db", str(tmp_path / "none.sqlite"))
    assert code == 0 and "no history yet" in text
    assert not os.path.exists(tmp_path / "none.sqlite")


def test_report_command_writes_the_page(tmp_path):
    path = str(tmp_path / "h.sqlite")
    with HistoryStore(path) as store:
        first = record_run(store, [result("gpu01", "docker : daemon.json", "ok")])
        record_run(store, [result("gpu01", "docker : daemon.json", "failed", msg="broken <here>")])
    code, text = _cli("report", "--state-db", path, "-o", str(tmp_path / "out" / "latest.html"))
    page = (tmp_path / "out" / "latest.html").read_text()
    assert code == 0 and "broken &lt;here&gt;" in page
    _cli("report", "--state-db", path, "--run", str(first), "-o", str(tmp_path / "first.html"))
    assert "s-ok" in (tmp_path / "first.html").read_text()
    with pytest.raises(InputError, match="no run 99"):
        _cli("report", "--state-db", path, "--run", "99", "-o", str(tmp_path / "x.html"))


@pytest.mark.parametrize("text, seconds", [("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 1209600),
                                           ("90", 90), ("1.5h", 5400)])
def test_since_durations(text, seconds):
    assert parse_since(text) == seconds


def test_since_rejects_nonsense():
    with pytest.raises(InputError, match="--since"):
        parse_since("soon")


def test_history_says_why_figures_are_empty_and_shows_paths_as_typed(tmp_path, monkeypatch):
    """A CPU-mode verification (the sandbox) records no figures: the trend says why. Inventory and
    playbook are shown alike, relative to the current folder, never cut."""
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "h.sqlite")
    with HistoryStore(path) as store:
        run_id = store.begin_run("apply", str(tmp_path / "inventories" / "lab.yaml"),
                                 str(tmp_path / "playbooks" / "a-rather-long-playbook-name.yaml"))
        cpu = gpu_result("gpu01", None, h2d=None, busbw=None)
        store.record(run_id, cpu)
        store.finish_run(run_id, report([cpu], "apply"))
    code, text = _cli("history", "--trend", "--state-db", path)
    assert code == 0 and "1 run(s) without figures: the verification ran in CPU mode" in " ".join(text.split())
    code, text = _cli("history", "--state-db", path)
    assert "inventories/lab.yaml" in text and str(tmp_path) not in text
    assert "playbooks/a-rather-long-playbook-name.yaml" in "".join(text.split())
