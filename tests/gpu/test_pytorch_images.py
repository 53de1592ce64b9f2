"""PyTorch image tag -> arch list and CUDA version, from the build script's table."""
from __future__ import annotations

import pytest

from provision.gpu import arch_list_covers
from provision.gpu.pytorch_images import arch_names, image_arch_list, image_cuda_version

CU128_28 = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]


@pytest.mark.parametrize("image, arch_list", [
    ("pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", CU128_28),
    ("docker.io/pytorch/pytorch:2.8.0-cuda12.8-cudnn9-devel", CU128_28),
    ("localhost:5000/pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", CU128_28),
    ("pytorch/pytorch:2.8.0-cuda12.9-cudnn9-runtime", CU128_28 + ["compute_120"]),
    ("pytorch/pytorch:2.8.0-cuda12.6-cudnn9-runtime",
     ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]),
    ("pytorch/pytorch:2.7.1-cuda12.6-cudnn9-devel",
     ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]),
    ("pytorch/pytorch:2.9.0-cuda13.0-cudnn9-runtime",
     ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]),
])
def test_known_tags(image, arch_list):
    assert image_arch_list(image) == arch_list


@pytest.mark.parametrize("image", [
    "pytorch/pytorch:latest", "pytorch/pytorch", "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
    "nvcr.io/nvidia/pytorch:25.01-py3", "myorg/pytorch:2.8.0-cuda12.8-cudnn9-runtime",
    "pytorch/pytorch@sha256:abcd",
])
def test_unknown_tags_are_none_never_a_guess(image):
    assert image_arch_list(image) is None


@pytest.mark.parametrize("image, cuda", [
    ("pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "12.8"),
    ("pytorch/pytorch:2.7.1-cuda12.6-cudnn9-devel", "12.6"),
    ("pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", "12.1"),
    ("nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04", "12.8.1"),
    ("myorg/trainer:1.0-cuda12.4-py3", "12.4"),
    ("pytorch/pytorch:latest", None),
    ("nvcr.io/nvidia/pytorch:25.01-py3", None),
    ("ubuntu:22.04", None),
])
def test_image_cuda_version(image, cuda):
    assert image_cuda_version(image) == cuda


def test_plus_ptx_adds_compute():
    assert arch_names("9.0;12.0+PTX") == ["sm_90", "sm_120", "compute_120"]


@pytest.mark.parametrize("image, capability, covered", [
    # The review's S4 cases: the default image does not carry Pascal; cu126 does not carry Blackwell.
    ("pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "6.0", False),
    ("pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", "9.0", True),
    ("pytorch/pytorch:2.8.0-cuda12.6-cudnn9-runtime", "10.0", False),
    ("pytorch/pytorch:2.8.0-cuda12.6-cudnn9-runtime", "6.0", True),
    ("pytorch/pytorch:2.9.0-cuda13.0-cudnn9-runtime", "7.0", False),
])
def test_table_feeds_the_coverage_check(image, capability, covered):
    assert arch_list_covers(image_arch_list(image), capability).ok is covered
