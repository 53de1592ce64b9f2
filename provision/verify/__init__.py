"""Verification of provisioned hosts: the roles' testinfra checks through testinfra's own backends
(run.py, hosts.py, plugin.py), their report, and what a verify or check run comes to (outcome.py).

The GPU verification payload, the script that runs on the host inside the PyTorch image, is not
here: it is provision/gpu/payload/gpu_check.py, sent by the gpu_verify module.
"""
