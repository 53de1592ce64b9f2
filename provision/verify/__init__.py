"""Verification of provisioned hosts.

gpu_verify.py is not imported by provision: it is copied into the PyTorch image and run there
(`python gpu_verify.py --json ...`), so it depends on the standard library and torch only.
"""
from __future__ import annotations

from pathlib import Path

GPU_VERIFY_SCRIPT = Path(__file__).with_name("gpu_verify.py")
