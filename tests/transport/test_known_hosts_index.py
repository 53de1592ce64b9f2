"""known_hosts is parsed once per process and version of the file, and each connection gets only
its host's keys: loading the whole file per connection held N*N keys for N hosts."""
from __future__ import annotations

import os

import paramiko

from provision.transport.ssh import known_host_keys


def test_each_host_gets_its_own_keys_plain_bracketed_or_hashed(tmp_path):
    generated = []
    for index in range(3):
        path = tmp_path / f"key{index}"
        os.system(f"ssh-keygen -q -t ed25519 -N '' -f {path}")
        generated.append(open(f"{path}.pub").read().split()[:2])
    hashed = paramiko.HostKeys.hash_host("10.0.0.3")
    known = tmp_path / "known_hosts"
    known.write_text(f"10.0.0.1,alpha {' '.join(generated[0])}\n"
                     f"[10.0.0.2]:2222 {' '.join(generated[1])}\n"
                     f"# a comment\n\n{hashed} {' '.join(generated[2])}\n")
    found = {name: [key.get_base64() for key in known_host_keys(str(known), name)]
             for name in ("10.0.0.1", "alpha", "[10.0.0.2]:2222", "10.0.0.2", "10.0.0.3", "10.0.0.4")}
    assert found == {"10.0.0.1": [generated[0][1]], "alpha": [generated[0][1]], "[10.0.0.2]:2222": [generated[1][1]],
                     "10.0.0.2": [], "10.0.0.3": [generated[2][1]], "10.0.0.4": []}
    assert known_host_keys(str(tmp_path / "missing"), "10.0.0.1") == []


def test_parsed_once_per_version_of_the_file(tmp_path):
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {tmp_path / 'k'}")
    line = " ".join(open(tmp_path / "k.pub").read().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"10.0.0.1 {line}\n")
    first, again = known_host_keys(str(known), "10.0.0.1"), known_host_keys(str(known), "10.0.0.1")
    assert first[0] is again[0], "the same parsed key object: not parsed again"
    with open(known, "a") as handle:  # accept-new appends a host: the next connection sees it
        handle.write(f"10.0.0.9 {line}\n")
    assert [key.get_base64() for key in known_host_keys(str(known), "10.0.0.9")] == [line.split()[1]]
