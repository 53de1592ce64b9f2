"""Where sandboxes live in 10.244.0.0/16: small ones keep their /24, big ones (up to 1,000 hosts)
take an aligned /23 or /22, and no two ever overlap.

Starting 245+ hosts costs more than a test may (the 1,000-host run is a measurement, in
docs/measurements.md), so the blocks are checked as data, and one real small sandbox shows the
addressing it always had and that a big block is kept clear of it.
"""
from __future__ import annotations

import ipaddress
import os
import random

import pytest

from provision.errors import SandboxError
from provision.sandbox import Sandbox, system
from provision.sandbox.addressing import LAST_INDEX, MAX_HOSTS, Network, allocate, indices_in_use
from provision.sandbox.fleet import indices_taken


def test_a_small_sandbox_takes_the_lowest_free_24_and_numbers_hosts_from_11():
    network = allocate(3, taken={1, 2, 4})
    assert network == Network(3, 24)
    assert (network.bridge, network.gateway, network.cidr) == ("pvbr3", "10.244.3.1", "10.244.3.0/24")
    assert [network.host_address(number) for number in (1, 2, 244)] == ["10.244.3.11", "10.244.3.12", "10.244.3.254"]
    assert allocate(244, taken=set()).prefix_length == 24


@pytest.mark.parametrize(("hosts", "prefix_length", "index"), [(245, 23, 248), (500, 23, 248), (501, 22, 244), (1000, 22, 244)])
def test_a_big_sandbox_takes_an_aligned_block_from_the_top(hosts, prefix_length, index):
    network = allocate(hosts, taken={1, 2, 3})
    assert (network.prefix_length, network.index) == (prefix_length, index)
    ipaddress.ip_network(network.cidr)  # strict: raises unless the block is aligned to its size
    assert allocate(hosts, taken={index + network.size - 1}).index == index - network.size


def test_host_counts_no_block_holds_are_refused():
    for hosts in (0, MAX_HOSTS + 1):
        with pytest.raises(SandboxError, match="between 1 and 1000"):
            allocate(hosts, taken=set())
    with pytest.raises(SandboxError, match="does not fit"):
        Network(5).host_address(245)


def test_a_thousand_hosts_have_distinct_addresses_inside_their_block_and_names_that_sort_as_they_count():
    sandbox = Sandbox(name="scale-plan", index=244, prefix_length=22)
    hosts = sandbox.plan_hosts(1000)
    block = ipaddress.ip_network(sandbox.network.cidr)
    addresses = [ipaddress.ip_address(host.address) for host in hosts]
    assert len(set(addresses)) == 1000 and all(address in block for address in addresses)
    assert not {block.network_address, block.broadcast_address, ipaddress.ip_address(sandbox.gateway)} & set(addresses)
    assert addresses == sorted(addresses)
    names = [host.name for host in hosts]
    assert names[:2] + names[-1:] == ["host0001", "host0002", "host1000"] and names == sorted(names)
    assert len({host.netns for host in hosts}) == 1000
    assert max(len(host.veth) for host in hosts) <= 15  # IFNAMSIZ
    assert [host.name for host in Sandbox(name="small", index=7).plan_hosts(3)] == ["host01", "host02", "host03"]
    assert Sandbox(name="mid", index=248, prefix_length=23).plan_hosts(245)[-1].name == "host245"


def test_blocks_allocated_one_after_another_never_overlap():
    chooser = random.Random(13)
    taken: set[int] = set()
    blocks = []
    while True:
        try:
            network = allocate(chooser.choice([1, 20, 244, 300, 1000]), taken)
        except SandboxError as error:
            assert "no free sandbox network" in str(error)
            break
        assert not network.overlaps(taken) and network.index % network.size == 0
        assert 1 <= network.indices[0] and network.indices[-1] <= LAST_INDEX
        taken.update(network.indices)
        blocks.append(network)
    assert len(blocks) > 20 and {block.prefix_length for block in blocks} == {22, 23, 24}


def test_addresses_on_this_machine_take_the_24s_they_cover():
    listing = ("5: pvbr244    inet 10.244.244.1/22 brd 10.244.247.255 scope global pvbr244\\       valid_lft forever\n"
               "6: pvbr3    inet 10.244.3.1/24 brd 10.244.3.255 scope global pvbr3\n"
               "2: eth0    inet 192.168.1.5/24 brd 192.168.1.255 scope global eth0\n")
    assert indices_in_use(listing) == {3, 244, 245, 246, 247}
    assert indices_in_use("2: eth1    inet 10.0.0.2/8 scope global eth1\n") == set(range(256))


def test_a_raised_kernel_setting_is_remembered_once_and_restored(tmp_path):
    setting = tmp_path / "gc_thresh3"
    setting.write_text("1024\n")
    assert system.remember_setting(str(setting), str(tmp_path)) == 1024
    setting.write_text("2024\n")
    assert system.remember_setting(str(setting), str(tmp_path)) == 1024, "the machine's own value, not ours"
    system.restore_setting(str(setting), str(tmp_path))
    assert setting.read_text() == "1024"
    assert os.listdir(tmp_path) == ["gc_thresh3"]


@pytest.mark.sandbox
def test_a_small_sandbox_keeps_its_24_and_a_big_block_keeps_clear_of_it(sandbox):
    assert sandbox.prefix_length == 24
    assert [host.address for host in sandbox.hosts[:2]] == [f"10.244.{sandbox.index}.11", f"10.244.{sandbox.index}.12"]
    assert sandbox.hosts[0].name == "host01"
    on_bridge = system.run("ip", "-o", "-4", "addr", "show", "dev", sandbox.bridge).stdout.split()
    assert f"{sandbox.gateway}/24" in on_bridge
    taken = indices_taken(sandbox.root)
    assert sandbox.index in taken
    assert not allocate(1000, taken).overlaps([sandbox.index])
