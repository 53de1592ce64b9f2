"""The history on a PostgreSQL server: one history for runs on several machines (slices of a fleet
run on two bastions, CI matrix jobs, a Kubernetes Indexed Job), read by `history` and `report` on
any of them.

`--state-db postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]` (or `postgres://`),
read as libpq reads it: what the URL leaves out comes from PGUSER, PGPASSWORD, PGHOST, PGPORT,
PGDATABASE and PGSSLMODE, then libpq's defaults (the login name, the local server's socket folder,
5432, a database named as the user, sslmode=prefer). `?host=/folder` reaches a server by its unix
socket. The tables are created on first use, so the user must be allowed to create tables in
the database: give provision a database of its own (`createdb -O provision provision`).

The easy thing to get wrong is the password: it is never shown. Messages name the server as the
URL without it, and a password is better given by PGPASSWORD or PROVISION_STATE_DB than on a
command line, where `ps` shows it to every user of the machine.
"""
from __future__ import annotations

import getpass
import os
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

from provision.history.records import Row
from provision.history.schema import POSTGRES_TYPES
from provision.history.store import HistoryError, HistoryStore

PARAMETERS = ("host", "port", "sslmode", "sslrootcert", "connect_timeout", "application_name")
SSL_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
SOCKET_FOLDER = "/var/run/postgresql"  # where Debian's and Ubuntu's server listens by default
OPERATION_TIMEOUT = 60.0  # seconds any one exchange with the server may take once connected
SCHEMA_LOCK = 0x70726F76  # pg_advisory_xact_lock key: slices starting at once create the tables once
CHUNK = 1000  # rows per INSERT statement (16 values each, far under PostgreSQL's 65,535)

# SQLSTATE -> what to do about it, after the server's own message
HINTS = {
    "3D000": "; create it as a PostgreSQL superuser: createdb -O {user} {database}",
    "42501": "; provision creates its tables on first use: give {user} a database of its own "
             "(createdb -O {user} {database})",
}


@dataclass(frozen=True)
class PostgresAddress:
    """Where the server is and who to be there, from the URL and the PG* variables."""

    user: str
    password: str | None
    host: str  # a name or address, or a folder holding the server's unix socket
    port: int
    database: str
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    connect_timeout: float = 10.0
    application_name: str = "provision"

    @property
    def unix_socket(self) -> str | None:
        return os.path.join(self.host, f".s.PGSQL.{self.port}") if self.host.startswith("/") else None

    @property
    def endpoint(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    def shown(self) -> str:
        """The URL without the password: what messages and `history` print."""
        user = quote(self.user, safe="")
        database = quote(self.database, safe="")
        if self.unix_socket:
            return f"postgresql://{user}@/{database}?host={self.host}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{user}@{host}:{self.port}/{database}"


def parse_address(url: str, environ: dict[str, str]) -> PostgresAddress:
    """The address a postgresql:// URL names; a URL that cannot be one is a HistoryError."""
    shown = redact(url)
    parts = urlsplit(url)
    try:
        url_port = parts.port
    except ValueError:
        raise HistoryError(f"--state-db {shown}: the port is not a number from 1 to 65535") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(PARAMETERS))
    if unknown:
        raise HistoryError(f"--state-db {shown}: unknown parameter {', '.join(unknown)} "
                           f"(known: {', '.join(PARAMETERS)})")
    options = {name: values[-1] for name, values in query.items()}
    user = unquote(parts.username or "") or environ.get("PGUSER") or getpass.getuser()
    password = unquote(parts.password) if parts.password is not None else environ.get("PGPASSWORD")
    host = options.get("host") or (parts.hostname or "") or environ.get("PGHOST") or SOCKET_FOLDER
    port_text = options.get("port") or (str(url_port) if url_port else "") or environ.get("PGPORT") or "5432"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise HistoryError(f"--state-db {shown}: the port is not a number from 1 to 65535: {port_text}")
    sslmode = options.get("sslmode") or environ.get("PGSSLMODE") or "prefer"
    if sslmode not in SSL_MODES:
        raise HistoryError(f"--state-db {shown}: sslmode must be one of {', '.join(SSL_MODES)}, not {sslmode!r}")
    try:
        timeout = float(options.get("connect_timeout") or environ.get("PGCONNECT_TIMEOUT") or 10)
    except ValueError:
        timeout = 0.0
    if not timeout > 0:
        raise HistoryError(f"--state-db {shown}: connect_timeout must be seconds above 0")
    database = unquote(parts.path.lstrip("/")) or environ.get("PGDATABASE") or user
    return PostgresAddress(user, password, host, int(port_text), database, sslmode, options.get("sslrootcert"),
                           timeout, options.get("application_name") or "provision")


