"""`provision sandbox up --password-only`: hosts that take only a root password, like a server fresh
from the rack, so onboarding can be rehearsed with the command line alone (tests/test_onboard.py
runs the whole onboarding)."""
from __future__ import annotations

import os
import subprocess

import paramiko
import pytest

from tests.engine.scenario import PROVISION

pytestmark = pytest.mark.sandbox


def test_password_only_hosts_refuse_the_key_and_take_the_password():
    name = f"pt{os.getpid()}pw"
    environment = {**os.environ, "REHEARSAL_PASSWORD": "rack-fresh-7"}
    up = subprocess.run([PROVISION, "sandbox", "up", "--name", name, "--hosts", "1", "--password-only",
                         "--password-env", "REHEARSAL_PASSWORD"], capture_output=True, text=True, timeout=300,
                        env=environment)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "root logs in with the password $REHEARSAL_PASSWORD" in up.stdout
        assert "rack-fresh-7" not in up.stdout, "a password given in a variable is never printed"
        inventory = up.stdout.strip().splitlines()[-1]
        folder = os.path.dirname(inventory)
        key = subprocess.run(["ssh", "-F", os.path.join(folder, "ssh_config"), "-o", "BatchMode=yes", "-l", "root",
                              "host01", "true"], capture_output=True, text=True, timeout=60)
        assert key.returncode == 255 and "Permission denied" in key.stderr, "the sandbox's key no longer works"
        address = next(line.split()[1] for line in open(os.path.join(folder, "ssh_config"))
                       if line.strip().startswith("HostName"))
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a throwaway host of this test
        client.connect(address, username="root", password="rack-fresh-7", look_for_keys=False, allow_agent=False,
                       timeout=20)
        _, stdout, _ = client.exec_command("id -un")
        assert stdout.read().decode().strip() == "root"
        client.close()
    finally:
        subprocess.run([PROVISION, "sandbox", "down", "--name", name], capture_output=True, timeout=300)
