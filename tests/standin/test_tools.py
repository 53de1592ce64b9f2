"""The stand-in nvidia-smi, nvidia-ctk and module state, run here against a fake root folder.

The same perl and sh files run on sandbox hosts (tests/standin/test_on_hosts.py); here each case
is fast and shows exactly what a role would read.
"""
from __future__ import annotations

import json

import pytest

from tests.standin.fakeroot import FakeRoot

QUERY = "--query-gpu=index,name,pci.bus_id,driver_version,compute_cap,memory.total"
NOT_LOADED = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.")


@pytest.fixture
def host(tmp_path):
    return FakeRoot(tmp_path)


# ---- the simulated module ------------------------------------------------------------------
def test_installed_module_is_loaded_only_after_a_reboot(host):
    host.install_module("580.95.05")
    smi = host.run("nvidia-smi", "-L")
    assert (smi.returncode, smi.stdout.strip()) == (9, NOT_LOADED)
    assert host.module("status").stdout == "installed: 580.95.05\nloaded: none\nreboot required: yes\n"
    host.reboot()
    assert host.module("loaded-version").stdout == "580.95.05\n"
    assert host.read("/run/nvidia-standin/sys/module/nvidia/version") == "580.95.05\n"
    assert "Open Kernel Module" in host.read("/run/nvidia-standin/proc/driver/nvidia/version")
    assert host.run("nvidia-smi", "-L").stdout.startswith("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-")


def test_upgrade_keeps_the_old_module_until_reboot_and_smi_reports_the_mismatch(tmp_path):
    host = FakeRoot(tmp_path, branch="580")
    host.install_module("550.163.01")
    host.reboot()
    host.install_module("580.95.05")  # upgraded in this boot
    smi = host.run("nvidia-smi", "-L")
    assert smi.returncode == 18
    assert smi.stdout == "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.95\n"
    assert host.module("loaded-version").stdout == "550.163.01\n"
    host.reboot()
    assert host.run("nvidia-smi", "-L").returncode == 0


def test_removed_module_stays_loaded_until_reboot_then_is_gone(host):
    host.install_module("580.95.05")
    host.reboot()
    host.module("record", "none")
    assert host.module("loaded-version").stdout == "580.95.05\n"
    host.reboot()
    gone = host.module("loaded-version")
    assert gone.returncode == 1 and gone.stdout == ""
    assert host.module("installed-version").returncode == 1


# ---- nvidia-smi ----------------------------------------------------------------------------
@pytest.fixture
def booted(host):
    host.install_module("580.95.05")
    host.reboot()
    return host


def test_query_gpu_csv_noheader_lists_every_gpu(booted):
    result = booted.run("nvidia-smi", QUERY, "--format=csv,noheader")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 8
    assert lines[0] == "0, NVIDIA H100 80GB HBM3, 00000000:18:00.0, 580.95.05, 9.0, 81559 MiB"
    assert lines[5] == "5, NVIDIA H100 80GB HBM3, 00000000:AB:00.0, 580.95.05, 9.0, 81559 MiB"


def test_query_header_units_nounits_and_id_selection(booted):
    result = booted.run("nvidia-smi", "--query-gpu=index,memory.total,pci.device_id", "--format=csv,nounits", "-i", "1,7")
    assert result.stdout == "index, memory.total [MiB], pci.device_id\n1, 81559, 0x233010DE\n7, 81559, 0x233010DE\n"


def test_unknown_field_and_bad_arguments_fail_like_nvidia_smi(booted):
    field = booted.run("nvidia-smi", "--query-gpu=index,bogus", "--format=csv")
    assert (field.returncode, field.stdout.strip()) == (2, 'Field "bogus" is not a valid field to query.')
    assert booted.run("nvidia-smi", "--frobnicate").returncode == 2


