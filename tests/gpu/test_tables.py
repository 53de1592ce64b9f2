"""The YAML tables themselves: well formed, consistent, and the values the issue names."""
from __future__ import annotations

import pytest

from provision.gpu import all_gpu_models, gpu_model, minimum_driver_for_cuda, parse_driver_version
from provision.gpu.arch import parse_capability
from provision.gpu.models import ARCHITECTURES
from provision.gpu.tables import load_table

FIRST_CAPABILITY = {"Maxwell": (5, 0), "Pascal": (6, 0), "Volta": (7, 0), "Turing": (7, 5), "Ampere": (8, 0),
                    "Ada": (8, 9), "Hopper": (9, 0), "Blackwell": (10, 0)}


def test_every_gpu_entry_is_complete_and_consistent():
    for model in all_gpu_models():
        assert len(model.device_id) == 4 and int(model.device_id, 16) >= 0
        assert model.architecture in ARCHITECTURES, model
        capability = parse_capability(model.capability)
        assert capability >= FIRST_CAPABILITY[model.architecture], model
        if capability < (8, 0):
            assert model.bf16_tflops is None, f"{model.name} has no bf16 tensor cores"
        if model.bf16_tflops is not None:
            assert 10 < model.bf16_tflops < 5000, model


def test_yaml_keeps_versions_as_strings():
    # A float would turn "560.30" into 560.3: every driver in the table must be quoted.
    table = load_table("cuda_drivers")
    for value in [*table["toolkit_minimum"].values(), *table["major_floor"].values()]:
        assert isinstance(value, str)
    for key in table["toolkit_minimum"]:
        assert isinstance(key, str)


@pytest.mark.parametrize("device_id, name, architecture, capability", [
    ("2330", "H100 SXM5 80GB", "Hopper", "9.0"),
    ("2331", "H100 PCIe", "Hopper", "9.0"),
    ("2321", "H100 NVL", "Hopper", "9.0"),
    ("2335", "H200 SXM 141GB", "Hopper", "9.0"),
    ("2329", "H20", "Hopper", "9.0"),
    ("2901", "B200", "Blackwell", "10.0"),
    ("2941", "GB200", "Blackwell", "10.0"),
    ("20b0", "A100 SXM4 40GB", "Ampere", "8.0"),
    ("20b2", "A100 SXM4 80GB", "Ampere", "8.0"),
    ("20f1", "A100 PCIe 40GB", "Ampere", "8.0"),
    ("20b5", "A100 PCIe 80GB", "Ampere", "8.0"),
    ("2236", "A10", "Ampere", "8.6"),
    ("20b7", "A30", "Ampere", "8.0"),
    ("2235", "A40", "Ampere", "8.6"),
    ("27b8", "L4", "Ada", "8.9"),
    ("26b9", "L40S", "Ada", "8.9"),
    ("1db4", "Tesla V100 PCIe 16GB", "Volta", "7.0"),
    ("1eb8", "Tesla T4", "Turing", "7.5"),
    ("15f8", "Tesla P100 PCIe 16GB", "Pascal", "6.0"),
    ("26b1", "RTX 6000 Ada Generation", "Ada", "8.9"),
    ("2230", "RTX A6000", "Ampere", "8.6"),
])
def test_the_gpus_the_issue_names_are_in_the_table(device_id, name, architecture, capability):
    model = gpu_model(device_id)
    assert (model.name, model.architecture, model.capability) == (name, architecture, capability)


@pytest.mark.parametrize("device_id", ["0x2330", "10de:2330", "2330", 0x2330, "  2330 "])
def test_device_ids_are_read_in_every_usual_spelling(device_id):
    assert gpu_model(device_id).name == "H100 SXM5 80GB"


def test_datasheet_peaks_of_common_parts():
    assert gpu_model("2330").bf16_tflops == 989
    assert gpu_model("20b2").bf16_tflops == 312
    assert gpu_model("1eb8").bf16_tflops is None


@pytest.mark.parametrize("cuda, driver", [
    ("11.8", "520.61.05"), ("12.1", "530.30.02"), ("12.4", "550.54.14"),
    ("12.6", "560.28.03"), ("12.8", "570.26"), ("13.0", "580.65.06"),
])
def test_toolkit_minimums_from_the_issue(cuda, driver):
    assert minimum_driver_for_cuda(cuda) == parse_driver_version(driver)


def test_toolkit_minimums_never_go_down_as_cuda_goes_up():
    from provision.gpu.versions import parse_cuda_version
    table = load_table("cuda_drivers")["toolkit_minimum"]
    ordered = sorted(table.items(), key=lambda item: parse_cuda_version(item[0]))
    drivers = [parse_driver_version(driver) for _, driver in ordered]
    assert drivers == sorted(drivers)


@pytest.mark.parametrize("cuda, driver", [
    ("11.0", "450.51.05"), ("11.0.2", "450.51.05"), ("11.0.3", "450.51.06"),
    ("13.1.1", "590.48.01"), ("13.2", "595.45.04"), ("13.2.1", "595.58.03"), ("13.3", "610.43.02"),
])
def test_toolkit_minimums_added_after_the_review(cuda, driver):
    assert minimum_driver_for_cuda(cuda) == parse_driver_version(driver)


def test_cuda_13_2_on_580_is_minor_version_compatibility_not_full():
    from provision.gpu import driver_supports_cuda
    assert driver_supports_cuda("580.95.05", "13.2").mode == "minor-version-compatibility"
    assert driver_supports_cuda("595.58.03", "13.2").mode == "full"
