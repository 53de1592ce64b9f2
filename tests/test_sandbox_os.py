"""`provision sandbox up --os`: hosts present as Ubuntu 22.04/24.04 or Debian 12 to facts and roles,
and the shared image underneath keeps its own identity."""
from __future__ import annotations

import os

import pytest

from provision.errors import SandboxError
from provision.sandbox import Sandbox
from provision.sandbox.os_identity import os_identity
from tests.conftest import connect, ssh, throwaway_sandbox

pytestmark = pytest.mark.sandbox


def test_an_unknown_os_is_refused_before_anything_is_made():
    with pytest.raises(SandboxError, match="ubuntu22.04"):
        Sandbox.up("pt-never", os_name="fedora40")
    assert os_identity("ubuntu24.04").cuda_repo == "ubuntu2404"


def test_hosts_present_as_ubuntu_and_facts_follow():
    from provision.facts import gather_facts

    with throwaway_sandbox("xu", hosts=1, os_name="ubuntu24.04") as fleet:
        release = ssh(fleet, "host01", "cat /etc/os-release /etc/lsb-release").stdout
        assert 'VERSION_ID="24.04"' in release and "DISTRIB_CODENAME=noble" in release
        transport = connect(fleet)
        try:
            facts = gather_facts(transport)
        finally:
            transport.close()
        assert (facts["ansible_distribution"], facts["ansible_distribution_version"],
                facts["ansible_distribution_release"], facts["ansible_os_family"]) == ("Ubuntu", "24.04", "noble", "Debian")
        base = fleet.image_root.split(":")[-1]
        with open(os.path.join(base, "usr", "lib", "os-release")) as handle:
            assert "ID=debian" in handle.read(), "the shared image is untouched"
        # Ubuntu's restricted component is a source, as on a real Ubuntu server: the stand-in's
        # noble-updates, signed with the key seeded beside it
        source = ssh(fleet, "host01", "cat /etc/apt/sources.list.d/ubuntu-archive-standin.sources").stdout
        assert source.startswith("# STAND-IN for tests") and "Suites: noble-updates\nComponents: restricted\n" in source
        update = ssh(fleet, "host01", "rm -f /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; "
                                      "apt-get update && apt-cache policy nvidia-headless-580-server")
        assert "Candidate: 580.126.20-0ubuntu0.24.04.2" in update.stdout, update.stdout + update.stderr
        assert "NO_PUBKEY" not in update.stderr
