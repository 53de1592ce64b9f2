"""Every bad input of tests/bad_inputs/ is refused before any host is touched, without a traceback.

Each case folder holds the files a user would bring (playbook, roles, templates, inventory...) and
`expected.yaml`. The case runs as `provision apply` in this process, from a copy of its folder:

    errors:                       # what must be printed, each once
      - message: "unknown module"   # text inside the error
        at: playbook.yaml:6         # FILE:LINE relative to the case; the block must start with
                                    # `error: FILE:LINE:COL:` and show that line. Left out for
                                    # errors about no file (a command-line argument)
    inventory: inventory.yaml     # the case's own inventory (default: the session sandbox's)
    playbook: playbook.yaml       # (default)
    argv: [apply, -f, "0", "@INVENTORY@", "@CASE@/playbook.yaml"]   # a whole command line instead
    usage: true                   # a command-line error: the usage line, then one `error:` line
    make_files:                   # files too large for git, written into the copy first
      - {path: vars/big.yaml, line: "# padding\n", bytes: 5000000}

Placeholders in any file of the copy (and in argv) are filled in, so a bad inventory can name the
session sandbox's real hosts: @KEY@, @KNOWN_HOSTS@, @HOST01@..@HOST04@ (addresses), @CASE@ (the
copy's folder); in argv also @INVENTORY@ (the case's inventory, else the sandbox's).

Playbooks target real hosts and begin with a valid task that touches `/root/touched-<host>-<NN>`
(NN: the case's number); after the refused run every sandbox host is checked over SSH for it. The
counts (cases, tracebacks, hosts touched) end the pytest run (see conftest.py).
"""
from __future__ import annotations

import os
import re
import shutil
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from provision.cli import main
from tests.conftest import connect, ssh

pytestmark = pytest.mark.sandbox

CORPUS = os.path.dirname(os.path.abspath(__file__))
CASES = sorted(name for name in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, name, "expected.yaml")))
ERROR_BLOCK = re.compile(r"^(?=error: )", re.MULTILINE)


