"""SSH transport over paramiko (the library under Fabric): one connection per host per run, reused.

Host keys are checked against known_hosts and an unknown key is refused unless the user asked for
OpenSSH's `accept-new` behaviour; a CHANGED key is refused always. The easy thing to get wrong is
the missing-key policy: paramiko's (and Fabric's) convenient defaults trust any key, so this module
only ever installs the two policies defined below.
"""
from __future__ import annotations

import base64
import errno
import getpass
import hashlib
import logging
import os
import select
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import paramiko

from provision.errors import ConnectionFailed, HostKeyRejected
from provision.shell import join
from provision.transport.base import (
    Become,
    CommandResult,
    Transport,
    as_bytes,
    finish_become,
    needed_become,
    wrap_become,
)

TIMEOUT_RC = 124
# Seconds the rest of a command's output may take to arrive after its exit status, while none flows.
OUTPUT_GRACE = 2.0
RETRY_PAUSE = 1.0  # seconds between two tries to connect after a transient failure
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_SSH_CONFIG = "~/.ssh/config"

# paramiko logs a traceback for every failed banner read (a host that reboots, an sshd under load)
# and Python prints unhandled log records to stderr. A library stays quiet unless asked: `-vv`
# attaches a handler (see `library_logs`).
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


@contextmanager
def library_logs(verbosity: int, stream=None) -> Iterator[None]:
    """For the duration, paramiko's log records (and tracebacks) go to `stream` (stderr) at -vv
    only; below that they stay silent."""
    if verbosity < 2:
        yield
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("paramiko: %(message)s"))
    logger = logging.getLogger("paramiko")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style fingerprint (`SHA256:...`), what `ssh-keygen -lf` shows."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class RefuseUnknownHostKey(paramiko.RejectPolicy):
    """Refuse a host whose key is not in known_hosts, saying how to accept it."""

    def missing_host_key(self, client, hostname, key):
        raise HostKeyRejected(
            f"host key for {hostname} is not in known_hosts ({key.get_name()} {fingerprint(key)}). "
            f"Check the fingerprint, then re-run with --accept-new-host-keys or add it with "
            f"`ssh-keyscan` to your known_hosts file"
        )


class AcceptNewHostKey(paramiko.MissingHostKeyPolicy):
    """OpenSSH `StrictHostKeyChecking=accept-new`: record a first-seen key, refuse a changed one.

    paramiko itself raises BadHostKeyException when the host is known with a different key of the
    same or another type; this policy is only asked about hosts it has never seen.
    """

    def __init__(self, record_to: str):
        self.record_to = os.path.expanduser(record_to)

    def missing_host_key(self, client, hostname, key):
        known = client.get_host_keys()
        if known.lookup(hostname):
            raise HostKeyRejected(
                f"host {hostname} is known with another key type than the offered "
                f"{key.get_name()} {fingerprint(key)}; refusing (remove the old entry with "
                f"`ssh-keygen -R {hostname}` if the host was really re-installed)"
            )
        known.add(hostname, key.get_name(), key)
        append_known_host(self.record_to, hostname, key)


