"""The OpenSSH command-line options an Ansible inventory carries, read as data.

Ansible hands `ansible_ssh_common_args` and `ansible_ssh_extra_args` to the `ssh` program; users put
their bastion (`-o ProxyJump=...`, `-J`), their known_hosts file and host-key policy there. provision
speaks SSH itself, so it reads the options that decide where, as whom and with which trust it
connects, and leaves the rest (multiplexing, keep-alives, verbosity: things about how the ssh
program behaves) aside. Ignoring UserKnownHostsFile would be the dangerous mistake: the host key
would be checked against a file the user never meant.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from provision.errors import ConnectionFailed

# -o options provision acts on, by OpenSSH's lower-case name.
USED = ("userknownhostsfile", "stricthostkeychecking", "identityfile", "proxyjump", "proxycommand",
        "port", "user", "hostname")
# ssh's options that take a value; every other letter is a flag.
WITH_VALUE = set("BbcDEeFIiJLlmOoPpQRSWw")
STRICT_VALUES = {"yes": "yes", "true": "yes", "accept-new": "accept-new", "no": "no", "off": "no", "false": "no",
                 "ask": "yes"}


@dataclass
class SSHArgs:
    """What ansible_ssh_common_args/extra_args say, as ssh_config-style options (lower-case keys)."""

    options: dict[str, str] = field(default_factory=dict)
    config_file: str | None = None  # -F

    @property
    def strict(self) -> str | None:
        """yes, accept-new or no (None: not said)."""
        return self.options.get("stricthostkeychecking")


def parse_ssh_args(*texts: str | None) -> SSHArgs:
    """The options of each text in order; as with ssh, the first value given for an option wins.
    Raises ConnectionFailed naming the option when a text cannot be read."""
    parsed = SSHArgs()
    for text in texts:
        if not text:
            continue
        try:
            words = shlex.split(str(text))
        except ValueError as error:
            raise ConnectionFailed(f"ansible_ssh_common_args/extra_args: cannot split {text!r}: {error}") from None
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if not word.startswith("-") or len(word) < 2:
                raise ConnectionFailed(f"ansible_ssh_common_args/extra_args: {word!r} is not an ssh option")
            letter, value = word[1], word[2:]
            if letter not in WITH_VALUE:
                continue  # flags (-C, -q, -A, -T...) change nothing provision does
            if not value:
                if index >= len(words):
                    raise ConnectionFailed(f"ansible_ssh_common_args/extra_args: {word} needs a value")
                value, index = words[index], index + 1
            if letter == "o":
                key, separator, option_value = value.partition("=")
                if not separator:
                    key, _, option_value = value.partition(" ")
                _keep(parsed, key.strip().lower(), option_value.strip())
            elif letter == "i":
                _keep(parsed, "identityfile", value)
            elif letter == "J":
                _keep(parsed, "proxyjump", value)
            elif letter == "p":
                _keep(parsed, "port", value)
            elif letter == "l":
                _keep(parsed, "user", value)
            elif letter == "F" and parsed.config_file is None:
                parsed.config_file = value
    strict = parsed.options.get("stricthostkeychecking")
    if strict is not None:
        if strict.lower() not in STRICT_VALUES:
            raise ConnectionFailed(f"StrictHostKeyChecking={strict}: expected yes, accept-new or no")
        parsed.options["stricthostkeychecking"] = STRICT_VALUES[strict.lower()]
    return parsed


def _keep(parsed: SSHArgs, key: str, value: str) -> None:
    if key in USED and key not in parsed.options:
        parsed.options[key] = value


def retries_problem(value: object) -> str | None:
    """What is wrong with an ansible_ssh_retries value (a whole number, 0 or more), or None.
    Validation asks it of written values, connect of rendered ones."""
    if isinstance(value, bool) or not str(value).strip().isdigit():
        return f"ansible_ssh_retries must be a whole number of retries (0 or more), not {value!r}"
    return None
