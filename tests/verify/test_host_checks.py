"""The host-side checks read by the gpu_verify module: real nvidia-smi output formats in, checks out.

Fixtures are recorded formats (tests/verify/fixtures): `nvidia-smi nvlink -s` on an HGX H100 and on a
V100 with two links down, `nvidia-smi -q` Fabric sections (Completed, In Progress, N/A on an A40),
`--query-gpu` / `--query-remapped-rows` CSV, and journalctl / dmesg Xid lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from provision.gpu import host_checks as hc

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def ok(text: str) -> tuple[str, int]:
    return text, 0


HEALTHY_GPUS = "0, 00000000:18:00.0, Enabled, Enabled, 0, [N/A]\n1, 00000000:2A:00.0, Enabled, Enabled, 0, [N/A]\n"
HEALTHY_REMAP = "00000000:18:00.0, 0, 0\n00000000:2A:00.0, 0, 0\n"


def host_output(**overrides) -> str:
    """What read_command prints on a host, section by section; overrides give (text, rc)."""
    sections = {"gpus": ok(HEALTHY_GPUS), "remap": ok(HEALTHY_REMAP), "nvlink": ok(fixture("nvlink_h100.txt")),
                "query": ok(fixture("query_h100_fabric_completed.txt")), "xid": ok("source=journalctl\n")}
    sections.update(overrides)
    return "".join(f"{hc.MARK} {name}\n{text.rstrip()}\n{hc.MARK} rc={rc}\n" for name, (text, rc) in sections.items())


def statuses(output: str, **keywords) -> dict[str, dict]:
    options = {"judged": True, "nvswitch_count": 4, "xid_ignore": [43, 45], **keywords}
    return {check["name"]: check for check in hc.judge_host(output, **options)}


def test_a_healthy_hgx_passes_every_host_check():
    checks = statuses(host_output())
    assert set(checks) == set(hc.HOST_CHECKS)
    assert {name: check["status"] for name, check in checks.items()} == {name: "pass" for name in hc.HOST_CHECKS}
    assert checks["nvlink_state"]["value"] == {"GPU 0": 18, "GPU 1": 18}
    assert all(check["floor"] for check in checks.values())


def test_the_read_command_sections_round_trip():
    sections = hc.split_sections(host_output(nvlink=("boom", 3)))
    assert sections["nvlink"] == ("boom", 3) and sections["gpus"][0].startswith("0, 00000000:18:00.0")
    command = hc.read_command()
    assert "--query-remapped-rows=gpu_bus_id,remapped_rows.pending,remapped_rows.failure" in command
    assert "ecc.errors.uncorrected.volatile.total" in command and "journalctl -k -b" in command


@pytest.mark.parametrize("name, override, words", [
    ("persistence_mode", {"gpus": ok(HEALTHY_GPUS.replace("Enabled, Enabled, 0", "Disabled, Enabled, 0", 1))},
     "not Enabled on GPU 0"),
    ("ecc_errors", {"gpus": ok(HEALTHY_GPUS.replace("Enabled, 0, [N/A]\n1", "Enabled, 2, [N/A]\n1"))},
     "GPU 0: 2 uncorrected ECC"),
    ("ecc_errors", {"gpus": ok("0, 00000000:06:00.0, Enabled, Enabled, 0, Yes\n")}, "retired pages pending"),
    ("row_remap", {"remap": ok("00000000:18:00.0, 1, 0\n00000000:2A:00.0, 0, 0\n")}, "row remapping pending"),
    ("row_remap", {"remap": ok("00000000:18:00.0, No, Yes\n")}, "remapping failed"),
    ("nvlink_state", {"nvlink": ok(fixture("nvlink_v100_inactive.txt"))}, "GPU 3 link(s) 3, 5 inactive (4 of 6 up)"),
    ("fabric_state", {"query": ok(fixture("query_h100_fabric_in_progress.txt"))}, "State In Progress, Status N/A"),
    ("fabric_state", {"query": ok(fixture("query_a40_no_fabric.txt"))}, "State N/A"),
    ("xid_errors", {"xid": ok(fixture("xid_journal.txt"))}, "Xid 79 on 0000:18:00: pid='<unknown>'"),
    ("xid_errors", {"xid": ("source=none\n", 1)}, "could not be read"),
    ("persistence_mode", {"gpus": ('Field "ecc.errors.uncorrected.volatile.total" is not a valid field to query.', 2)},
     "failed (rc=2): Field"),
    ("nvlink_state", {"nvlink": ("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.", 2)},
     "rc=2"),
])
def test_each_host_check_fails_on_a_broken_host(name, override, words):
    check = statuses(host_output(**override))[name]
    assert check["status"] == "fail", check
    assert words in check["detail"] and check["remedy"]


def test_xid_counts_only_codes_not_ignored():
    check = statuses(host_output(xid=ok(fixture("xid_journal.txt"))))["xid_errors"]
    assert check["value"] == [79] and "1 Xid event(s)" in check["detail"]
    benign = statuses(host_output(xid=ok(fixture("xid_dmesg_benign.txt"))))["xid_errors"]
    assert benign["status"] == "pass" and "1 ignored" in benign["detail"] and "dmesg" in benign["detail"]
    strict = statuses(host_output(xid=ok(fixture("xid_dmesg_benign.txt"))), xid_ignore=[])["xid_errors"]
    assert strict["status"] == "fail"


def test_a_pcie_board_passes_nvlink_and_fabric_without_nvswitch():
    checks = statuses(host_output(nvlink=ok(fixture("nvlink_pcie_no_bridge.txt")),
                                  query=ok(fixture("query_a40_no_fabric.txt"))), nvswitch_count=0)
    assert checks["nvlink_state"]["status"] == "pass" and "PCIe only" in checks["nvlink_state"]["detail"]
    assert checks["fabric_state"]["status"] == "pass"
    # the same all-inactive links on an NVSwitch board are a failure
    hgx = statuses(host_output(nvlink=ok(fixture("nvlink_pcie_no_bridge.txt"))), nvswitch_count=4)
    assert hgx["nvlink_state"]["status"] == "fail"


def test_a_host_not_required_to_have_a_gpu_skips_every_host_check():
    """The sandbox: a stand-in nvidia-smi that knows none of these queries must not fail the host."""
    refused = ("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.", 2)
    output = host_output(gpus=refused, remap=refused, nvlink=refused, query=refused, xid=("source=none\n", 1))
    checks = hc.judge_host(output, judged=False, nvswitch_count=4, xid_ignore=[])
    assert {check["status"] for check in checks} == {"skip"}
    assert all("not judged" in check["detail"] and check["remedy"] for check in checks)


def test_parsers_read_the_real_formats():
    nvlink = hc.parse_nvlink(fixture("nvlink_v100_inactive.txt"))
    assert nvlink[0]["index"] == 3 and nvlink[0]["name"] == "Tesla V100-SXM2-32GB"
    assert nvlink[0]["links"][3] == "<inactive>" and nvlink[0]["links"][0] == "25.781 GB/s"
    fabric = hc.parse_fabric(fixture("query_h100_fabric_completed.txt"))
    assert fabric == [{"address": "00000000:18:00.0", "state": "Completed", "status": "Success"},
                      {"address": "00000000:2A:00.0", "state": "Completed", "status": "Success"}]
    source, events = hc.parse_xid(fixture("xid_journal.txt"))
    assert source == "journalctl" and [event["code"] for event in events] == [79, 43]