def append_known_host(path: str, hostname: str, key: paramiko.PKey) -> None:
    """Append one known_hosts line, the way OpenSSH's accept-new writes it (folder 0700, file 0600)."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a") as stream:
        stream.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


@dataclass
class SSHSettings:
    """Where to connect, after ~/.ssh/config (or -F) filled what the inventory left unset."""

    address: str
    port: int = 22
    user: str = ""
    key_filenames: list[str] = field(default_factory=list)
    known_hosts_files: list[str] = field(default_factory=list)
    proxy_command: str | None = None
    proxy_jump: str | None = None  # [user@]host[:port][,next...], as ssh -J
    config_path: str | None = None  # the ssh_config these came from: jump hosts are looked up there too


def resolve_settings(
    address: str,
    port: int | None,
    user: str | None,
    key_filename: str | list[str] | None,
    known_hosts_files: list[str] | None,
    ssh_config_path: str | None,
    command_line: dict[str, str] | None = None,
) -> SSHSettings:
    """Inventory values win; then ssh's command-line options (ansible_ssh_common_args, as
    transport/sshargs.py reads them); ~/.ssh/config (or the explicit -F file) fills the gaps, like ssh."""
    config_path = os.path.expanduser(ssh_config_path or DEFAULT_SSH_CONFIG)
    options: dict = {}
    if os.path.exists(config_path):
        options = paramiko.SSHConfig.from_path(config_path).lookup(address)
    elif ssh_config_path:
        raise ConnectionFailed(f"ssh config file {ssh_config_path} does not exist")
    for key, value in (command_line or {}).items():
        options[key] = [value] if key == "identityfile" else value
    keys = [key_filename] if isinstance(key_filename, str) else list(key_filename or [])
    if not keys:
        keys = [os.path.expanduser(path) for path in options.get("identityfile", [])]
    known = list(known_hosts_files or [])
    if not known:
        known = options.get("userknownhostsfile", DEFAULT_KNOWN_HOSTS).split()
    return SSHSettings(
        address=options.get("hostname", address),
        port=int(port or options.get("port", 22)),
        user=user or options.get("user") or getpass.getuser(),
        key_filenames=keys,
        known_hosts_files=[os.path.expanduser(path) for path in known],
        proxy_command=options.get("proxycommand") if options.get("proxycommand", "none").lower() != "none" else None,
        proxy_jump=options.get("proxyjump") if options.get("proxyjump", "none").lower() != "none" else None,
        config_path=ssh_config_path,
    )


class SSHTransport(Transport):
    """One SSH connection to one host. `run` opens a channel per command on that connection."""

    name = "ssh"

    def __init__(
        self,
        address: str,
        port: int | None = None,
        user: str | None = None,
        key_filename: str | list[str] | None = None,
        known_hosts_files: list[str] | None = None,
        accept_new_host_keys: bool = False,
        connect_timeout: float = 10,
        ssh_config_path: str | None = None,
        password: str | None = None,
        command_line: dict[str, str] | None = None,
        retries: int = 1,
    ):
        self.settings = resolve_settings(address, port, user, key_filename, known_hosts_files, ssh_config_path,
                                         command_line)
        self.label = address
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout = connect_timeout
        self._password = password
        self.retries = retries  # ansible_ssh_retries: more tries after a transient failure to connect
        self._client: paramiko.SSHClient | None = None
        self._jump: SSHTransport | None = None

    @classmethod
    def connect(cls, address: str, **options) -> SSHTransport:
        """Build and open a transport; raises ConnectionFailed or HostKeyRejected."""
        transport = cls(address, **options)
        transport.open()
        return transport

    def open(self) -> None:
        """Open the connection (again, after close or a reboot).

        A failure that says nothing about the host's real state (no ARP answer in time, sshd's
        MaxStartups hang-up, an sshd too busy to greet) is tried again up to `retries` times, a
        second apart: on a loaded network those clear within a second, and a host lost to one of
        them would be reported unreachable although nothing is wrong with it. A refusal, a silent
        address, a rejected key or host key fails at once: trying again would only repeat it."""
        for attempt in range(self.retries + 1):
            tries = f" (tried {attempt + 1} times)" if attempt else ""
            try:
                return self._open_once()
            except _Transient as failure:
                self.close()  # a jump host's connection too
                if attempt == self.retries:
                    raise ConnectionFailed(f"{failure}{tries}") from None
            except ConnectionFailed as failure:
                self.close()
                if not tries:
                    raise
                raise type(failure)(f"{failure}{tries}") from None
            time.sleep(RETRY_PAUSE)

    def _open_once(self) -> None:
        self.close()
        self.closed_reason = ""
        settings = self.settings
        client = paramiko.SSHClient()
        name = settings.address if settings.port == 22 else f"[{settings.address}]:{settings.port}"
        for path in settings.known_hosts_files:
            for key in known_host_keys(path, name):  # only this host's: the file is parsed once per process
                client.get_host_keys().add(name, key.get_name(), key)
        if self.accept_new_host_keys:
            client.set_missing_host_key_policy(AcceptNewHostKey(settings.known_hosts_files[0]))
        else:
            client.set_missing_host_key_policy(RefuseUnknownHostKey())
        where = f"{settings.user}@{settings.address}:{settings.port}"
        try:
            sock = self._proxy_socket()
        except ConnectionFailed as error:
            client.close()
            # its own kind kept: a jump host whose key is refused is a HostKeyRejected too
            raise type(error)(f"{where}: through ProxyJump {settings.proxy_jump}: {error}") from None
        try:
            client.connect(
                settings.address,
                port=settings.port,
                username=settings.user,
                password=self._password,
                key_filename=settings.key_filenames or None,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                sock=sock,
            )
        except HostKeyRejected:
            client.close()
            raise
        except paramiko.BadHostKeyException as error:
            client.close()
            raise HostKeyRejected(
                f"host key for {settings.address} CHANGED: known_hosts has "
                f"{error.expected_key.get_name()} {fingerprint(error.expected_key)}, the host offered "
                f"{error.key.get_name()} {fingerprint(error.key)}. This can be an attack; if the host "
                f"was re-installed, remove the old key with `ssh-keygen -R {settings.address}`"
            ) from None
        except (OSError, paramiko.SSHException, EOFError) as error:
            connection = client.get_transport()  # before close, which drops it: was the server's greeting read?
            error = _real_cause(error, connection)
            failed = _Transient if _transient(error, connection) else ConnectionFailed
            client.close()
            raise failed(f"{where}: {connect_error(error, settings, self.connect_timeout)}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
            # Small command packets must not wait for delayed ACKs (Nagle): ~40 ms per task without this.
            if isinstance(transport.sock, socket.socket):
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client

    def _proxy_socket(self):
        """The socket the SSH session runs over: a ProxyCommand's pipe, a direct-tcpip channel
        through the ProxyJump host (opened with the same known_hosts, keys and ssh_config, and
        its own ProxyJump for a chain `a,b`), or None for a plain TCP connection."""
        settings = self.settings
        if settings.proxy_command:
            return paramiko.ProxyCommand(settings.proxy_command)
        if not settings.proxy_jump:
            return None
        *earlier, last = [hop.strip() for hop in settings.proxy_jump.split(",")]
        user, _, host = last.rpartition("@")
        host, _, port = host.partition(":")
        jump = SSHTransport(host, port=int(port) if port.isdigit() else None, user=user or None,
                            known_hosts_files=settings.known_hosts_files,
                            accept_new_host_keys=self.accept_new_host_keys, connect_timeout=self.connect_timeout,
                            ssh_config_path=settings.config_path, retries=self.retries,
                            command_line={"proxyjump": ",".join(earlier) if earlier else "none"})
        if not jump.settings.key_filenames:
            jump.settings.key_filenames = list(settings.key_filenames)
        jump.open()
        self._jump = jump
        try:
            return jump._client.get_transport().open_channel(
                "direct-tcpip", (settings.address, settings.port), ("127.0.0.1", 0), timeout=self.connect_timeout)
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise ConnectionFailed(f"the jump host could not open a channel to {settings.address}:"
                                   f"{settings.port} ({error or type(error).__name__})") from None

    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        become: Become | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        if self._client is None:
            self.open()
        become = needed_become(become, self.user)
        wrapped = wrap_become(command, become)
        # Always sh: the login shell of the remote user may be anything (fish, csh...).
        text = join(["sh", "-c", wrapped.command])
        self.commands_sent += 1
        try:
            channel = self._client.get_transport().open_session(timeout=self.connect_timeout)
            channel.exec_command(text)
            rc, stdout, stderr = _exchange(channel, wrapped.stdin_prefix + as_bytes(stdin), timeout)
        except (OSError, EOFError, paramiko.SSHException, AttributeError) as error:
            cause = self._lost_cause(error)
            self.close()
            raise ConnectionFailed(f"{self.label}: connection lost ({cause})") from None
        result = CommandResult(rc, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))
        return finish_become(result, wrapped, become, self.label)

    def _lost_cause(self, error: BaseException) -> str:
        """Why the connection went away, in words: the transport's own error when it saved one."""
        if self.closed_reason:
            return self.closed_reason
        transport = self._client.get_transport() if self._client is not None else None
        saved = getattr(transport, "saved_exception", None) if transport is not None else None
        for candidate in (saved, error):
            if isinstance(candidate, ConnectionResetError):
                return "the host reset the connection"
            if isinstance(candidate, (EOFError, ConnectionLost)) or (
                    isinstance(candidate, paramiko.SSHException) and "closed" in str(candidate).lower()):
                return "the host closed the connection: sshd stopped, the host went down or rebooted"
            if isinstance(candidate, (socket.timeout, TimeoutError)):
                return "no answer from the host (network down?)"
        return str(error) or type(error).__name__

    @property
    def user(self) -> str:
        """The login user: ansible_user, else ssh_config's User, else the local user (as ssh does)."""
        return self.settings.user

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None


