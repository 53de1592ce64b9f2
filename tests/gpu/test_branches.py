"""Driver branch vs GPU generation: old architectures end at R580, new GPUs need a first branch."""
from __future__ import annotations

import pytest

from provision.gpu import UnknownGpu, all_gpu_models, gpu_model
from provision.gpu.branches import branch_supports, minimum_branch
from provision.gpu.tables import load_table


@pytest.mark.parametrize("gpu, branch, ok", [
    ("Volta", 580, True), ("Volta", 590, False), ("volta", "r595", False),
    ("Pascal", 595, False), ("Maxwell", 610, False), ("Hopper", 620, True),
    ("1db4", 580, True), ("1db4", 595, False),          # V100 PCIe: the review's S9b case
    ("15f8", "590-open", False),                        # P100
    ("1eb8", 595, True), ("1eb8", 400, False),          # T4 needs CUDA 10.0's R410
    ("2330", 535, True), ("2330", 515, False),          # H100 from CUDA 11.8's R520
    ("2335", 535, False), ("2335", 550, True),          # H200 (unsure: 550)
    ("2901", 565, False), ("2901", 570, True),          # B200 from CUDA 12.8's R570
    ("3182", 575, False), ("3182", 580, True),          # B300 (unsure: 580)
    ("2bb5", 570, False), ("2bb5", 580, True),          # RTX PRO 6000 Server (unsure: 575)
    ("2b85", 565, False), ("2b85", 570, True),          # RTX 5090
    ("2684", 515, False), ("2684", 520, True),          # RTX 4090
    ("2204", 450, False), ("2204", 455, True),          # RTX 3090 (sm_86, CUDA 11.1)
])
def test_branch_supports(gpu, branch, ok):
    result = branch_supports(gpu, branch)
    assert result.ok is ok, result.reason
    allowed, reason = result
    assert allowed is ok and reason


def test_reasons_name_the_remedy():
    assert "pin nvidia_driver_branch to 580" in branch_supports("1db4", 595).reason
    assert "needs branch 570 or newer" in branch_supports("2901", 560).reason


def test_accepts_a_model():
    assert branch_supports(gpu_model("2330"), 580).ok


def test_unknown_device_is_an_error():
    with pytest.raises(UnknownGpu):
        branch_supports("ffff", 580)


def test_every_model_has_a_first_branch_and_every_capability_a_floor():
    floors = load_table("gpus")["capability_min_branch"]
    for model in all_gpu_models():
        assert model.capability in floors, model
        assert minimum_branch(model) >= floors[model.capability]


@pytest.mark.parametrize("device_id, nvlink5", [
    ("2901", True), ("2941", True), ("3182", True), ("31c2", True),
    ("2330", False), ("2335", False), ("2bb5", False), ("2b85", False),
])
def test_nvlink5_boards_are_marked(device_id, nvlink5):
    model = gpu_model(device_id)
    assert model.nvlink5 is nvlink5
    assert (model.fabric == "nvlink5") is nvlink5


@pytest.mark.parametrize("device_id, name, capability", [
    ("2204", "GeForce RTX 3090", "8.6"), ("2684", "GeForce RTX 4090", "8.9"),
    ("2b85", "GeForce RTX 5090", "12.0"), ("2bb4", "RTX PRO 6000 Blackwell Max-Q Workstation Edition", "12.0"),
])
def test_added_ids(device_id, name, capability):
    model = gpu_model(device_id)
    assert (model.name, model.capability) == (name, capability)
