"""Throwaway Linux hosts on one machine: real sshd, own filesystem, hostname, PIDs and network."""
from provision.sandbox.fleet import Sandbox

__all__ = ["Sandbox"]
