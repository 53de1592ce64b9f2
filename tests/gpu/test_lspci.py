"""parse_lspci: what `lspci -Dnn -d 10de:` prints on real boards -> GPUs, NVSwitches, others."""
from __future__ import annotations

from provision.gpu import parse_lspci

HGX_H100 = """\
0000:07:00.0 Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch] [10de:22a3] (rev a1)
0000:08:00.0 Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch] [10de:22a3] (rev a1)
0000:18:00.0 3D controller [0302]: NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)
0000:2a:00.0 3D controller [0302]: NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)
"""

WORKSTATION = """\
0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102GL [RTX 6000 Ada Generation] [10de:26b1] (rev a1)
0000:01:00.1 Audio device [0403]: NVIDIA Corporation AD102 High Definition Audio Controller [10de:22ba] (rev a1)
"""


def test_an_hgx_board_gives_gpus_and_nvswitch_bridges_with_addresses():
    inventory = parse_lspci(HGX_H100)
    assert [gpu.address for gpu in inventory.gpus] == ["0000:18:00.0", "0000:2a:00.0"]
    assert {gpu.model_name for gpu in inventory.gpus} == {"H100 SXM5 80GB"}
    assert [switch.device_id for switch in inventory.nvswitches] == ["22a3", "22a3"]
    assert inventory.nvswitches[0].model.generation == 3
    assert inventory.unparsed == [] and inventory.others == []


def test_the_audio_function_of_a_workstation_card_is_not_a_gpu():
    inventory = parse_lspci(WORKSTATION)
    assert [gpu.model.architecture for gpu in inventory.gpus] == ["Ada"]
    assert [other.class_code for other in inventory.others] == ["0403"]


def test_an_unknown_nvidia_gpu_is_kept_and_marked_unknown():
    line = "0000:3b:00.0 3D controller [0302]: NVIDIA Corporation Device [10de:2fff] (rev a1)\n"
    inventory = parse_lspci(HGX_H100 + line)
    assert len(inventory.gpus) == 3
    unknown = inventory.unknown_gpus[0]
    assert not unknown.known and unknown.device_id == "2fff"
    assert "unknown NVIDIA device 10de:2fff" in unknown.model_name


def test_an_unlisted_nvidia_bridge_is_still_an_nvswitch():
    line = "0000:05:00.0 Bridge [0680]: NVIDIA Corporation Device [10de:2aaa] (rev a1)"
    inventory = parse_lspci(line)
    assert len(inventory.nvswitches) == 1 and not inventory.nvswitches[0].known


def test_addresses_without_domain_and_lines_without_revision_parse():
    inventory = parse_lspci("18:00.0 3D controller [0302]: NVIDIA Corporation GH100 [10de:2330]")
    assert inventory.gpus[0].address == "18:00.0"
    assert inventory.gpus[0].model_name == "H100 SXM5 80GB"


def test_other_vendors_are_ignored_and_garbage_is_reported():
    text = ("0000:00:00.0 Host bridge [0600]: Intel Corporation Device [8086:09a2] (rev 04)\n"
            "pcilib: Cannot open /proc/bus/pci\n\n")
    inventory = parse_lspci(text)
    assert inventory.gpus == [] and inventory.others == []
    assert inventory.unparsed == ["pcilib: Cannot open /proc/bus/pci"]


def test_empty_output_means_no_gpus():
    inventory = parse_lspci("")
    assert (inventory.gpus, inventory.nvswitches, inventory.unparsed) == ([], [], [])
