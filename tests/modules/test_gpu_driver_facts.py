"""gpu_driver_facts and gpu_image_check as data: recorded host output in, registered facts out."""
from provision.modules.gpu_driver_facts import driver_state_script, module_flavour, parse_driver_state
from provision.modules.gpu_image_check import judge_image

UBUNTU_OPEN = """
@@provision:loaded@@
580.95.05

@@provision:packages@@
hi |nvidia-dkms-580-open|580.95.05-0ubuntu1
hi |nvidia-open-580|580.95.05-0ubuntu1
rc |nvidia-dkms-550|550.163.01-0ubuntu1
ii |nvidia-driver-580-open|580.95.05-0ubuntu1

@@provision:held@@
nvidia-open-580

@@provision:end@@
"""


def test_installed_flavour_version_and_holds_from_dpkg():
    facts = parse_driver_state(UBUNTU_OPEN, ["nvidia-open-580", "nvidia-driver-580-open", "cuda-drivers-580"],
                               "nvidia-dkms-580-open")
    assert facts["loaded"] == "580.95.05" and facts["installed"] == "580.95.05"
    assert facts["installed_flavour"] == "open", "a removed package (rc) is not installed"
    assert facts["installed_packages"] == ["nvidia-open-580", "nvidia-driver-580-open"]
    assert facts["held_packages"] == ["nvidia-open-580"]


def test_flavour_names_of_every_layout():
    assert [module_flavour(name) for name in ("nvidia-dkms-580-open", "nvidia-dkms-open", "nvidia-kernel-open-dkms",
                                              "linux-modules-nvidia-580-server-open-6.8.0-45-generic")] == ["open"] * 4
    assert [module_flavour(name) for name in ("nvidia-dkms-580", "nvidia-dkms", "nvidia-kernel-dkms")] == \
        ["proprietary"] * 3


def test_nothing_installed_and_nothing_loaded():
    facts = parse_driver_state("@@provision:loaded@@\n\n@@provision:packages@@\n@@provision:end@@\n", ["nvidia-open"])
    assert facts["installed"] == "" and facts["loaded"] == "" and facts["installed_flavour"] == ""
    assert facts["complete"]


def test_the_script_quotes_package_names():
    script = driver_state_script(["nvidia-open", "x; rm -rf /"])
    assert "'x; rm -rf /'" in script and "/sys/module/nvidia/version" in script


IMAGE = {"image": "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "torch_version": "2.8.0+cu128",
         "cuda_version": "12.8", "arch_list": ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
         "gpus": [{"address": "0000:18:00.0", "model": "H100 SXM5 80GB", "capability": "9.0"}],
         "driver_version": "580.95.05", "require_gpu": True}


def test_an_image_built_for_the_gpus_and_driver_passes():
    checked = judge_image(IMAGE)
    assert checked["problems"] == [] and checked["cuda_support"] == "full"


def test_an_image_without_the_gpus_arch_fails():
    pascal = {**IMAGE, "gpus": [{"address": "0000:3b:00.0", "model": "Tesla P100 PCIe 16GB", "capability": "6.0"}]}
    problems = judge_image(pascal)["problems"]
    assert len(problems) == 1 and "compute capability 6.0" in problems[0]


def test_a_driver_too_old_for_the_images_cuda_fails():
    problems = judge_image({**IMAGE, "cuda_version": "13.0", "driver_version": "550.163.01"})["problems"]
    assert any("too old for CUDA 13.0" in problem for problem in problems)


def test_a_cpu_build_fails_where_gpus_are_needed_and_is_noted_elsewhere():
    cpu = {**IMAGE, "torch_version": "2.13.0+cpu", "cuda_version": "", "arch_list": []}
    assert "CPU build" in judge_image(cpu)["problems"][0]
    relaxed = judge_image({**cpu, "require_gpu": False})
    assert relaxed["problems"] == [] and "CPU build" in relaxed["note"]
