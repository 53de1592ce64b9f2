"""The HTML fleet report in a real headless Chromium (Debian's `chromium` package).

The page is loaded from file:// at `#c-ROW-COL`, which runs the same code as a click on that
cell; `--dump-dom` gives the DOM after the page's script ran. The script leaves
`#provision-ready` with the number of script errors; Chromium's log (stderr) must hold no console
message either (a CSP violation, that is an attempt to load anything, would be one).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from provision.history import HistoryEvents, HistoryStore
from provision.report.html import render_html, role_of, sparkline
from provision.runner.events import Collect
from tests.report.builders import gpu_result, report, result

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> & \"quotes\""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the HTML report test needs a headless browser: apt-get install chromium")
    return path


class Elements(HTMLParser):
    """Every element of the dumped DOM as (tag, attributes), and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def by_id(self, name: str) -> dict | None:
        return next((attrs for tag, attrs in self.elements if attrs.get("id") == name), None)


def load(page: str, tmp_path, fragment: str = "") -> tuple[Elements, str]:
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    profile = tmp_path / "profile"
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom",
               f"file://{path}{fragment}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr[-3000:]
    dom = Elements()
    dom.feed(done.stdout)
    return dom, done.stderr


def fleet_store(tmp_path) -> tuple[HistoryStore, int]:
    store = HistoryStore(str(tmp_path / "history.sqlite"))
    for value in (702.0, 698.0, 705.0):  # earlier verify runs: the trend
        run_id = store.begin_run("verify")
        store.finish_run(run_id, report([gpu_result("gpu01", value), gpu_result("gpu02", 650.0)], "verify"))
    run_id = store.begin_run("check", "inventories/lab.yaml", "playbooks/site.yaml", True)
    events = HistoryEvents(store, run_id, Collect())
    results = [
        result("gpu01", "docker : daemon.json", "changed", check=True,
               diff="--- a\n+++ b\n@@ -1 +1 @@\n-{}\n+{\"x\": 1}"),
        result("gpu01", "docker : service", "ok", check=True),
        result("gpu01", "ping", "ok", check=True),
        result("gpu01", f"driver : {HOSTILE}", "skipped", check=True, msg=HOSTILE),
        gpu_result("gpu01", 520.0),
        result("gpu02", "docker : daemon.json", "ok", check=True),
        result("gpu02", "driver : nouveau", "failed", check=True,
               msg="nouveau is loaded </script><script>x()</script>"),
        result("gpu02", "driver : optional", "failed", check=True, ignored=True),
        gpu_result("gpu02", 655.0),
        result("gpu03", "ping", "unreachable", check=True, msg="connection refused"),
    ]
    for item in results:
        events.task_result(item)
    store.finish_run(run_id, report(results, "check", True), 3)
    return store, run_id


def page_of(store: HistoryStore, run_id: int) -> str:
    figures = store.figures(run_id)
    return render_html(store.run(run_id), store.results(run_id), figures, store.trend())


def test_report_page_loads_without_errors_and_shows_the_heatmap(tmp_path):
    store, run_id = fleet_store(tmp_path)
    with store:
        page = page_of(store, run_id)
    assert "http://" not in page and "https://" not in page and "src=" not in page.replace("src=x", "")

    # hosts sorted, roles in the order they ran: docker, play, driver, gpu_verify
    dom, log = load(page, tmp_path, "#c-1-2")
    ready = dom.by_id("provision-ready")
    assert ready is not None, "the page's script did not run to its end"
    assert ready["data-errors"] == "0"
    assert ready["data-cells"] == str(3 * 4)
    assert [line for line in log.splitlines() if ":CONSOLE" in line] == []

    cells = {(attrs["data-host"], attrs["data-role"]): attrs for tag, attrs in dom.elements
             if "cell" in attrs.get("class", "").split()}
    expected = {
        ("gpu01", "docker"): "drift", ("gpu01", "play"): "ok", ("gpu01", "driver"): "skipped",
        ("gpu01", "gpu_verify"): "ok",
        ("gpu02", "docker"): "ok", ("gpu02", "play"): "none", ("gpu02", "driver"): "failed",
        ("gpu02", "gpu_verify"): "ok",
        ("gpu03", "docker"): "none", ("gpu03", "play"): "unreachable", ("gpu03", "driver"): "none",
        ("gpu03", "gpu_verify"): "none",
    }
    assert {key: attrs["data-status"] for key, attrs in cells.items()} == expected
    for key, state in expected.items():
        assert f"s-{state}" in cells[key]["class"].split()

    # the fragment opened gpu02 x driver, as a click does: its panel shows, the others stay hidden
    assert "selected" in cells[("gpu02", "driver")]["class"].split()
    assert ready["data-shown"] == "d-1-2"
    panels = {attrs["id"]: "hidden" in attrs for tag, attrs in dom.elements if attrs.get("class") == "detail"}
    assert panels.pop("d-1-2") is False
    assert panels and all(panels.values())

    # hostile text stays text: no element was injected, no script ran from it
    assert not any(tag == "img" for tag, _ in dom.elements)
    assert sum(1 for tag, _ in dom.elements if tag == "script") == 1
    text = "".join(dom.text)
    assert HOSTILE in text and "nouveau is loaded </script><script>x()</script>" in text
    assert "failed (ignored)" in text

    # GPU figures: this run's values, the trend sparkline, and the drop on gpu01
    rows = [attrs for tag, attrs in dom.elements if tag == "tr" and "data-host" in attrs]
    assert [row["data-host"] for row in rows] == ["gpu01", "gpu02"]
    assert sum(1 for tag, _ in dom.elements if tag == "polyline") == 2
    assert "drop to 74% of recent median" in text
    assert "520.0" in text and "655.0" in text


def test_report_page_without_a_fragment_shows_no_detail(tmp_path):
    store, run_id = fleet_store(tmp_path)
    with store:
        page = page_of(store, run_id)
    dom, log = load(page, tmp_path)
    ready = dom.by_id("provision-ready")
    assert ready["data-errors"] == "0" and "data-shown" not in ready
    assert all("hidden" in attrs for tag, attrs in dom.elements if attrs.get("class") == "detail")


def test_a_script_error_would_be_seen(tmp_path):
    """The marker is a real probe: a page whose script throws reports it."""
    store, run_id = fleet_store(tmp_path)
    with store:
        page = page_of(store, run_id)
    broken = page.replace("try{fromHash();}", "try{fromHash();null.boom();}", 1)
    assert broken != page
    dom, log = load(broken, tmp_path)
    ready = dom.by_id("provision-ready")
    assert ready is not None and ready["data-errors"] != "0"
    assert any(":CONSOLE" in line and "Uncaught" in line for line in log.splitlines())


def test_roles_and_sparkline():
    assert role_of("docker : daemon.json") == "docker"
    assert role_of("ping") == "play"
    assert role_of(" : odd") == "play"
    assert "polyline" in sparkline([1.0, 2.0, 1.5]) and "polyline" in sparkline([3.0])
    assert "svg" not in sparkline([])
