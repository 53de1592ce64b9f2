"""timezone (community.general's) over real SSH on a host without systemd: /etc/localtime and
/etc/timezone replaced whole, converged on a second run, a zone the host lacks refused before
anything changes, the old zone put back."""
import pytest

from tests.conftest import run_module, ssh

HOST = "host02"
ZONE = ("readlink /etc/localtime; cat /etc/timezone; date +%Z; "
        "ls -a /etc | grep -c -e '^.localtime.provision$' -e '^.timezone.provision$'; true")


@pytest.mark.sandbox
def test_the_zone_is_set_by_its_files_and_converges(sandbox, module_context):
    before = ssh(sandbox, HOST, ZONE).stdout
    assert before.splitlines()[:2] == ["/usr/share/zoneinfo/Etc/UTC", "Etc/UTC"], before
    try:
        moved = run_module("timezone", {"name": "Europe/Berlin"}, module_context(HOST))
        assert moved.status == "changed", moved.msg
        assert moved.data["diff"] == {"before": {"name": "Etc/UTC"}, "after": {"name": "Europe/Berlin"}}
        assert ssh(sandbox, HOST, ZONE).stdout.split("\n")[:4] == [
            "/usr/share/zoneinfo/Europe/Berlin", "Europe/Berlin", "CET", "0"], "no temporary file left"
        assert run_module("timezone", {"name": "Europe/Berlin"}, module_context(HOST)).status == "ok"
        unknown = run_module("timezone", {"name": "Mars/Olympus"}, module_context(HOST))
        assert (unknown.status, unknown.msg) == ("failed", "timezone: Mars/Olympus is not in this host's tz "
                                                           "database (/usr/share/zoneinfo/Mars/Olympus is missing)")
        assert ssh(sandbox, HOST, "cat /etc/timezone").stdout == "Europe/Berlin\n"
    finally:
        assert run_module("timezone", {"name": "Etc/UTC"}, module_context(HOST)).status in ("changed", "ok")
    assert ssh(sandbox, HOST, ZONE).stdout == before
