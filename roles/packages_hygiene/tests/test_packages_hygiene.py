"""packages_hygiene's end state: the GPU stack is out of unattended upgrades, no conflicting sources."""


def test_gpu_stack_is_blacklisted_from_unattended_upgrades(host, provision_vars):
    if host.system_info.distribution not in ("debian", "ubuntu"):
        return
    blacklist = host.file("/etc/apt/apt.conf.d/51provision-gpu-blacklist")
    assert blacklist.exists, "the unattended-upgrades blacklist is missing"
    for prefix in provision_vars["hygiene_blocked_prefixes"]:
        assert f'"{prefix}";' in blacklist.content_string


def test_no_conflicting_nvidia_sources(host, provision_vars):
    for path in provision_vars["hygiene_conflicting_sources"]:
        assert not host.file(path).exists, f"{path} conflicts with NVIDIA's repositories"
    listing = host.run("ls /etc/apt/sources.list.d/ 2>/dev/null").stdout.split()
    assert not [name for name in listing if "graphics-drivers" in name]
