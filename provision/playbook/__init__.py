"""Playbooks and roles: load YAML with line marks into dataclasses, then validate the whole."""