def _exchange(channel: paramiko.Channel, data: bytes, timeout: float | None) -> tuple[int, bytes, bytes]:
    """Send stdin while reading stdout/stderr, so a chatty command never deadlocks a large input."""

    def send() -> None:
        try:
            if data:
                channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command exited without reading all its input, or the connection went: the reader tells

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + timeout if timeout else None
    stdout, stderr = bytearray(), bytearray()
    drained_by = None  # when the exit status came: how long the rest of the output may take
    while True:
        received = len(stdout) + len(stderr)
        while channel.recv_ready():
            stdout += channel.recv(65536)
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            # sshd may send the exit status before the last of the output it still buffers: the
            # output is complete only at EOF. A daemon the command started can hold the output
            # open for ever, though, so EOF is awaited only while output still flows.
            if channel.eof_received or channel.closed:
                break
            now = time.monotonic()
            if drained_by is None or len(stdout) + len(stderr) > received:
                drained_by = now + OUTPUT_GRACE
            if now > drained_by:
                break
        if channel.closed and not channel.exit_status_ready():
            raise EOFError("channel closed before the command exited")
        if deadline and time.monotonic() > deadline:
            channel.close()
            stderr += f"\nprovision: command timed out after {timeout:g}s".encode()
            return TIMEOUT_RC, bytes(stdout), bytes(stderr)
        if channel.eof_received:
            channel.status_event.wait(0.2)  # output is complete; only the exit status is missing
        else:
            select.select([channel], [], [], 0.2)
    status = channel.recv_exit_status()
    # No exit status (-1): either the connection died under the command (the host is lost), or
    # sshd sent `exit-signal` (paramiko keeps no status for it): the command was killed.
    lost = status == -1 and not _active(channel.get_transport())
    channel.close()
    if lost:
        raise ConnectionLost("the connection closed before the command finished")
    if status == -1:
        stderr += b"\nprovision: the command was killed by a signal (no exit status)"
    return status, bytes(stdout), bytes(stderr)


