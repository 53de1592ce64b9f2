"""Where each sandbox lives in 10.244.0.0/16: a block of consecutive /24s, its bridge, its hosts' addresses.

A sandbox of up to 244 hosts takes one /24, as it always has: `10.244.<i>.0/24` on bridge
`pvbr<i>`, the bridge `.1`, hosts from `.11`. A bigger one takes an aligned block of 2 or 4 /24s
(a /23 or /22: up to 1,000 hosts, as a Linux bridge takes at most 1,024 ports), still named by its
first /24: the bridge is `10.244.<i>.1/22` on `pvbr<i>`, and host addresses run on from `.11`
across the block (`10.244.<i+1>.0` is an ordinary address inside a /22). Small sandboxes are
placed from the bottom of the range, big ones from the top, so they rarely compete.

The thing easy to get wrong: a block must be aligned to its size (the kernel takes `10.244.6.1/22`
for `10.244.4.0/22`, which would swallow the /24s of other sandboxes) and must overlap no block
in use, whether a running sandbox's state names it or a bridge on this machine holds it (a run
that crashed before writing its state).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from provision.errors import SandboxError

SUBNET = ipaddress.ip_network("10.244.0.0/16")
FIRST_HOST = 11  # .1 is the bridge (registry, stand-ins, apt proxy listen there); .2-.10 stay free
LAST_INDEX = 249  # /24s 10.244.1 .. 10.244.249 are handed out (as before); 0 and 250-255 never
MAX_HOSTS = 1000  # a bridge takes at most 1,024 ports (the kernel's BR_MAX_PORTS)
PREFIX_LENGTHS = (24, 23, 22)  # the block sizes a sandbox can take, smallest first


@dataclass(frozen=True)
class Network:
    """A sandbox's block: `index` is its first /24 (10.244.<index>.0) and names its bridge."""
    index: int
    prefix_length: int = 24

    @property
    def size(self) -> int:
        """How many /24s the block spans."""
        return 2 ** (24 - self.prefix_length)

    @property
    def indices(self) -> range:
        return range(self.index, self.index + self.size)

    @property
    def bridge(self) -> str:
        return f"pvbr{self.index}"

    @property
    def gateway(self) -> str:
        return f"{_octets(SUBNET)}.{self.index}.1"

    @property
    def cidr(self) -> str:
        return f"{_octets(SUBNET)}.{self.index}.0/{self.prefix_length}"

    def host_address(self, number: int) -> str:
        """Host `number` (from 1): `.11`, `.12`... of the first /24, running on into the next ones."""
        if not 1 <= number <= capacity(self.prefix_length):
            raise SandboxError(f"host number {number} does not fit in {self.cidr}")
        offset = FIRST_HOST - 1 + number
        return f"{_octets(SUBNET)}.{self.index + offset // 256}.{offset % 256}"

    def overlaps(self, indices: Iterable[int]) -> bool:
        return any(index in self.indices for index in indices)


def capacity(prefix_length: int) -> int:
    """Hosts a block holds: from .11 of its first /24 up to, not including, its broadcast address."""
    return min(2 ** (32 - prefix_length) - FIRST_HOST - 1, MAX_HOSTS)


def prefix_length_for(hosts: int) -> int:
    """The smallest block that holds `hosts` hosts: a /24 up to 244, a /23 up to 500, a /22 up to 1,000."""
    if not 1 <= hosts <= MAX_HOSTS:
        raise SandboxError(f"--hosts must be between 1 and {MAX_HOSTS} (a bridge takes at most 1,024 ports)")
    return next(length for length in PREFIX_LENGTHS if hosts <= capacity(length))


def allocate(hosts: int, taken: Iterable[int]) -> Network:
    """The block for a new sandbox of `hosts` hosts, overlapping none of the `taken` /24 indices.

    One /24: the lowest free index (what small sandboxes always got). A bigger block: the highest
    free aligned one, so big and small sandboxes grow from opposite ends."""
    prefix_length = prefix_length_for(hosts)
    size = 2 ** (24 - prefix_length)
    taken = set(taken)
    starts = range(1, LAST_INDEX + 1) if size == 1 else range((LAST_INDEX + 1 - size) // size * size, 0, -size)
    for start in starts:
        network = Network(start, prefix_length)
        if not network.overlaps(taken):
            return network
    in_use = len(taken & set(range(1, LAST_INDEX + 1)))
    raise SandboxError(f"no free sandbox network of {size} /24s left in {SUBNET} ({in_use} of {LAST_INDEX} /24s in use)")


def indices_in_use(addresses: str) -> set[int]:
    """The /24 indices of SUBNET covered by the addresses `ip -o -4 addr show` lists (any interface).

    A bridge left by a crashed run keeps its address: its block stays taken until it is removed."""
    used: set[int] = set()
    for match in re.finditer(r"\binet (\d+\.\d+\.\d+\.\d+/\d+)", addresses):
        network = ipaddress.ip_interface(match.group(1)).network
        if network.overlaps(SUBNET):
            inside = network if network.prefixlen >= SUBNET.prefixlen else SUBNET
            first, last = int(inside.network_address), int(inside.broadcast_address)
            used.update(range((first >> 8) & 0xFF, ((last >> 8) & 0xFF) + 1))
    return used


def _octets(network: ipaddress.IPv4Network) -> str:
    return ".".join(str(network.network_address).split(".")[:2])
