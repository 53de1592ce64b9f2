"""Payloads: scripts that run on the hosts, never imported by provision.

gpu_check.py is sent by the gpu_verify module on stdin into the PyTorch container and run there
(`python gpu_check.py --json ...`), so it depends on the standard library and torch only.
"""
