"""preflight's decisions as data: given what a host showed, which plans are refused and why."""
from provision.modules.gpu_preflight import assess
from provision.sandbox.standin.gpus import load_description, render_lspci

H100X8 = render_lspci(load_description("h100x8")) + "rc=0"
DEBIAN = {"ansible_distribution": "Debian", "ansible_distribution_version": "12.7"}
ARGS = {"lspci_command": "lspci -Dnn -d 10de:", "driver_branch": "580", "driver_flavour": "auto",
        "image": "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "image_cuda_version": "12.8",
        "image_arch_list": ["sm_80", "sm_90", "compute_90"], "docker_root": "/var/lib/docker",
        "min_free_gb": 30.0, "require_gpu": True, "allow_flavour_switch": False, "secure_boot_signing": False}
UBUNTU2204 = {"ansible_distribution": "Ubuntu", "ansible_distribution_version": "22.04"}
PROPRIETARY_INSTALLED = {"installed": "580.95.05", "installed_flavour": "proprietary", "loaded": "580.95.05",
                         "kernel_modules": [{"name": "nvidia-dkms-580", "version": "580.95.05-0ubuntu1",
                                             "flavour": "proprietary"}]}
SECTIONS = {"lspci": H100X8, "kernel": "6.1.0-25-amd64", "arch": "x86_64", "free_kb": str(200 * 2**20),
            "reboot_required": "no", "secure_boot": "SecureBoot disabled", "end": ""}


def test_a_good_plan_passes_with_the_hosts_facts():
    facts, problems = assess(SECTIONS, ARGS, DEBIAN)
    assert problems == []
    assert facts["gpu_count"] == 8 and facts["nvswitch_count"] > 0
    assert facts["flavour"] == "open" and facts["peak_bf16_tflops"] > 0
    assert all(entry["ok"] for entry in facts["arch_coverage"])


def test_unsupported_os_is_refused_by_name():
    _, problems = assess(SECTIONS, ARGS, {"ansible_distribution": "Fedora", "ansible_distribution_version": "40"})
    assert any("Fedora 40 is not supported" in problem for problem in problems)


def test_driver_too_old_for_the_image():
    _, problems = assess(SECTIONS, {**ARGS, "driver_branch": "550", "image_cuda_version": "13.0"}, DEBIAN)
    assert any("too old for CUDA 13.0" in problem and "remedy" in problem for problem in problems), problems


def test_minor_version_compatibility_is_accepted_and_said():
    facts, problems = assess(SECTIONS, {**ARGS, "driver_branch": "550"}, DEBIAN)
    assert problems == [] and facts["cuda_support"] == "minor-version-compatibility"


def test_arch_list_not_covering_the_gpus():
    _, problems = assess(SECTIONS, {**ARGS, "image_arch_list": ["sm_70", "sm_80"]}, DEBIAN)
    assert len([problem for problem in problems if "compute capability 9.0" in problem]) == 8


def test_no_gpu_and_low_disk_are_both_reported():
    sections = {**SECTIONS, "lspci": "rc=0", "free_kb": str(5 * 2**20)}
    _, problems = assess(sections, ARGS, DEBIAN)
    assert any("no NVIDIA GPU" in problem for problem in problems)
    assert any("GiB free" in problem for problem in problems)


def test_proprietary_flavour_on_hopper_is_refused_only_for_blackwell_mixes():
    facts, problems = assess(SECTIONS, {**ARGS, "driver_flavour": "proprietary"}, DEBIAN)
    assert problems == [] and facts["flavour"] == "proprietary"


def test_the_package_plan_follows_the_distribution():
    facts, problems = assess(SECTIONS, ARGS, UBUNTU2204)
    assert problems == []
    plan = facts["driver_packages"]
    assert list(plan["install"]) == ["nvidia-open-580"] and plan["kernel_module"] == "nvidia-dkms-580-open"
    assert plan["fabricmanager"] == "nvidia-fabricmanager-580"
    debian = assess(SECTIONS, ARGS, DEBIAN)[0]["driver_packages"]
    assert list(debian["install"]) == ["nvidia-open"] and debian["kernel_module"] == "nvidia-kernel-open-dkms"


def test_a_flavour_switch_is_refused_unless_asked_for():
    sections = {**SECTIONS, "driver_state": PROPRIETARY_INSTALLED}
    facts, problems = assess(sections, ARGS, UBUNTU2204)
    assert len(problems) == 1 and "has the proprietary kernel modules installed (nvidia-dkms-580 " in problems[0]
    assert "nvidia_driver_allow_flavour_switch" in problems[0] and facts["installed_flavour"] == "proprietary"
    assert assess(sections, {**ARGS, "allow_flavour_switch": True}, UBUNTU2204)[1] == []
    assert assess(sections, {**ARGS, "driver_flavour": "proprietary"}, UBUNTU2204)[1] == []


def test_secure_boot_is_refused_with_the_mok_remedy():
    sections = {**SECTIONS, "secure_boot": "SecureBoot enabled"}
    _, problems = assess(sections, ARGS, UBUNTU2204)
    assert len(problems) == 1 and "mokutil --import" in problems[0]
    assert assess(sections, {**ARGS, "secure_boot_signing": True}, UBUNTU2204)[1] == []


def test_an_unknown_board_is_accepted_when_the_flavour_is_named():
    unknown = ("0000:18:00.0 3D controller [0302]: NVIDIA Corporation Device [10de:2fff] (rev a1)\nrc=0")
    _, refused = assess({**SECTIONS, "lspci": unknown}, ARGS, UBUNTU2204)
    assert any("2fff" in problem and "nvidia_driver_flavour" in problem for problem in refused)
    facts, problems = assess({**SECTIONS, "lspci": unknown}, {**ARGS, "driver_flavour": "open"}, UBUNTU2204)
    assert problems == [] and facts["gpu_count"] == 1


def test_the_arch_list_and_cuda_come_from_the_image_tag_when_not_given():
    args = {**ARGS, "image_cuda_version": "", "image_arch_list": []}
    facts, problems = assess(SECTIONS, args, UBUNTU2204)
    assert problems == [] and facts["image_cuda_version"] == "12.8" and "sm_90" in facts["image_arch_list"]
    pascal = ("0000:18:00.0 3D controller [0302]: NVIDIA Corporation GP100GL [Tesla P100 PCIe 16GB] [10de:15f8] "
              "(rev a1)\nrc=0")
    _, problems = assess({**SECTIONS, "lspci": pascal}, args, UBUNTU2204)
    assert any("compute capability 6.0" in problem for problem in problems), problems