def _real_cause(error: BaseException, transport: paramiko.Transport | None) -> BaseException:
    """paramiko can give up on a session ("No existing session") before its transport thread has
    saved why (a banner timeout, a reset): wait a moment for that thread and take its reason."""
    if transport is None or "No existing session" not in str(error):
        return error
    transport.join(2)
    return getattr(transport, "saved_exception", None) or error


def _active(transport: paramiko.Transport | None) -> bool:
    return transport is not None and transport.is_active()


class _Transient(ConnectionFailed):
    """A failure to connect that trying again may clear (see SSHTransport.open)."""


_TRANSIENT_ERRNOS = {errno.EHOSTUNREACH, errno.ECONNRESET, errno.ECONNABORTED}


def _transient(error: BaseException, transport: paramiko.Transport | None = None) -> bool:
    """Whether the failure may clear by itself within a second: no ARP answer (EHOSTUNREACH from
    the local stack), a reset, or an sshd that hung up or did not greet (MaxStartups, load). A
    hang-up after the greeting is the server's answer (too many authentication failures...): final."""
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return all(_transient(each) for each in error.errors.values())
    if isinstance(error, paramiko.AuthenticationException | paramiko.BadHostKeyException):
        return False
    if transport is not None and getattr(transport, "remote_version", ""):
        return False  # it greeted: what followed is its answer
    if isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS:
        return True
    return "protocol banner" in str(error) or isinstance(error, EOFError) or "No existing session" in str(error)


class ConnectionLost(EOFError):
    """The SSH connection ended while a command ran: the host is unreachable, not the task failed."""