def _expected(case: str) -> dict:
    with open(os.path.join(CORPUS, case, "expected.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


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
    """Hosts on which the case's first (valid) task left its file, whatever the inventory calls them."""
    number = case.split("-")[0]
    return [name for name, transport in hosts.items()
            if transport.run(f"ls /root/touched-*-{number} >/dev/null 2>&1").rc == 0]


def _placeholders(sandbox) -> dict[str, str]:
    found = {"@KEY@": sandbox.key_path, "@KNOWN_HOSTS@": sandbox.known_hosts_path}
    found.update({f"@{host.name.upper()}@": host.address for host in sandbox.hosts})
    return found


def _prepare(case: str, folder: str, expected: dict, placeholders: dict[str, str]) -> None:
    """The case's files in `folder`, placeholders filled (as bytes: some cases are not UTF-8)."""
    shutil.copytree(os.path.join(CORPUS, case), folder)
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                data = handle.read()
            filled = data
            for key, value in placeholders.items():
                filled = filled.replace(key.encode(), value.encode())
            if filled != data:
                with open(path, "wb") as handle:
                    handle.write(filled)
    for made in expected.get("make_files", []):
        path = os.path.join(folder, made["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        line = made["line"].encode()
        with open(path, "wb") as handle:
            handle.write(line * (made["bytes"] // len(line) + 1))


def _argv(expected: dict, folder: str, sandbox, placeholders: dict[str, str]) -> list[str]:
    inventory = os.path.join(folder, expected["inventory"]) if expected.get("inventory") else sandbox.inventory_path
    if "argv" not in expected:
        return ["apply", inventory, os.path.join(folder, expected.get("playbook", "playbook.yaml"))]
    words = {**placeholders, "@INVENTORY@": inventory, "@CASE@": folder}
    argv = []
    for word in expected["argv"]:
        for key, value in words.items():
            word = str(word).replace(key, value)
        argv.append(word)
    return argv


def _run(argv: list[str], capsys, monkeypatch) -> tuple[int | str, str]:
    """(exit code, stderr+stdout); an exception escaping main is a traceback, as a user would see."""
    monkeypatch.setenv("COLUMNS", "500")  # rich must not wrap long paths inside a message
    try:
        code: int | str = main(argv)
    except SystemExit as stop:
        code = f"SystemExit({stop.code})"
    except Exception:  # noqa: BLE001 - what the test is about: it must never happen
        captured = capsys.readouterr()
        return "traceback", captured.err + captured.out + traceback.format_exc()
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def _shown_line(block: str) -> str:
    """The source line an error block shows (its second line), without a '...' cut."""
    lines = block.splitlines()
    return lines[1].strip().strip(".") if len(lines) > 1 else ""


def _source_line(path: str, number: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read().splitlines()[number - 1]


def test_corpus_is_large_enough():
    assert len(CASES) >= 100


def test_the_touch_task_does_touch(sandbox, hosts, capsys, monkeypatch, tmp_path):
    """The control: without the bad part, the first task of a case does create the file checked for."""
    playbook = tmp_path / "playbook.yaml"
    with open(os.path.join(CORPUS, "06-unknown-module", "playbook.yaml"), encoding="utf-8") as handle:
        playbook.write_text("".join(handle.readlines()[:4]))
    code, output = _run(["apply", sandbox.inventory_path, str(playbook)], capsys, monkeypatch)
    assert code == 0, output
    assert _touched(hosts, "06") == _hosts(sandbox)
    for host in _hosts(sandbox):
        ssh(sandbox, host, "rm -f /root/touched-*")


def test_a_case_inventory_reaches_the_sandbox(sandbox, hosts, capsys, monkeypatch, tmp_path):
    """The control for cases with their own inventory: with placeholders filled, it does reach."""
    folder = str(tmp_path / "case")
    _prepare("117-inventory-ansible-host-list", folder, {}, _placeholders(sandbox))
    with open(os.path.join(folder, "inventory.yaml"), encoding="utf-8") as handle:
        good = handle.read().replace("ansible_host: [1, 2]", "ansible_host: " + sandbox.host("host02").address)
    with open(os.path.join(folder, "inventory.yaml"), "w", encoding="utf-8") as handle:
        handle.write(good)
    code, output = _run(["apply", os.path.join(folder, "inventory.yaml"), os.path.join(folder, "playbook.yaml")],
                        capsys, monkeypatch)
    assert code == 0, output
    assert sorted(_touched(hosts, "117")) == ["host01", "host02"]
    for host in _hosts(sandbox):
        ssh(sandbox, host, "rm -f /root/touched-*")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_its_place(case, sandbox, hosts, capsys, monkeypatch, tmp_path, tally):
    expected = _expected(case)
    folder = str(tmp_path / case)
    placeholders = {**_placeholders(sandbox), "@CASE@": folder}
    _prepare(case, folder, expected, placeholders)

    code, output = _run(_argv(expected, folder, sandbox, placeholders), capsys, monkeypatch)
    touched = _touched(hosts, case)
    tally.cases += 1
    tally.tracebacks += code == "traceback" or "Traceback" in output
    tally.hosts_touched += len(touched)

    assert code != "traceback" and "Traceback" not in output, output
    assert touched == [], f"refused, yet the first task ran on {touched}"
    assert code == 1, f"exit {code}\n{output}"
    blocks = [block for block in ERROR_BLOCK.split(output) if block.startswith("error: ")]
    for item in expected["errors"]:
        if "at" not in item:
            assert any(item["message"] in block for block in blocks), f"expected: {item['message']}\ngot:\n{output}"
            continue
        relative, line = item["at"].rsplit(":", 1)
        path = os.path.join(folder, relative)
        place = re.compile(rf"^error: {re.escape(path)}:{line}:\d+: ", re.MULTILINE)
        matching = [block for block in blocks if place.search(block) and item["message"] in block]
        assert matching, f"expected at {item['at']}: {item['message']}\ngot:\n{output}"
        assert _shown_line(matching[0]) in _source_line(path, int(line)), \
            f"the offending line is not shown for {item['at']}:\n{matching[0]}"
    if expected.get("usage"):
        assert output.startswith("usage: provision"), output
        assert len(blocks) == 1 and len(blocks[0].strip().splitlines()) == 1, output
    elif "problem(s) found" in output:
        assert f"{len(blocks)} problem(s) found; no host was touched" in output