def redact(url: str) -> str:
    """A URL with its password replaced by ***: safe for a message or a log."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


class PostgresStore(HistoryStore):
    noun = "history database"
    types = POSTGRES_TYPES
    database_errors: tuple[type[BaseException], ...] = (OSError,)

    def _where(self, location: str | None) -> str:
        self.address = parse_address(location or "", dict(os.environ))
        return self.address.shown()

    def _open(self, location: str | None) -> None:
        try:
            import pg8000.dbapi
            import pg8000.exceptions
        except ImportError:
            raise HistoryError(f"the {self.noun} {self.path} needs the pg8000 package (one of provision's "
                               "dependencies): pip install pg8000") from None
        self.database_errors = (pg8000.exceptions.Error, OSError)
        address = self.address
        connection = _socket(address)
        try:
            self.connection = pg8000.dbapi.connect(
                user=address.user, password=address.password, database=address.database,
                host=None if address.unix_socket else address.host, sock=connection,
                ssl_context=_ssl_context(address), application_name=address.application_name)
        except (AttributeError, pg8000.exceptions.InterfaceError) as error:
            connection.close()
            # pg8000 without a password meets a server that asks for one: it says so (md5), or
            # fails on the missing password itself (SCRAM)
            if address.password is None and (isinstance(error, AttributeError) or "password" in str(error)):
                raise HistoryError(f"cannot open the {self.noun} {self.path}: the server asks for the password of "
                                   f"{address.user}: give it in PGPASSWORD (or in the URL)") from None
            raise
        self.connection.autocommit = True  # each write says BEGIN/COMMIT itself, as with SQLite

    def _run(self, statement: str, values: tuple = ()) -> list[Row]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement.replace("%", "%%").replace("?", "%s"), tuple(values))
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def _insert_id(self, statement: str, values: tuple) -> int:
        return self._run(statement + " RETURNING id", values)[0]["id"]

    def _insert_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        # One statement for many rows: a batch costs one round trip, not one per result.
        row_marks = f"({', '.join('?' * len(columns))})"
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            self._run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row_marks] * len(chunk))}",
                      tuple(value for row in chunk for value in row))

    def _begin(self) -> None:
        self._run("BEGIN")

    def _schema_version(self) -> int:
        if not self._run("SELECT to_regclass('provision_schema') IS NOT NULL AS present")[0]["present"]:
            return 0
        rows = self._run("SELECT version FROM provision_schema")
        return rows[0]["version"] if rows else 0

    def _set_schema_version(self, version: int) -> None:
        self._run("CREATE TABLE IF NOT EXISTS provision_schema (version INTEGER NOT NULL)")
        self._run("DELETE FROM provision_schema")
        self._run("INSERT INTO provision_schema (version) VALUES (?)", (version,))

    def _lock_schema(self) -> None:
        self._run("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))

    def _close_connection(self) -> None:
        self.connection.close()

    def _explain(self, error: BaseException) -> str:
        """The server's own message (and what to do) rather than the driver's wording."""
        address = self.address
        fields = error.args[0] if error.args else None
        if isinstance(fields, dict):
            hint = HINTS.get(fields.get("C", ""), "").format(user=address.user, database=address.database)
            return f"{fields.get('M', 'error')}{hint}"
        if str(error) == "Server refuses SSL":
            return f"{address.endpoint} offers no TLS, which sslmode={address.sslmode} requires"
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused at {address.endpoint}: no PostgreSQL server listens there"
        if isinstance(cause, FileNotFoundError) and address.unix_socket:
            return f"no PostgreSQL server socket at {address.unix_socket}"
        if isinstance(cause, socket.gaierror):
            return f"unknown host {address.host}"
        if isinstance(cause, TimeoutError):
            return f"no answer from {address.endpoint} in time"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed with {address.endpoint}: {cause.reason or cause}"
        if isinstance(cause, OSError):
            return f"cannot reach {address.endpoint}: {cause.strerror or cause}"
        return str(error) or type(error).__name__


def _socket(address: PostgresAddress) -> socket.socket:
    """A connected socket: connect_timeout to reach the server, then OPERATION_TIMEOUT per exchange."""
    if address.unix_socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(address.connect_timeout)
        try:
            connection.connect(address.unix_socket)
        except OSError:
            connection.close()
            raise
    else:
        connection = socket.create_connection((address.host, address.port), address.connect_timeout)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    connection.settimeout(OPERATION_TIMEOUT)
    return connection


def _ssl_context(address: PostgresAddress) -> ssl.SSLContext | bool | None:
    """pg8000's ssl_context for libpq's sslmode: False none, None TLS if the server offers it,
    True TLS or fail (unverified, as libpq's require), a context to verify the server."""
    if address.unix_socket or address.sslmode == "disable":
        return False
    if address.sslmode == "prefer":
        return None
    if address.sslmode == "require":
        return True
    context = ssl.create_default_context(cafile=address.sslrootcert)
    context.check_hostname = address.sslmode == "verify-full"
    return context
