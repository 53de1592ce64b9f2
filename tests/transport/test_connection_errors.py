"""Connection errors in the words a user acts on, against real sandbox hosts and sockets.

paramiko's own words ("[Errno None] Unable to connect to port 22", "Error reading SSH protocol
banner", "Authentication failed.") say neither what happened nor what to do; and a connection
that dies under a command must be a lost host (ConnectionFailed), not a command with an empty
error.
"""
from __future__ import annotations

import errno
import socket
import threading
import time

import paramiko
import pytest

from provision.errors import ConnectionFailed
from provision.transport.ssh import RETRY_PAUSE, SSHTransport, _transient
from tests.conftest import connect

pytestmark = pytest.mark.sandbox

# Walks up from the command's shell to the sshd process serving this session and kills it: what
# a crashed sshd, an OOM kill or a dropped network does to a session in flight.
KILL_OWN_SESSION = r"""
p=$$
while [ "$p" -gt 1 ]; do
  case "$(cat /proc/$p/comm)" in sshd*) break;; esac
  p=$(cut -d" " -f4 /proc/$p/stat)
done
[ "$p" -gt 1 ] && kill -9 "$p"
sleep 5
echo survived
"""


def _connect(sandbox, host="host02", **options):
    defaults = dict(user="root", key_filename=sandbox.key_path, known_hosts_files=[sandbox.known_hosts_path])
    return SSHTransport.connect(sandbox.host(host).address, **{**defaults, **options})


def test_a_session_killed_under_a_command_is_a_lost_connection(sandbox):
    transport = connect(sandbox, "host02")
    try:
        with pytest.raises(ConnectionFailed, match=r"connection lost \(the host closed the connection"):
            transport.run(KILL_OWN_SESSION)
        assert transport.run("echo again").stdout == "again\n"  # the next command reconnects
    finally:
        transport.close()


def test_refused_names_the_port(sandbox):
    with pytest.raises(ConnectionFailed, match=r"root@[\d.]+:2: connection refused: nothing listens on port 2 "
                                               r"\(is sshd running\?\)"):
        _connect(sandbox, port=2)


def test_a_rejected_key_names_the_user_and_the_key(sandbox):
    with pytest.raises(ConnectionFailed) as caught:
        _connect(sandbox, user="nosuchuser")
    assert f"the server rejected user 'nosuchuser' (tried {sandbox.key_path})" in str(caught.value)
    assert "Authentication failed." not in str(caught.value)


def test_a_silent_server_times_out_after_the_connect_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        with pytest.raises(ConnectionFailed, match=r"timed out after 1 s waiting for the SSH server's greeting"):
            SSHTransport.connect("127.0.0.1", port=listener.getsockname()[1], user="root",
                                 known_hosts_files=["/dev/null"], connect_timeout=1)
    finally:
        listener.close()


class HangsUp:
    """A TCP server on loopback that closes the first `times` connections before any greeting (what
    sshd does past MaxStartups) and forwards the later ones to `target`, if given, byte for byte."""

    def __init__(self, times: int, target: tuple[str, int] | None = None, greeting: bytes = b""):
        self.times, self.target, self.greeting, self.accepted = times, target, greeting, 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            if self.accepted <= self.times or self.target is None:
                if self.greeting:
                    client.sendall(self.greeting)
                    time.sleep(0.2)  # the client reads the greeting and sends its own before the hang-up
                client.close()
                continue
            upstream = socket.create_connection(self.target, timeout=10)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_a_server_that_hangs_up_before_greeting_says_so():
    server = HangsUp(times=99)
    try:
        with pytest.raises(ConnectionFailed, match=r"closed the connection before its greeting .*\(tried 2 times\)$"):
            SSHTransport.connect("127.0.0.1", port=server.port, user="root",
                                 known_hosts_files=["/dev/null"], connect_timeout=5)
        assert server.accepted == 2  # one retry by default
        with pytest.raises(ConnectionFailed, match=r"before its greeting \(sshd[^)]*\)$"):
            SSHTransport.connect("127.0.0.1", port=server.port, user="root",
                                 known_hosts_files=["/dev/null"], connect_timeout=5, retries=0)
        assert server.accepted == 3  # ansible_ssh_retries: 0 tries once
    finally:
        server.close()


