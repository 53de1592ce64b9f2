"""A PostgreSQL server of the test session's own, from Debian's package: never a mock, never the
machine's cluster.

initdb into a temporary folder (as the `postgres` user when the tests run as root: the server
refuses root), listening on 127.0.0.1 on a free port and on a unix socket in that folder, with
password authentication for its one superuser; no locale (the messages the tests read are English
whatever the machine's); fsync off, since nothing of it must survive. It is
stopped by its PID at the end; a folder left by a test run that was killed is found by the pid in
its name, and its server stopped, at the next session's start.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import quote

PREFIX = "provision-pg-"
SUPERUSER = "provision_test"


def server_binaries() -> str:
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin)."""
    found = [path for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")
             if path.split("/")[4].isdigit()]
    if not found:
        raise RuntimeError("no PostgreSQL server in /usr/lib/postgresql/*/bin: ./bootstrap installs Debian's "
                           "postgresql package (apt-get install postgresql)")
    return os.path.dirname(max(found, key=lambda path: int(path.split("/")[4])))


@dataclass
class PostgresServer:
    folder: str
    port: int
    password: str
    process: subprocess.Popen
    databases: list[str] = field(default_factory=list)

    @property
    def socket_folder(self) -> str:
        return self.folder

    def url(self, database: str, password: str | None = None, port: int | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{quote(secret, safe='')}@127.0.0.1:{port or self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database: each test gets its own history."""
        import pg8000.dbapi

        name = f"history_{len(self.databases) + 1}"
        connection = pg8000.dbapi.connect(user=SUPERUSER, password=self.password, host="127.0.0.1",
                                          port=self.port, database="postgres")
        try:
            connection.autocommit = True
            connection.cursor().execute(f"CREATE DATABASE {name}")
        finally:
            connection.close()
        self.databases.append(name)
        return name

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: no waiting for clients
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> PostgresServer:
    clean_stale_servers()
    binaries = server_binaries()
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    owner = _server_user()
    password = secrets.token_urlsafe(12)
    with open(os.path.join(folder, "password"), "w") as handle:
        handle.write(password)
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        os.chown(os.path.join(folder, "password"), owner.pw_uid, owner.pw_gid)
    as_owner = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
    data = os.path.join(folder, "data")
    subprocess.run([os.path.join(binaries, "initdb"), "-D", data, "-U", SUPERUSER, "--pwfile",
                    os.path.join(folder, "password"), "--auth=scram-sha-256", "-E", "UTF8", "--no-locale",
                    "--no-sync", "--no-instructions"], check=True, capture_output=True, text=True, cwd=folder, **as_owner)
    port = _free_port()
    log = open(os.path.join(folder, "server.log"), "w")
    process = subprocess.Popen(
        [os.path.join(binaries, "postgres"), "-D", data, "-p", str(port), "-k", folder,
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=50"],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder, **as_owner)
    log.close()
    server = PostgresServer(folder, port, password, process)
    deadline = time.time() + 60
    while True:
        if process.poll() is not None:
            with open(os.path.join(folder, "server.log")) as handle:
                text = handle.read()
            server.stop()
            raise RuntimeError(f"the test PostgreSQL server did not start:\n{text}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if os.path.exists(os.path.join(data, "postmaster.pid")) and _accepts(server):
                return server
        except OSError:
            pass
        if time.time() > deadline:
            server.stop()
            raise RuntimeError("the test PostgreSQL server did not answer within 60 s")
        time.sleep(0.1)


def clean_stale_servers() -> None:
    """Stop the server of a test run that was killed (its pytest pid is gone) and remove its folder."""
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{PREFIX}*-*")):
        owner_pid = os.path.basename(folder)[len(PREFIX):].split("-")[0]
        if not owner_pid.isdigit() or os.path.exists(f"/proc/{owner_pid}"):
            continue
        try:
            with open(os.path.join(folder, "data", "postmaster.pid")) as handle:
                pid = int(handle.readline())
            with open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() == "postgres":  # not a process that took the pid since
                    os.kill(pid, signal.SIGINT)
        except (OSError, ValueError):
            pass
        shutil.rmtree(folder, ignore_errors=True)


def _accepts(server: PostgresServer) -> bool:
    import pg8000.dbapi

    try:
        pg8000.dbapi.connect(user=SUPERUSER, password=server.password, host="127.0.0.1", port=server.port,
                             database="postgres", timeout=5).close()
        return True
    except Exception:  # still starting ("the database system is starting up")
        return False


def _server_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: `postgres` when we are root (the server refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, but there is no `postgres` user to run the test server as "
                           "(Debian's postgresql package creates it)") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