def test_plain_table_and_version_say_stand_in(booted):
    table = booted.run("nvidia-smi").stdout
    assert "Driver Version: 580.95.05" in table and "CUDA Version: 13.0" in table
    assert "STAND-IN for tests: not NVIDIA software" in table
    assert table.count("NVIDIA H100 80GB HBM3") == 8
    widths = {len(line) for line in table.splitlines()[1:] if line}
    assert widths == {91}, "every table line has the real table's width"
    version = booted.run("nvidia-smi", "--version").stdout
    assert "DRIVER version      : 580.95.05" in version and "STAND-IN" in version


def test_no_description_means_no_devices(tmp_path):
    host = FakeRoot(tmp_path, profile=None)
    host.install_module("580.95.05")
    host.reboot()
    result = host.run("nvidia-smi", "-L")
    assert (result.returncode, result.stdout) == (6, "No devices were found\n")


def test_persistence_mode_set_by_pm_lasts_until_reboot(booted):
    assert booted.run("nvidia-smi", "--query-gpu=persistence_mode", "--format=csv,noheader", "-i", "0").stdout == "Disabled\n"
    assert booted.run("nvidia-smi", "-pm", "1").stdout.endswith("All done.\n")
    assert booted.run("nvidia-smi", "--query-gpu=persistence_mode", "--format=csv,noheader", "-i", "0").stdout == "Enabled\n"
    booted.reboot()
    assert booted.run("nvidia-smi", "--query-gpu=persistence_mode", "--format=csv,noheader", "-i", "0").stdout == "Disabled\n"


# ---- nvidia-ctk ----------------------------------------------------------------------------
EXISTING = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "data-root": "/srv/docker",
            "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536}}, "live-restore": True,
            "runtimes": {"crun": {"path": "/usr/bin/crun"}}, "registry-mirrors": ["http://10.0.0.1:5000"]}
NVIDIA_RUNTIME = {"args": [], "path": "nvidia-container-runtime"}


def test_runtime_configure_merges_keeps_other_keys_and_is_idempotent(host):
    host.write("/etc/docker/daemon.json", json.dumps(EXISTING))
    first = host.run("nvidia-ctk", "runtime", "configure", "--runtime=docker", "--set-as-default")
    assert first.returncode == 0, first.stderr
    assert "INFO[0000] Wrote updated config to /etc/docker/daemon.json" in first.stderr
    merged = json.loads(host.read("/etc/docker/daemon.json"))
    assert merged == {**EXISTING, "runtimes": {"crun": {"path": "/usr/bin/crun"}, "nvidia": NVIDIA_RUNTIME},
                      "default-runtime": "nvidia"}
    text = host.read("/etc/docker/daemon.json")
    assert text.startswith('{\n    "data-root": "/srv/docker",\n'), "sorted keys, four-space indent, as nvidia-ctk writes"
    again = host.run("nvidia-ctk", "runtime", "configure", "--runtime", "docker", "--set-as-default")
    assert again.returncode == 0 and host.read("/etc/docker/daemon.json") == text


def test_runtime_configure_creates_the_file_and_sets_no_default_unless_asked(host):
    result = host.run("nvidia-ctk", "runtime", "configure", "--runtime=docker", "--config=/etc/docker/other.json")
    assert result.returncode == 0, result.stderr
    assert json.loads(host.read("/etc/docker/other.json")) == {"runtimes": {"nvidia": NVIDIA_RUNTIME}}


def test_runtime_configure_cdi_and_dry_run(host):
    host.write("/etc/docker/daemon.json", '{"features": {"buildkit": true}}')
    dry = host.run("nvidia-ctk", "runtime", "configure", "--runtime=docker", "--cdi.enabled", "--dry-run")
    assert json.loads(dry.stdout) == {"features": {"buildkit": True, "cdi": True}, "runtimes": {"nvidia": NVIDIA_RUNTIME}}
    assert host.read("/etc/docker/daemon.json") == '{"features": {"buildkit": true}}', "dry run writes nothing"