def test_a_hang_up_after_the_greeting_is_final():
    """The server greeted, then closed: its answer (MaxAuthTries, a refused client), not load."""
    server = HangsUp(times=99, greeting=b"SSH-2.0-OpenSSH_9.2p1\r\n")
    try:
        with pytest.raises(ConnectionFailed) as caught:
            SSHTransport.connect("127.0.0.1", port=server.port, user="root",
                                 known_hosts_files=["/dev/null"], connect_timeout=5)
        assert server.accepted == 1 and "tried" not in str(caught.value), str(caught.value)
    finally:
        server.close()


def test_a_hang_up_that_clears_is_tried_again(sandbox, tmp_path):
    """An sshd past MaxStartups hangs up on a new connection; a second later it has room: the
    host is reached, not reported unreachable. A refusal is not tried again (it would repeat)."""
    server = HangsUp(times=1, target=(sandbox.host("host02").address, 22))
    try:
        transport = SSHTransport.connect("127.0.0.1", port=server.port, user="root", key_filename=sandbox.key_path,
                                         known_hosts_files=[str(tmp_path / "known_hosts")],
                                         accept_new_host_keys=True, connect_timeout=5)
        try:
            assert transport.run("echo reached").stdout == "reached\n"
        finally:
            transport.close()
        assert server.accepted == 2
    finally:
        server.close()
    started = time.monotonic()
    with pytest.raises(ConnectionFailed, match=r"connection refused: nothing listens on port 2 \(is sshd running\?\)$"):
        _connect(sandbox, port=2, retries=3)
    assert time.monotonic() - started < RETRY_PAUSE  # no pause: nothing was tried again


def test_an_unknown_name_is_a_resolution_error():
    with pytest.raises(ConnectionFailed, match=r"cannot resolve the host name 'no-such-host\.invalid'"):
        SSHTransport.connect("no-such-host.invalid", user="root", known_hosts_files=["/dev/null"], connect_timeout=2)


@pytest.mark.parametrize("content, message", [
    (b"host01 ssh-ed25519 AAAA\xff\xfe\n", r"byte 23 is not UTF-8"),
    (b"host01 ssh-ed25519 !!!not-base64\n", r"a line holds no valid key \('host01 ssh-ed25519 !!!not-base64'"),
])
def test_a_broken_known_hosts_file_is_a_clear_error(sandbox, tmp_path, content, message):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_bytes(content)
    with pytest.raises(ConnectionFailed, match=rf"cannot read known_hosts file {known_hosts}: {message}"):
        _connect(sandbox, known_hosts_files=[str(known_hosts)])


class _Greeted:
    remote_version = "SSH-2.0-OpenSSH_9.2p1"


@pytest.mark.parametrize("error, transport, expected", [
    (OSError(errno.EHOSTUNREACH, "No route to host"), None, True),  # no ARP answer in time
    (ConnectionResetError(errno.ECONNRESET, "reset"), None, True),
    (paramiko.ssh_exception.NoValidConnectionsError({("10.0.0.1", 22): OSError(errno.EHOSTUNREACH, "x")}), None, True),
    (paramiko.ssh_exception.NoValidConnectionsError({("10.0.0.1", 22): OSError(errno.ECONNREFUSED, "x")}), None, False),
    (paramiko.SSHException("Error reading SSH protocol banner"), None, True),  # sshd busy or MaxStartups
    (EOFError(), None, True),  # hung up before greeting
    (EOFError(), _Greeted(), False),  # hung up after greeting: the server's answer
    (paramiko.SSHException("No existing session"), _Greeted(), False),
    (socket.timeout("timed out"), None, False),  # a silent address: trying again only waits again
    (paramiko.AuthenticationException("Authentication failed."), None, False),
    (socket.gaierror(-2, "Name or service not known"), None, False),
])
def test_which_failures_to_connect_are_tried_again(error, transport, expected):
    assert _transient(error, transport) is expected
