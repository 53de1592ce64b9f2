"""Fake-GPU descriptions and the lspci text rendered from them."""
from __future__ import annotations

import json

import pytest

from provision.sandbox.standin.gpus import DescriptionError, load_description, render_lspci, seed_files


def test_h100_board_renders_as_lspci_lists_it_sorted_by_address_with_nvswitches():
    lines = render_lspci(load_description("h100x8")).splitlines()
    assert len(lines) == 12
    assert lines[0] == "0000:05:00.0 Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch] [10de:22a3] (rev a1)"
    assert lines[4] == "0000:18:00.0 3D controller [0302]: NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)"
    assert sum("[10de:2330]" in line for line in lines) == 8
    assert lines == sorted(lines)


def test_a100_profile_has_one_gpu_and_no_nvswitch():
    description = load_description("a100x1")
    assert render_lspci(description) == \
        "0000:07:00.0 3D controller [0302]: NVIDIA Corporation GA100 [A100 SXM4 80GB] [10de:20b2] (rev a1)\n"
    assert description["gpus"][0]["compute_cap"] == "8.0"


def test_seed_files_hold_the_description_and_its_lspci_text():
    description = load_description("h100x8")
    files = seed_files(description)
    assert json.loads(files["/etc/nvidia-standin/gpus.json"]) == description
    assert files["/etc/nvidia-standin/lspci-Dnn-d-10de.txt"].decode() == render_lspci(description)
    assert files["/usr/bin/lspci"].startswith(b"#!/usr/bin/perl\n"), "a program: the sandbox seeds it mode 0755"
    assert b"use StandinJSON" not in files["/usr/bin/lspci"], "it runs before any stand-in package is installed"
    assert "STAND-IN" in description["description"]


def test_bad_descriptions_are_refused_with_the_file_named(tmp_path):
    with pytest.raises(DescriptionError, match="unknown GPU profile 'v100'"):
        load_description("v100")
    broken = tmp_path / "gpus.json"
    broken.write_text('{"gpus": [{"index": 0, "name": "x"}]}')
    with pytest.raises(DescriptionError, match="GPU 0 lacks pci_bus_id"):
        load_description(str(broken))


def test_volta_and_blackwell_boards_without_nvswitch():
    v100 = load_description("v100x8")
    lines = render_lspci(v100).splitlines()
    assert len(lines) == 8 and not v100["nvswitches"]
    assert lines[0] == "0000:06:00.0 3D controller [0302]: NVIDIA Corporation GV100GL [Tesla V100 SXM2 32GB] [10de:1db5] (rev a1)"
    assert {gpu["compute_cap"] for gpu in v100["gpus"]} == {"7.0"}
    rtx = load_description("rtxpro6000x2")
    assert [gpu["device_id"] for gpu in rtx["gpus"]] == ["0x2bb5", "0x2bb5"] and not rtx["nvswitches"]
    assert {gpu["compute_cap"] for gpu in rtx["gpus"]} == {"12.0"}
    assert len({gpu["uuid"] for profile in ("h100x8", "a100x1", "v100x8", "rtxpro6000x2")
                for gpu in load_description(profile)["gpus"]}) == 19