def test_runtime_configure_refuses_broken_json_and_other_runtimes(host):
    host.write("/etc/docker/daemon.json", '{"log-driver": ')
    broken = host.run("nvidia-ctk", "runtime", "configure", "--runtime=docker")
    assert broken.returncode == 1 and "unable to load config" in broken.stderr
    assert host.read("/etc/docker/daemon.json") == '{"log-driver": '
    assert host.run("nvidia-ctk", "runtime", "configure", "--runtime=containerd").returncode == 1


def test_cdi_generate_needs_the_driver_then_names_every_gpu(host):
    failed = host.run("nvidia-ctk", "cdi", "generate", "--output=/etc/cdi/nvidia.yaml")
    assert failed.returncode == 1 and "failed to initialize NVML" in failed.stderr
    host.install_module("580.95.05")
    host.reboot()
    assert host.run("nvidia-ctk", "cdi", "generate", "--output=/etc/cdi/nvidia.yaml").returncode == 0
    spec = host.read("/etc/cdi/nvidia.yaml")
    assert "kind: nvidia.com/gpu" in spec and 'name: "7"' in spec and "name: all" in spec
    assert "libcuda.so.580.95.05" in spec, "the spec names the loaded driver's libraries, so it goes stale on upgrade"
    listed = host.run("nvidia-ctk", "cdi", "list")
    assert "Found 17 CDI devices" in listed.stderr and "nvidia.com/gpu=all" in listed.stdout


def test_ctk_version(host):
    assert host.run("nvidia-ctk", "--version").stdout.startswith("NVIDIA Container Toolkit CLI version 1.17.8\n")


# ---- the kernel's version files --------------------------------------------------------------
def test_proc_version_has_the_kernels_formats_for_each_flavour(host):
    import platform
    machine = platform.machine()
    host.install_module("580.95.05", "open")
    host.reboot()
    host.module("boot")  # what the sandbox runs before a host starts
    lines = host.read("/run/nvidia-standin/proc/driver/nvidia/version").splitlines()
    assert lines[0].startswith(f"NVRM version: NVIDIA UNIX Open Kernel Module for {machine}  580.95.05  Release Build  (")
    assert lines[1].startswith("GCC version:  gcc version ") and len(lines) == 2
    host.install_module("535.161.08", "proprietary")
    host.reboot()
    host.module("boot")
    line = host.read("/run/nvidia-standin/proc/driver/nvidia/version").splitlines()[0]
    assert line.startswith(f"NVRM version: NVIDIA UNIX {machine} Kernel Module  535.161.08  ")
    assert host.read("/run/nvidia-standin/sys/module/nvidia/version") == "535.161.08\n"


# ---- persistence mode and fabric state as nvidia-smi reports them ------------------------------
def _fake_daemon(host, pidfile: str, extra: dict[str, str]) -> None:
    import os
    host.write(pidfile, f"{os.getpid()}\n")  # a live PID stands for the daemon
    for path, text in extra.items():
        host.write(path, text)


def test_persistence_mode_follows_the_running_daemons_mode(booted):
    query = ("--query-gpu=persistence_mode", "--format=csv,noheader", "-i", "0")
    _fake_daemon(booted, "/var/run/nvidia-persistenced/nvidia-persistenced.pid",
                 {"/var/run/nvidia-persistenced/persistence-mode": "Disabled\n"})
    assert booted.run("nvidia-smi", *query).stdout == "Disabled\n"
    assert "Persistence Mode                      : Disabled" in booted.run("nvidia-smi", "-q").stdout
    assert "    Off  |" in booted.run("nvidia-smi").stdout
    booted.write("/var/run/nvidia-persistenced/persistence-mode", "Enabled\n")
    assert booted.run("nvidia-smi", *query).stdout == "Enabled\n"
    assert "     On  |" in booted.run("nvidia-smi").stdout
    booted.write("/var/run/nvidia-persistenced/nvidia-persistenced.pid", "999999999\n")  # daemon gone
    assert booted.run("nvidia-smi", *query).stdout == "Disabled\n"


