"""The interface every transport implements; modules and facts only ever see this.

A transport runs POSIX shell text on a host and returns a CommandResult. Nothing is ever copied
to the host to run it (no interpreter, no module file): the host needs only sh and coreutils.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class Become:
    """Run as another user through sudo (or su). The password is fed on stdin, never on a command line."""

    user: str = "root"
    password: str | None = None
    method: str = "sudo"  # or "su": the target user's password, for hosts without sudo (DeepOps' bootstrap)


class Transport(ABC):
    """One open connection to one host, reused by every task of a run."""

    name: str
    # Who commands run as without become (the SSH login, this process's user); None when unknown.
    # Knowing it lets root becoming root skip sudo, which a minimal host may not even have.
    user: str | None = None
    # Why provision itself closed the connection (set before close by another thread, e.g. on a
    # second Ctrl-C): a command cut by that close reports this, not "the host closed it".
    closed_reason: str = ""
    # Commands sent to the host: each is an exec channel (a session: sshd forks, the user's shell
    # starts) and a round trip, the unit a converged run's cost is counted in.
    commands_sent: int = 0

    @property
    def local(self) -> bool:
        """True when commands run on the machine running provision (`reboot` must refuse then).

        A wrapper (the runner's prefetch cache) keeps the transport it wraps as `inner` and
        answers for it, so a guard sees through it.
        """
        inner = getattr(self, "inner", None)
        return inner.local if isinstance(inner, Transport) else False

    @abstractmethod
    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        become: Become | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run `command` (shell text, built with provision.shell.join) and wait for it."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; safe to call twice."""


# --- become (sudo), shared by every transport ------------------------------------------------

SUDO_RETRY_LINES = 9  # covers sudoers' passwd_tries up to 10
_SUDO_WRONG_PASSWORD = ("Sorry, try again.", "incorrect password attempt", "no password was provided")
_SUDO_NEEDS_PASSWORD = ("a password is required", "a terminal is required")
_SUDO_NOT_ALLOWED = ("is not in the sudoers file", "is not allowed to execute", "may not run sudo")


@dataclass(frozen=True)
class WrappedCommand:
    """Shell text plus the bytes to send before the caller's stdin (the sudo password)."""

    command: str
    stdin_prefix: bytes = b""
    secret: str | None = None  # scrubbed from any output


def needed_become(become: Become | None, login_user: str | None) -> Become | None:
    """None when the command already runs as the become user (root becoming root).

    sudo would change nothing then, and a minimal host without sudo would fail every task. A
    password does not matter here: no identity changes, so there is nothing to authenticate. When
    the login user is unknown, sudo is kept.
    """
    if become is not None and login_user is not None and become.user == login_user:
        return None
    return become


def wrap_become(command: str, become: Become | None) -> WrappedCommand:
    """Wrap shell text in sudo. The password goes first on stdin, never on the command line.

    The easy thing to get wrong: when sudo does not ask (NOPASSWD, cached credentials) the password
    line would reach the command's stdin. So the password is followed by a random marker line and
    the wrapped shell first discards every line up to that marker: whatever sudo did or did not
    read, the command's stdin starts exactly after the marker (sh `read` takes one byte at a time
    from a pipe, so nothing past the marker is consumed).
    """
    # Imported here: provision.shell has no dependencies, and base stays importable on its own.
    from provision.shell import join

    if become is None:
        return WrappedCommand(command)
    if become.method == "su":
        return _wrap_su(command, become)
    if become.password is None:
        return WrappedCommand(join(["sudo", "-n", "-H", "-u", become.user, "--", "sh", "-c", command]))
    marker, skip_to_marker = _password_marker(become.password, "sudo")
    text = join(["sudo", "-S", "-p", "", "-H", "-u", become.user, "--", "sh", "-c", skip_to_marker + command])
    # sudo -S reads a new line for each retry after a wrong password (3 by default): blank lines
    # take those retries, so neither the marker nor the command's own stdin (a file being
    # written) ever reaches PAM as a password attempt.
    prefix = f"{become.password}\n{SUDO_RETRY_LINES * chr(10)}{marker}\n".encode()
    return WrappedCommand(text, prefix, become.password)


def _password_marker(password: str, program: str) -> tuple[str, str]:
    """A random marker line to send after the password, and the shell text that makes the
    command discard its stdin up to it (see wrap_become), for sudo and su alike."""
    import secrets

    if "\n" in password or "\r" in password:
        from provision.errors import BecomeFailed

        raise BecomeFailed(f"the become password contains a line break, which {program} cannot read")
    marker = "provision-" + secrets.token_hex(12)
    return marker, f'while IFS= read -r provision_line; do [ "$provision_line" = {marker} ] && break; done\n'


def _wrap_su(command: str, become: Become) -> WrappedCommand:
    """`su USER -c 'sh -c ...'`, as Ansible's su: util-linux su reads the password as one line from
    stdin when that is not a terminal (its prompt goes to stderr), and leaves the rest to the
    command. A line is always sent, empty without a password, so the command's own stdin is never
    taken for one; root needs none, and the command skips to the marker as under sudo."""
    from provision.shell import join

    password = become.password or ""
    marker, skip_to_marker = _password_marker(password, "su")
    text = join(["su", become.user, "-c", join(["sh", "-c", skip_to_marker + command])])
    return WrappedCommand(text, f"{password}\n{marker}\n".encode(), become.password or None)


SU_PROMPT = "Password: "
BECOME_METHODS = ("sudo", "su")  # Ansible's others (doas, pbrun, runas...) are refused by name


def _su_refused(result: CommandResult, become: Become, host: str) -> CommandResult:
    from provision.errors import BecomeFailed

    head = result.stderr.strip()
    if result.rc == 1 and head.startswith("su: Authentication failure"):
        if not become.password:
            raise BecomeFailed(f"{host}: su needs the password of {become.user!r}; give it with --ask-become-pass "
                               "or ansible_become_password")
        raise BecomeFailed(f"{host}: su rejected the become password for user {become.user!r} (wrong password?)")
    if result.rc == 1 and head.startswith("su: user ") and head.endswith("does not exist"):
        raise BecomeFailed(f"{host}: {head}")
    return result


def as_bytes(stdin: bytes | str | None) -> bytes:
    if stdin is None:
        return b""
    return stdin.encode() if isinstance(stdin, str) else stdin


def finish_become(result: CommandResult, wrapped: WrappedCommand, become: Become | None, host: str) -> CommandResult:
    """Scrub the password from output and turn sudo's own refusals into BecomeFailed."""
    from provision.errors import BecomeFailed

    stdout, stderr = result.stdout, result.stderr
    if wrapped.secret:
        stdout = stdout.replace(wrapped.secret, "********")
        stderr = stderr.replace(wrapped.secret, "********")
    if become is not None and become.method == "su" and stderr.startswith(SU_PROMPT):
        stderr = stderr[len(SU_PROMPT):]  # su's prompt, written before it read the password line
    result = CommandResult(result.rc, stdout, stderr)
    if become is None or result.rc == 0:
        return result
    if become.method == "su":
        return _su_refused(result, become, host)
    head = stderr.strip()
    if result.rc == 127 and "sudo" in head and "not found" in head:
        raise BecomeFailed(f"{host}: become needs sudo, which is not installed")
    if result.rc != 1:
        return result
    if head.startswith(("Sorry, try again", "sudo:")) and any(text in head for text in _SUDO_WRONG_PASSWORD):
        raise BecomeFailed(f"{host}: sudo rejected the become password for user {become.user!r} (wrong password?)")
    if head.startswith("sudo:") and any(text in head for text in _SUDO_NEEDS_PASSWORD):
        raise BecomeFailed(
            f"{host}: sudo needs a password to become {become.user!r}; "
            "give one with --ask-become-pass or ansible_become_password"
        )
    first_line = head.splitlines()[0] if head else ""
    if any(text in first_line for text in _SUDO_NOT_ALLOWED):
        raise BecomeFailed(f"{host}: sudo refused: {first_line}")
    return result