def known_host_keys(path: str, name: str) -> list[paramiko.PKey]:
    """The keys `path` lists for `name` (an address, or "[address]:port" as OpenSSH writes it).

    Each connection used to load the whole file: with N hosts in it, a run of N hosts held N*N
    parsed keys (a thousand hosts: a million, about 0.5 MiB per host). The file is parsed once per
    process and version of it (its mtime and size: accept-new appends to it) and indexed by name.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ConnectionFailed(f"cannot read known_hosts file {path}: {error}") from None
    plain, hashed = _KNOWN_HOSTS.get(path, (stat.st_mtime_ns, stat.st_size))
    keys = list(plain.get(name, ()))
    keys += [key for pattern, key in hashed if paramiko.HostKeys.hash_host(name, pattern) == pattern]
    return keys


class _KnownHostsIndex:
    """Parsed known_hosts files, each version (path, mtime, size) parsed once and shared read-only
    by every connection of the process. Parsing holds a lock: a thousand connections opening at
    once would otherwise each parse the file before the first one cached it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[str, tuple[tuple[int, int], dict[str, list[paramiko.PKey]],
                                      list[tuple[str, paramiko.PKey]]]] = {}

    def get(self, path: str, version: tuple[int, int]) -> tuple[dict[str, list[paramiko.PKey]],
                                                                list[tuple[str, paramiko.PKey]]]:
        """({plain name: keys}, [(hashed name, key)]) of that version of the file."""
        with self._lock:
            known = self._parsed.get(path)
            if known is None or known[0] != version:
                known = (version, *self._parse(path))
                self._parsed[path] = known  # an older version is dropped, not kept beside it
            return known[1], known[2]

    @staticmethod
    def _parse(path: str):
        parsed = paramiko.HostKeys()
        load_known_hosts(parsed, path)
        plain: dict[str, list[paramiko.PKey]] = {}
        hashed: list[tuple[str, paramiko.PKey]] = []
        for entry in parsed._entries:  # paramiko keeps its entries here; HostKeys has no public iterator of them
            for hostname in entry.hostnames:
                if hostname.startswith("|1|"):
                    hashed.append((hostname, entry.key))
                else:
                    plain.setdefault(hostname, []).append(entry.key)
        return plain, hashed


_KNOWN_HOSTS = _KnownHostsIndex()  # a parse memo of files, like a cache of imports: not run state


def load_known_hosts(keys: paramiko.HostKeys, path: str) -> None:
    """Load one known_hosts file; a file paramiko cannot parse is a clear error, not a traceback."""
    try:
        keys.load(path)
    except UnicodeDecodeError as error:
        raise ConnectionFailed(f"cannot read known_hosts file {path}: byte {error.start} is not UTF-8 "
                               "(is it a known_hosts file?)") from None
    except paramiko.hostkeys.InvalidHostKey as error:
        line = str(error.line)[:60] if getattr(error, "line", None) else ""
        raise ConnectionFailed(f"cannot read known_hosts file {path}: a line holds no valid key "
                               f"({line!r}...)") from None
    except (OSError, paramiko.SSHException, ValueError) as error:
        raise ConnectionFailed(f"cannot read known_hosts file {path}: {error}") from None


_SOCKET_ERRORS = {
    errno.ECONNREFUSED: "connection refused: nothing listens on port {port} (is sshd running?)",
    errno.EHOSTUNREACH: "no route to host (is it up, is the address right?)",
    errno.ENETUNREACH: "network unreachable (no route to {address})",
    errno.ECONNRESET: "the host reset the connection before the SSH greeting",
    errno.ETIMEDOUT: "timed out: no answer from {address} (host down or a firewall drops packets)",
}


def connect_error(error: BaseException, settings: SSHSettings, timeout: float) -> str:
    """What went wrong when connecting, in the terms a user acts on (not paramiko's words)."""
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        error = next(iter(error.errors.values()))
    if isinstance(error, paramiko.PasswordRequiredException):
        return f"the private key is encrypted ({error}); load it into ssh-agent first"
    if isinstance(error, paramiko.AuthenticationException):
        keys = ", ".join(settings.key_filenames) or "the SSH agent's and the default ~/.ssh keys"
        return (f"the server rejected user {settings.user!r} (tried {keys}); is the public key in that "
                f"user's ~/.ssh/authorized_keys?")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s: no answer (host down, wrong address, or a firewall drops packets)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name {settings.address!r} ({error.strerror})"
    if isinstance(error, OSError) and error.errno in _SOCKET_ERRORS:
        return _SOCKET_ERRORS[error.errno].format(port=settings.port, address=settings.address)
    if isinstance(error, FileNotFoundError):
        return f"file not found: {error.filename}"
    text = str(error)
    if "protocol banner" in text and isinstance(error.__context__, (socket.timeout, TimeoutError)):
        return (f"timed out after {timeout:g} s waiting for the SSH server's greeting (sshd overloaded, "
                "or not an SSH server on that port)")
    if "protocol banner" in text or isinstance(error, EOFError):
        return ("the SSH server closed the connection before its greeting (sshd starting or stopping, "
                "MaxStartups reached, or not an SSH server)")
    return text or type(error).__name__
