"""kernel_module_flavour: open for Turing and newer, proprietary for Pascal/Volta, no mixes across."""
from __future__ import annotations

import pytest

from provision.gpu import FlavourConflict, UnknownGpu, gpu_model, kernel_module_flavour, parse_lspci


@pytest.mark.parametrize("architectures, flavour", [
    (["Blackwell"], "open"),
    (["Hopper"], "open"),
    (["Ampere", "Ada"], "open"),
    (["Turing"], "open"),
    (["Volta"], "proprietary"),
    (["Pascal", "Volta"], "proprietary"),
    (["Volta", "Turing"], "proprietary"),  # Turing works with either; Volta decides
    (["Ampere", "Blackwell"], "open"),
])
def test_flavour_by_architecture(architectures, flavour):
    assert kernel_module_flavour(architectures) == flavour


@pytest.mark.parametrize("architectures", [["Pascal", "Blackwell"], ["Volta", "Blackwell", "Hopper"]])
def test_a_mix_no_flavour_serves_is_refused_with_both_named(architectures):
    with pytest.raises(FlavourConflict) as raised:
        kernel_module_flavour(architectures)
    message = str(raised.value)
    assert "Blackwell" in message and ("Pascal" in message or "Volta" in message)


def test_models_and_lspci_devices_are_accepted():
    assert kernel_module_flavour([gpu_model("2901"), gpu_model("2330")]) == "open"
    inventory = parse_lspci("0000:18:00.0 3D controller [0302]: NVIDIA Corporation GV100GL [10de:1db4] (rev a1)")
    assert kernel_module_flavour(inventory.gpus) == "proprietary"


def test_an_unknown_gpu_or_no_gpu_is_an_error_not_a_guess():
    inventory = parse_lspci("0000:18:00.0 3D controller [0302]: NVIDIA Corporation Device [10de:2fff]")
    with pytest.raises(UnknownGpu, match="10de:2fff"):
        kernel_module_flavour(inventory.gpus)
    with pytest.raises(UnknownGpu):
        kernel_module_flavour([])
    with pytest.raises(UnknownGpu):
        kernel_module_flavour(["Kepler"])
