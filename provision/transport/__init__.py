"""Transports run shell commands on a host: ssh (Fabric/paramiko) and local share one interface."""
