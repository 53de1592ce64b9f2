"""wait_for: wait, bounded, for a port to open or close, a path to appear or go, or text in a file.

The whole wait is one shell loop on the host (bash's /dev/tcp or nc for ports, no Python), so a
long wait costs one round trip. A condition already met is checked first and reports ok at once;
a wait that ends in time is ok too (waiting changes nothing), one that runs out fails. In check
mode an unmet condition is skipped: the future cannot be read. The easy thing to get wrong:
`host` is seen from the managed host (127.0.0.1 is the host itself, not this machine), and
`search_regex` is an extended regular expression for grep -E, not Python's.
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.outcome import MayNotChange
from provision.shell import quote
from provision.transport.base import CommandResult

PORT_OPEN = r"""
port_open() {
  if command -v bash >/dev/null 2>&1; then
    timeout "$connect_timeout" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
  elif command -v nc >/dev/null 2>&1; then
    nc -z -w "$connect_timeout" "$host" "$port" 2>/dev/null
  else
    echo "wait_for: neither bash nor nc on this host to test a port" >&2; exit 3
  fi
}
port_busy() {  # connections to the port in the states asked for, from /proc/net/tcp{,6} as Ansible reads them
  for table in /proc/net/tcp /proc/net/tcp6; do [ -r "$table" ] && cat "$table"; done |
    awk -v port="$(printf '%04X' "$port")" -v states="$states" -v ips="$ips" -v excluded="$excluded" '
      NR > 0 && $1 != "sl" {
        split($2, here, ":"); split($3, there, ":")
        if (here[2] != port || index(" " states " ", " " $4 " ") == 0) next
        if (excluded != "" && index(" " excluded " ", " " there[1] " ")) next
        local = here[1]; mapped = substr(local, 1, 24) == "0000000000000000FFFF0000" ? substr(local, 25) : ""
        if (ips == "" || local ~ /^0+$/ || local == "0000000000000000FFFF000000000000" ||
            index(" " ips " ", " " local " ") || (mapped != "" && index(" " ips " ", " " mapped " "))) {
          found = 1; exit
        }
      }
      END { exit !found }'
}
port_says() {  # line by line, so a match returns at once even when the peer keeps the line open
  timeout "$connect_timeout" bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
    while IFS= read -r line <&3; do printf "%s\\n" "$line" | grep -Eq -- "$2" && exit 0; done; exit 1' \
    "$host" "$port" "$regex" 2>/dev/null
}
"""


# Ansible's default for state=drained, and the kernel's codes for TCP states (/proc/net/tcp's st)
ACTIVE_STATES = ("ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "SYN_RECV", "SYN_SENT", "TIME_WAIT")
TCP_STATES = {"ESTABLISHED": "01", "SYN_SENT": "02", "SYN_RECV": "03", "FIN_WAIT1": "04", "FIN_WAIT2": "05",
              "TIME_WAIT": "06", "CLOSE": "07", "CLOSE_WAIT": "08", "LAST_ACK": "09", "LISTEN": "0A",
              "CLOSING": "0B"}


def proc_net_hex(address: str) -> str | None:
    """An IP address as /proc/net/tcp writes it (IPv4 little-endian, IPv6 by 32-bit words);
    None for a name (every local address counts then)."""
    try:
        packed = ipaddress.ip_address(address).packed
    except ValueError:
        return None
    return "".join(packed[index:index + 4][::-1].hex().upper() for index in range(0, len(packed), 4))


class WaitFor(MayNotChange):
    name = "wait_for"
    opaque = True
    check_mode_skip = True
    # Ansible: "port and path parameter can not both be passed to wait_for" (modules/wait_for.py)
    mutually_exclusive = (("port", "path"),)
    spec = {
        "host": Arg("str", default="127.0.0.1", help="as seen from the managed host"),
        "port": Arg("int"),
        "path": Arg("path"),
        "state": Arg("str", default="started", choices=("started", "stopped", "present", "absent", "drained")),
        "exclude_hosts": Arg("list", elements="str", help="drained: connections from these addresses do not count"),
        "active_connection_states": Arg("list", elements="str", default=list(ACTIVE_STATES),
                                        help="drained: the TCP states that count as a connection"),
        "search_regex": Arg("str", help="grep -E pattern to find in the file (or the port's greeting)"),
        "timeout": Arg("int", default=300),
        "delay": Arg("int", default=0, help="seconds before the first check"),
        "sleep": Arg("float", default=1, help="seconds between checks"),
        "connect_timeout": Arg("int", default=5),
        "msg": Arg("str", help="message when the wait times out"),
    }

    def condition(self) -> str:
        """Shell text exiting 0 when the condition holds."""
        port, path, regex, state = self.args["port"], self.args["path"], self.args["search_regex"], self.args["state"]
        waiting_for_absence = state in ("stopped", "absent")
        if regex and waiting_for_absence:
            raise ModuleFailed("wait_for: search_regex waits for text to appear (state present or started)")
        if state == "drained":
            if port is None:
                raise ModuleFailed("state=drained should only be used for checking a port in the wait_for module")
            return "! port_busy"
        if self.args["exclude_hosts"]:
            raise ModuleFailed("exclude_hosts should only be with state=drained")
        if port is not None:
            if regex:
                return "port_says"
            return "! port_open" if waiting_for_absence else "port_open"
        if path:
            if waiting_for_absence:
                return '[ ! -e "$path" ]'
            if regex:
                return '[ -r "$path" ] && grep -Eq -- "$regex" "$path"'
            return '[ -e "$path" ]'
        return "false"  # neither: just wait out the timeout, like Ansible

    def script(self, timeout: int, delay: int) -> str:
        states = []
        for name in self.args["active_connection_states"] or ():
            if name not in TCP_STATES:
                raise ModuleFailed(f"unknown active_connection_state ({name}) defined")
            states.append(TCP_STATES[name])
        host_ip = proc_net_hex(self.args["host"])
        values = {
            "host": self.args["host"], "port": self.args["port"] or 0, "path": self.args["path"] or "",
            "regex": self.args["search_regex"] or "", "connect_timeout": self.args["connect_timeout"],
            "states": " ".join(states), "ips": host_ip or "",
            "excluded": " ".join(filter(None, (proc_net_hex(host) for host in self.args["exclude_hosts"] or ()))),
        }
        lines = [f"{name}={quote(value)}" for name, value in values.items()]
        lines.append(PORT_OPEN)
        lines.append(f"condition() {{ {self.condition()}; }}")
        lines.append(f"sleep {int(delay)}" if delay else "")
        lines.append(f"end=$(( $(date +%s) + {int(timeout)} ))")
        lines.append("while :; do condition && { echo met; exit 0; }; "
                     '[ "$(date +%s)" -ge "$end" ] && { echo timeout; exit 0; }; '
                     f"sleep {float(self.args['sleep']):g}; done")
        return "\n".join(lines) + "\n"

    def what(self) -> str:
        if self.args["port"] is not None:
            return f"{self.args['host']}:{self.args['port']}"
        return self.args["path"] or f"{self.args['timeout']}s"

    def read_command(self) -> str | None:
        """The wait with no time at all: is the condition met right now? None after a delay (it is
        not looked at early) and for a plain wait (nothing to look at)."""
        if self.args["delay"] or (self.args["port"] is None and not self.args["path"]):
            return None
        return self.script(0, 0)

    def parse(self, result: CommandResult | None) -> bool:
        if result is None:
            return False
        self.fail_on_error(result)
        return result.stdout.split()[-1:] == ["met"]

    def fail_on_error(self, result) -> None:
        if result.rc != 0:
            raise ModuleFailed(result.stderr.strip() or f"wait_for: the check failed (rc {result.rc})")

    def diff(self, current: bool) -> str | None:
        return None if current else "wait"

    def result_data(self, current: bool, plan: Any) -> dict[str, Any]:
        return {"elapsed": 0, "state": self.args["state"], "port": self.args["port"], "path": self.args["path"],
                "search_regex": self.args["search_regex"]}

    def apply(self, plan: str) -> dict[str, Any]:
        started = time.monotonic()
        timeout, delay = self.args["timeout"], self.args["delay"]
        result = self.context.run(self.script(timeout, delay), timeout=timeout + delay + self.args["connect_timeout"] + 30)
        self.fail_on_error(result)
        elapsed = int(time.monotonic() - started)  # whole seconds, as Ansible's timedelta.seconds
        data = {"changed": False, "elapsed": elapsed, "state": self.args["state"],
                "port": self.args["port"], "path": self.args["path"], "search_regex": self.args["search_regex"]}
        met = result.stdout.split()[-1:] == ["met"]
        if self.args["port"] is None and not self.args["path"]:
            return data  # a plain wait: it always "times out"
        if not met:
            data.pop("changed")
            raise ModuleFailed(self.args["msg"] or self.timed_out(), data)
        return data

    def timed_out(self) -> str:
        """Ansible's words for a wait that ran out (modules/wait_for.py)."""
        args = self.args
        where = f"{args['host']}:{args['port']}" if args["port"] is not None else args["path"]
        if args["state"] == "drained":
            return f"Timeout when waiting for {where} to drain"
        if args["state"] in ("stopped", "absent"):
            return f"Timeout when waiting for {where} to stop." if args["port"] is not None else \
                f"Timeout when waiting for {where} to be absent."
        if args["search_regex"]:
            return f"Timeout when waiting for search string {args['search_regex']} in {where}"
        if args["port"] is not None:
            return f"Timeout when waiting for {where}"
        return f"Timeout when waiting for file {where}"
