"""`--state-db postgresql://...` through the command line: a server that cannot be used is one
`error:` line and exit 1 with no host touched and no password shown; one that can is written by
apply and read by history and report, named on the command line or by $PROVISION_STATE_DB."""
from __future__ import annotations

import os
import subprocess

import pytest

from provision.cli import main
from tests.history.postgres_server import SUPERUSER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROVISION = os.path.join(ROOT, ".venv", "bin", "provision")


def local_project(tmp_path) -> tuple[str, str, str]:
    """An inventory of this machine (ansible_connection: local) and a playbook that leaves a file."""
    marker = tmp_path / "touched"
    (tmp_path / "inventory.yaml").write_text("all:\n  hosts:\n    here: {ansible_connection: local}\n")
    (tmp_path / "site.yaml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - name: leave a mark\n      copy: {{dest: {marker}, content: \"here\\n\"}}\n")
    return str(tmp_path / "inventory.yaml"), str(tmp_path / "site.yaml"), str(marker)


@pytest.mark.parametrize("case, expected", [
    ("refused", "connection refused at 127.0.0.1:1: no PostgreSQL server listens there"),
    ("wrong password", f'password authentication failed for user "{SUPERUSER}"'),
    ("no password", f"the server asks for the password of {SUPERUSER}: give it in PGPASSWORD"),
    ("missing database", f'database "nowhere" does not exist; create it as a PostgreSQL superuser: '
                         f"createdb -O {SUPERUSER} nowhere"),
    ("bad port", "the port is not a number from 1 to 65535"),
    ("unknown parameter", "unknown parameter sslmod (known: host, port, sslmode"),
])
def test_a_history_server_that_cannot_be_used_is_one_line_and_exit_1(case, expected, postgres_server, capsys,
                                                                     monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    database = postgres_server.create_database()
    url = {"refused": postgres_server.url(database, port=1),
           "wrong password": postgres_server.url(database, password="not-the-password"),
           "no password": f"postgresql://{SUPERUSER}@127.0.0.1:{postgres_server.port}/{database}",
           "missing database": postgres_server.url("nowhere"),
           "bad port": postgres_server.url(database).replace(f":{postgres_server.port}/", ":99999/"),
           "unknown parameter": postgres_server.url(database) + "?sslmod=require"}[case]
    for command in (["history"], ["report", "-o", os.devnull]):
        assert main([*command, "--state-db", url]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in " ".join(captured.err.split())
        assert postgres_server.password not in captured.err and "not-the-password" not in captured.err


def test_apply_with_an_unreachable_history_server_touches_no_host(tmp_path, postgres_server):
    """The store is opened before any host is contacted: the real command, as a user runs it."""
    inventory, playbook, marker = local_project(tmp_path)
    url = postgres_server.url("history", port=1)
    done = subprocess.run([PROVISION, "apply", inventory, playbook, "--state-db", url], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: cannot open the history database postgresql://") and \
        len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr and postgres_server.password not in done.stderr
    assert not os.path.exists(marker)  # the playbook never ran
    assert sorted(os.listdir(tmp_path)) == ["inventory.yaml", "site.yaml"]  # no SQLite file, no "postgresql:" folder


def test_apply_writes_the_server_history_reads_it_from_the_environment(tmp_path, postgres_server, capsys,
                                                                         monkeypatch):
    """A run recorded on the server (reached by its unix socket, password from PGPASSWORD), read
    back by `history` and `report` with no --state-db: $PROVISION_STATE_DB names it."""
    inventory, playbook, marker = local_project(tmp_path)
    database = postgres_server.create_database()
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    monkeypatch.setenv("PROVISION_STATE_DB",
                       f"postgresql://{SUPERUSER}@/{database}?host={postgres_server.socket_folder}"
                       f"&port={postgres_server.port}")
    monkeypatch.setenv("PROVISION_RUN_GROUP", "nightly-1")
    monkeypatch.chdir(tmp_path)
    assert main(["apply", inventory, playbook, "--slice", "1/1", "-q"]) == 0
    assert os.path.exists(marker)
    capsys.readouterr()
    assert main(["history"]) == 0
    shown = capsys.readouterr().out
    assert "nightly-1" in shown and "1/1" in shown and "complete" in shown
    assert main(["report", "-o", str(tmp_path / "page.html")]) == 0
    assert "fleet run nightly-1 (apply, 1 results, slices 1/1)" in capsys.readouterr().out
    page = (tmp_path / "page.html").read_text()
    assert "leave a mark" in page and "nightly-1" in page
    assert not os.path.exists(tmp_path / ".provision" / "history.sqlite")
