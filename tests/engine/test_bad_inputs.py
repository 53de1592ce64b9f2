"""Every bad input of tests/bad_inputs/ is refused before any host is touched.

Each case folder holds the files a user would bring (playbook, roles, templates, inventory...) and
`expected.yaml`: the messages `provision apply` must print, each with the `file:line` it points at
(relative to the case folder). Playbooks target the session sandbox and begin with a valid task
that touches `/root/touched-<host>-<NN>`; after the refused run, every host is checked over SSH
for that file. A case with its own `inventory:` (a bad inventory) only checks the messages.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from provision.cli import main
from tests.conftest import connect, ssh

pytestmark = pytest.mark.sandbox

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bad_inputs")
CASES = sorted(name for name in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, name, "expected.yaml")))


def _expected(case: str) -> dict:
    with open(os.path.join(CORPUS, case, "expected.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _line(path: str, number: int) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()[number - 1]


def _hosts(sandbox) -> list[str]:
    return [host.name for host in sandbox.hosts]


@pytest.fixture(scope="module")
def hosts(sandbox):
    """One SSH connection per sandbox host for the whole file: a check costs milliseconds."""
    with ThreadPoolExecutor(len(_hosts(sandbox))) as pool:
        transports = dict(zip(_hosts(sandbox), pool.map(lambda name: connect(sandbox, name), _hosts(sandbox))))
    yield transports
    for transport in transports.values():
        transport.close()


def _touched(hosts: dict, case: str) -> list[str]:
    """Hosts on which the case's first (valid) task left its file."""
    number = case.split("-")[0]
    return [name for name, transport in hosts.items()
            if transport.run(f"test -e /root/touched-{name}-{number}").rc == 0]


def run_cli(capsys, monkeypatch, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", "500")  # rich must not wrap long paths inside a message
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_the_touch_task_does_touch(sandbox, hosts, capsys, monkeypatch, tmp_path):
    """The control: without the bad part, the first task of a case does create the file checked for."""
    playbook = tmp_path / "playbook.yaml"
    with open(os.path.join(CORPUS, "06-unknown-module", "playbook.yaml"), encoding="utf-8") as handle:
        playbook.write_text("".join(handle.readlines()[:4]))
    code, out, err = run_cli(capsys, monkeypatch, "apply", sandbox.inventory_path, str(playbook))
    assert code == 0, out + err
    assert _touched(hosts, "06") == _hosts(sandbox)
    for host in _hosts(sandbox):
        ssh(sandbox, host, "rm -f /root/touched-*")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_its_place(case, sandbox, hosts, capsys, monkeypatch):
    folder = os.path.join(CORPUS, case)
    expected = _expected(case)
    own_inventory = expected.get("inventory")
    inventory = os.path.join(folder, own_inventory) if own_inventory else sandbox.inventory_path
    playbook = os.path.join(folder, expected.get("playbook", "playbook.yaml"))

    code, out, err = run_cli(capsys, monkeypatch, "apply", inventory, playbook)

    assert "Traceback" not in out + err
    assert code == 1, f"exit {code}\n{out}{err}"
    # one block per error: "error: FILE:LINE:COLUMN: message", then the source line and a caret
    blocks = [block for block in re.split(r"^(?=error: )", err, flags=re.MULTILINE) if block.startswith("error: ")]
    for item in expected["errors"]:
        relative, line = item["at"].rsplit(":", 1)
        path = os.path.join(folder, relative)
        place = re.compile(rf"^error: {re.escape(path)}:{line}:\d+: ", re.MULTILINE)
        source = _line(path, int(line)).strip()
        matching = [block for block in blocks if place.search(block) and item["message"] in block]
        assert matching, f"expected at {item['at']}: {item['message']}\ngot:\n{err}"
        assert source in matching[0], f"the offending line is not shown for {item['at']}:\n{matching[0]}"
    assert f"{len(blocks)} problem(s) found; no host was touched" in err
    if not own_inventory:
        assert _touched(hosts, case) == []
