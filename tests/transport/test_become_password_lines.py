"""A wrong become password is tried by sudo alone: the command's stdin never becomes an attempt.

sudo -S reads a new line for each retry after a wrong password. Before the retry lines, the
marker and then the first line of the task's stdin (a file being written) were read as the 2nd and
3rd attempts: content reached PAM, and content that happened to be the user's password let sudo in.
"""
from __future__ import annotations

import pytest

from provision.errors import BecomeFailed
from provision.transport.base import Become
from tests.conftest import connect

pytestmark = pytest.mark.sandbox

DEPLOY_PASSWORD = "sandbox"  # the sandbox's `deploy` user: sudo asks for this password


def test_stdin_is_never_read_as_a_password_attempt(sandbox):
    transport = connect(sandbox, "host03", user="deploy")
    try:
        with pytest.raises(BecomeFailed, match="rejected the become password"):
            transport.run("cat > /dev/null; id -u", stdin=f"{DEPLOY_PASSWORD}\nmore content\n",
                          become=Become("root", "not-the-password"))
        right = transport.run("cat; id -u", stdin=f"{DEPLOY_PASSWORD}\nmore content\n",
                              become=Become("root", DEPLOY_PASSWORD))
        # the whole stdin reached the command (the password in it is scrubbed from output, as always)
        assert (right.rc, right.stdout) == (0, "********\nmore content\n0\n")
    finally:
        transport.close()