def test_fabric_state_waits_for_a_fabric_manager_of_the_loaded_version(booted):
    def fabric() -> list[str]:
        report = booted.run("nvidia-smi", "-q", "-i", "0").stdout.splitlines()
        at = report.index("    Fabric")
        return report[at + 1:at + 3]
    assert fabric() == ["        State                             : In Progress",
                        "        Status                            : N/A"]
    _fake_daemon(booted, "/var/run/nvidia-fabricmanager/nv-fabricmanager.pid",
                 {"/var/run/nvidia-fabricmanager/version": "580.95.05\n"})
    assert fabric() == ["        State                             : Completed",
                        "        Status                            : Success"]
    booted.write("/var/run/nvidia-fabricmanager/version", "550.163.01\n")
    assert fabric()[0].endswith(": In Progress")


def test_fabric_state_is_na_without_nvswitches(tmp_path):
    host = FakeRoot(tmp_path, profile="a100x1")
    host.install_module("580.95.05")
    host.reboot()
    report = host.run("nvidia-smi", "-q").stdout
    assert "        State                             : N/A\n" in report
    assert "Product Architecture                  : Ampere" in report and "STAND-IN" in report


# ---- the init script: what systemd would start --------------------------------------------------
DROP_IN = "[Service]\nExecStart=\nExecStart=/usr/bin/nvidia-persistenced --user root --persistence-mode --verbose\n"


@pytest.mark.parametrize("distro, default", [
    ("ubuntu2204", "/usr/bin/nvidia-persistenced --user root --no-persistence-mode --verbose"),
    ("debian12", "/usr/bin/nvidia-persistenced --verbose")])
def test_init_script_runs_the_units_exec_start_as_drop_ins_override_it(tmp_path, distro, default):
    host = FakeRoot(tmp_path, distro=distro)
    owner = next(name for name, spec in host.packages.items()
                 if any(file.destination == "/etc/init.d/nvidia-persistenced" for file in spec.files))
    host.install_file(owner, "/etc/init.d/nvidia-persistenced")
    host.install_file(owner, "/lib/systemd/system/nvidia-persistenced.service")
    assert host.sh("/etc/init.d/nvidia-persistenced", "exec-start").stdout == default + "\n"
    host.write("/etc/systemd/system/nvidia-persistenced.service.d/override.conf", DROP_IN)
    assert host.sh("/etc/init.d/nvidia-persistenced", "exec-start").stdout == \
        "/usr/bin/nvidia-persistenced --user root --persistence-mode --verbose\n"
    host.write("/etc/systemd/system/nvidia-persistenced.service.d/zz-second.conf",
               "[Service]\nExecStart=/usr/bin/nvidia-persistenced --verbose\n")
    refused = host.sh("/etc/init.d/nvidia-persistenced", "exec-start")
    assert refused.returncode == 1 and "more than one ExecStart=" in refused.stderr


# ---- lspci --------------------------------------------------------------------------------------
def test_seeded_lspci_prints_what_real_lspci_prints(host):
    import os
    lspci = os.path.join(host.folder, "usr/bin/lspci")
    def run(*args):
        return host._run(["perl", lspci, *args])
    assert run("-Dnn", "-d", "10de:").stdout == host.read("/etc/nvidia-standin/lspci-Dnn-d-10de.txt")
    assert run().stdout.splitlines()[4] == "18:00.0 3D controller: NVIDIA Corporation GH100 [H100 SXM5 80GB] (rev a1)"
    assert run("-n", "-d", "::0680").stdout.splitlines() == [f"{bus}:00.0 0680: 10de:22a3 (rev a1)" for bus in ("05", "06", "07", "08")]
    assert run("-D", "-d", "10de:2330").stdout.count("\n") == 8
    assert run("-x").returncode == 2
