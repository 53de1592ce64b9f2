"""Everything provision reads about a host, in one command and one round trip, named like Ansible's.

`FACTS_SCRIPT` prints sections marked `@@provision:NAME@@`; `parse_facts` is a pure function of
that text, so it is tested on sample outputs. The easy thing to get wrong: the host may lack
Python, systemd, `hostname -f` or /etc/os-release (minimal images, namespace sandboxes), so every
probe is allowed to fail and each fact falls back instead of breaking the whole gather.
"""
from __future__ import annotations

import configparser
import json
import re
import shlex
from typing import Any

from provision.errors import ProvisionError
from provision.transport.base import Transport

MARK = "@@provision:"

FACTS_SCRIPT = r"""
s() { printf '\n@@provision:%s@@\n' "$1"; }
r() { [ -r "$1" ] && while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < "$1"; }
s hostname; r /proc/sys/kernel/hostname || hostname 2>/dev/null
s fqdn; hostname -f 2>/dev/null
s os_release; r /etc/os-release || r /usr/lib/os-release
s debian_version; r /etc/debian_version
s kernel; r /proc/sys/kernel/osrelease; s kernel_version; r /proc/sys/kernel/version
s system; echo Linux; s machine; uname -m
s boot_id; r /proc/sys/kernel/random/boot_id
s fips; r /proc/sys/crypto/fips_enabled
s systemd_running; [ -d /run/systemd/system ] && echo yes || echo no
s pid1; r /proc/1/comm
s init_d; [ -d /etc/init.d ] && echo yes || echo no
s pkg_mgr; for p in apt-get dnf yum zypper apk; do command -v "$p" >/dev/null 2>&1 && echo "$p"; done
s meminfo; while IFS= read -r l; do case "$l" in MemTotal:*|MemFree:*|SwapTotal:*) echo "$l";; esac; done < /proc/meminfo
s nproc; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
s python; command -v python3 2>/dev/null || command -v python 2>/dev/null
s user; id -un; id -u; id -g; printf '%s\n' "$HOME"
s env; env -0 2>/dev/null || env
for f in product_name product_version product_serial product_uuid sys_vendor board_vendor board_name board_version bios_vendor bios_version bios_date chassis_vendor; do s "dmi:$f"; r "/sys/class/dmi/id/$f" 2>/dev/null; done
s virt_cgroup; r /proc/1/cgroup
s virt_environ; [ -r /proc/1/environ ] && tr '\000' '\n' < /proc/1/environ 2>/dev/null | while IFS= read -r l; do case "$l" in container=*) printf '%s\n' "$l";; esac; done
s virt_paths; for p in /proc/vz /proc/lve /proc/bc /.dockerenv /.dockerinit /proc/xen /rhev /dev/kvm; do [ -e "$p" ] && echo "$p"; done
s virt_container; r /run/systemd/container
s virt_xen; r /proc/xen/capabilities
s virt_dmi; for f in product_name sys_vendor product_family bios_vendor; do printf '%s=' "$f"; r "/sys/devices/virtual/dmi/id/$f" || echo; done
s virt_status; [ -r /proc/self/status ] && while IFS= read -r l; do case "$l" in VxID:*) printf '%s\n' "$l";; esac; done < /proc/self/status
s virt_cpuinfo; [ -r /proc/cpuinfo ] && while IFS= read -r l; do case "$l" in '') break;; 'model name'*|vendor_id*|machine*) printf '%s\n' "$l";; esac; done < /proc/cpuinfo
s virt_modules; [ -r /proc/modules ] && while read -r m _; do case "$m" in kvm|vboxdrv|virtio) echo "$m";; esac; done < /proc/modules
s addresses; ip -4 -o addr show 2>/dev/null
s default_route; ip -4 route show default 2>/dev/null
for f in /etc/ansible/facts.d/*.fact; do [ -f "$f" ] || continue; s "local:${f##*/}"; if [ -x "$f" ]; then "$f" 2>/dev/null; else r "$f"; fi; done
s end
"""

DISTRIBUTION_NAMES = {
    "ubuntu": "Ubuntu", "debian": "Debian", "rhel": "RedHat", "centos": "CentOS", "rocky": "Rocky",
    "almalinux": "AlmaLinux", "fedora": "Fedora", "ol": "OracleLinux", "amzn": "Amazon",
    "linuxmint": "Linux Mint", "pop": "Pop!_OS", "sles": "SLES", "opensuse-leap": "openSUSE Leap",
    "alpine": "Alpine", "arch": "Archlinux",
}
OS_FAMILIES = {
    "debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "centos": "RedHat", "fedora": "RedHat",
    "rocky": "RedHat", "almalinux": "RedHat", "ol": "RedHat", "amzn": "RedHat", "suse": "Suse",
    "sles": "Suse", "alpine": "Alpine", "arch": "Archlinux",
}
PACKAGE_MANAGERS = {"apt-get": "apt", "dnf": "dnf", "yum": "yum", "zypper": "zypper", "apk": "apk"}


class FactsFailed(ProvisionError):
    """The facts command itself could not run (no sh?) — the host is unusable for modules."""


def gather_facts(transport: Transport, timeout: float = 60) -> dict[str, Any]:
    """Run the facts script once and return the ansible_* facts. Runs without become: reading
    needs no root, and gathering must work before sudo is known to work. A reply cut short (seen
    once on a host still starting up: exit 0, no output) is asked for once more."""
    result = transport.run(FACTS_SCRIPT, timeout=timeout)
    if MARK + "end@@" not in result.stdout:
        result = transport.run(FACTS_SCRIPT, timeout=timeout)
    if MARK + "end@@" not in result.stdout:
        raise FactsFailed(f"gathering facts failed (rc={result.rc}, {len(result.stdout)} bytes of output): "
                          f"{result.stderr.strip()[:500]}")
    return parse_facts(result.stdout)


def split_sections(output: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(MARK) and line.endswith("@@"):
            if name is not None:
                sections[name] = "\n".join(lines).strip()
            name, lines = line[len(MARK):-2], []
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections[name] = "\n".join(lines).strip()
    return sections


def environment_fact(text: str) -> dict[str, str]:
    """ansible_env: the environment the host gives provision's commands (`env -0`, so a value may
    hold newlines; plain `env` lines where -0 is missing)."""
    entries = text.strip("\n").split("\0") if "\0" in text else text.splitlines()
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = [raw.strip("\"'")]
        values[key.strip()] = words[0] if words else ""
    return values


def distribution_facts(os_release: dict[str, str], debian_version: str) -> dict[str, str]:
    distro_id = os_release.get("ID", "").lower()
    like = os_release.get("ID_LIKE", "").lower().split()
    name = DISTRIBUTION_NAMES.get(distro_id, os_release.get("NAME", "") or "Unknown")
    version = os_release.get("VERSION_ID", "")
    if distro_id == "debian" and debian_version and debian_version[:1].isdigit():
        version = debian_version.strip()  # "12.5" where os-release only says "12"
    family = OS_FAMILIES.get(distro_id)
    for candidate in like:
        if family is None:
            family = OS_FAMILIES.get(candidate)
    release = os_release.get("VERSION_CODENAME") or os_release.get("UBUNTU_CODENAME", "")
    if not release and "(" in os_release.get("VERSION", ""):
        release = os_release["VERSION"].split("(", 1)[1].rstrip(")").strip()
    return {
        "ansible_distribution": name,
        "ansible_distribution_version": version,
        "ansible_distribution_major_version": version.split(".")[0] if version else "",
        "ansible_distribution_release": release,
        "ansible_os_family": family or name,
    }


def service_manager(systemd_running: bool, pid1: str, has_init_d: bool) -> str:
    """'systemd' only when systemd really runs (booted with it), not merely when it is installed."""
    if systemd_running:
        return "systemd"
    if pid1 in ("init", "sysvinit") and has_init_d:
        return "sysvinit"
    if pid1 == "openrc-init":
        return "openrc"
    return "service"


def parse_facts(output: str) -> dict[str, Any]:
    """The ansible_* facts from the facts script's output (pure; see tests/test_facts.py)."""
    sections = split_sections(output)
    get = sections.get
    facts: dict[str, Any] = {}
    hostname = get("hostname", "")
    fqdn = get("fqdn", "") or hostname
    facts["ansible_nodename"] = hostname
    facts["ansible_hostname"] = hostname.split(".")[0]
    facts["ansible_fqdn"] = fqdn
    facts["ansible_domain"] = fqdn.partition(".")[2]
    facts.update(distribution_facts(parse_os_release(get("os_release", "")), get("debian_version", "")))
    facts["ansible_kernel"] = get("kernel", "")
    facts["ansible_kernel_version"] = get("kernel_version", "")
    facts["ansible_system"] = get("system", "")
    facts["ansible_architecture"] = facts["ansible_machine"] = get("machine", "")
    facts["ansible_boot_id"] = get("boot_id", "")
    facts["ansible_fips"] = get("fips", "").strip() == "1"  # the kernel's FIPS mode, as Ansible's fips collector
    systemd_running = get("systemd_running") == "yes"
    facts["ansible_systemd_running"] = systemd_running
    facts["ansible_service_mgr"] = service_manager(systemd_running, get("pid1", ""), get("init_d") == "yes")
    managers = get("pkg_mgr", "").split()
    facts["ansible_pkg_mgr"] = PACKAGE_MANAGERS.get(managers[0], "unknown") if managers else "unknown"
    memory = {}
    for line in get("meminfo", "").splitlines():
        key, _, value = line.partition(":")
        amount = value.split()
        if amount and amount[0].isdigit():
            memory[key] = int(amount[0]) // 1024
    facts["ansible_memtotal_mb"] = memory.get("MemTotal", 0)
    facts["ansible_memfree_mb"] = memory.get("MemFree", 0)
    facts["ansible_swaptotal_mb"] = memory.get("SwapTotal", 0)
    nproc = get("nproc", "")
    facts["ansible_processor_nproc"] = facts["ansible_processor_vcpus"] = int(nproc) if nproc.isdigit() else 0
    python = get("python", "")
    facts["ansible_python"] = {"executable": python} if python else {}
    user = get("user", "").splitlines() + ["", "", "", ""]
    facts["ansible_user_id"] = user[0]
    facts["ansible_user_uid"] = int(user[1]) if user[1].isdigit() else None
    facts["ansible_user_gid"] = int(user[2]) if user[2].isdigit() else None
    facts["ansible_user_dir"] = user[3]
    facts["ansible_env"] = environment_fact(get("env", ""))
    for name, text in sections.items():  # DMI, as Ansible names it; unreadable (serial, not root): NA
        if name.startswith("dmi:"):
            key = name[len("dmi:"):]
            facts[f"ansible_{'system_vendor' if key == 'sys_vendor' else key}"] = text.strip() or "NA"
    facts.update(virtualization_facts(sections))
    facts.update(network_facts(get("addresses", ""), get("default_route", "")))
    facts["ansible_local"] = {name[len("local:"):].removesuffix(".fact"): local_fact(text, name[len("local:"):])
                              for name, text in sections.items() if name.startswith("local:")}
    return facts


KVM_PRODUCTS = ("KVM", "KVM Server", "Bochs", "AHV")
KVM_SYS_VENDORS = ("QEMU", "Amazon EC2", "DigitalOcean", "Google", "Scaleway", "Nutanix")
KVM_BIOS_VENDORS = ("Amazon EC2", "DigitalOcean", "Hetzner")
CONTAINER_TECHS = ("docker", "lxc", "podman", "openvz", "containerd")


def virtualization_facts(sections: dict[str, str]) -> dict[str, Any]:
    """ansible_virtualization_type/_role and _tech_guest/_tech_host, decided as ansible-core's
    Linux virtual facts decide them (pure): containers first (PID 1's cgroup and environment,
    /run/systemd/container, /.dockerenv), then Xen, DMI, VServer, the CPU, loaded modules and
    /dev/kvm; the first signal names the type, later ones only add to the tech lists; "NA" when
    none. Left out: dmidecode, lscpu on s390 and RHEV's vdsm (what only those hosts show); of
    /proc/cpuinfo only the first processor is read (the others say the same), and everything is
    read with the shell's own builtins but PID 1's environment (`tr`), so gathering costs what it did."""
    found: dict[str, str] = {}
    guest, host = set(), set()

    def seen(tech: str, role: str, kind: str | None = None) -> None:
        (guest if role == "guest" else host).add(tech)
        if not found:
            found.update(type=kind or tech, role=role)

    for line in sections.get("virt_cgroup", "").splitlines():
        if re.search(r"/docker(/|-[0-9a-f]+\.scope)", line):
            seen("docker", "guest")
        if "/lxc/" in line or "/machine.slice/machine-lxc" in line:
            seen("lxc", "guest")
        if "/system.slice/containerd.service" in line:
            seen("containerd", "guest")
    for line in sections.get("virt_environ", "").splitlines():
        if "container=lxc" in line:
            seen("lxc", "guest")
        if "container=podman" in line:
            seen("podman", "guest")
        if re.match(r"container=.", line):
            seen("container", "guest")
    paths = set(sections.get("virt_paths", "").split())
    if "/proc/vz" in paths and "/proc/lve" not in paths:
        role = "host" if "/proc/bc" in paths else "guest"
        (host if role == "host" else guest).add("openvz")
        found["type"] = "openvz"  # as ansible-core: openvz names the type even after a container
        found.setdefault("role", role)
    container = sections.get("virt_container", "").strip()
    if container:
        seen(container, "guest")
    if paths & {"/.dockerenv", "/.dockerinit"}:
        seen("docker", "guest")
    if guest & set(CONTAINER_TECHS) or container:
        guest.add("container")
    if "/proc/xen" in paths:
        if "control_d" in sections.get("virt_xen", ""):
            seen("xen", "host")
        else:
            seen("xen", "guest")
    dmi = dict(line.partition("=")[::2] for line in sections.get("virt_dmi", "").splitlines() if "=" in line)
    product, vendor, family, bios = (dmi.get(key, "").strip() for key in
                                     ("product_name", "sys_vendor", "product_family", "bios_vendor"))
    for matched, tech in ((product in KVM_PRODUCTS, "kvm"), (vendor == "oVirt", "oVirt"),
                          (vendor == "Red Hat" and family == "RHV", "RHV"),
                          (vendor == "Red Hat" and family != "RHV" and product == "RHEV Hypervisor", "RHEV"),
                          (product.startswith("VMware"), "VMware"),
                          (product in ("OpenStack Compute", "OpenStack Nova"), "openstack"),
                          (bios == "Xen", "xen"), (bios == "innotek GmbH", "virtualbox"),
                          (bios in KVM_BIOS_VENDORS, "kvm"), (vendor in KVM_SYS_VENDORS, "kvm"),
                          (vendor == "KubeVirt", "KubeVirt"), (vendor == "Microsoft Corporation", "VirtualPC"),
                          (vendor == "Parallels Software International Inc.", "parallels"),
                          (vendor == "OpenStack Foundation", "openstack")):
        if matched:
            seen(tech, "guest")
    status = sections.get("virt_status", "")
    if re.match(r"VxID:\s+\d+", status):
        seen("linux_vserver", "host" if re.match(r"VxID:\s+0", status) else "guest")
    for line in sections.get("virt_cpuinfo", "").splitlines():
        if re.match("model name.*QEMU Virtual CPU", line) or re.match(r"machine.*CHRP IBM pSeries .emulated by qemu.", line):
            seen("kvm", "guest")
        elif re.match("vendor_id.*User Mode Linux", line) or re.match("model name.*UML", line):
            seen("uml", "guest")
        elif re.match("vendor_id.*PowerVM Lx86", line):
            seen("powervm_lx86", "guest")
    modules = set(sections.get("virt_modules", "").split())
    if "kvm" in modules:
        seen("kvm", "host")
    if "vboxdrv" in modules:
        seen("virtualbox", "host")
    if "virtio" in modules:
        seen("kvm", "guest")
    if "/dev/kvm" in paths:
        seen("kvm", "host")
    return {"ansible_virtualization_type": found.get("type", "NA"), "ansible_virtualization_role": found.get("role", "NA"),
            "ansible_virtualization_tech_guest": sorted(guest), "ansible_virtualization_tech_host": sorted(host)}


def network_facts(addresses: str, default_route: str) -> dict[str, Any]:
    """ansible_interfaces, ansible_all_ipv4_addresses and ansible_default_ipv4 (address, interface,
    gateway, netmask, network, prefix) from `ip -4 -o addr` and `ip -4 route show default` (pure)."""
    import ipaddress

    interfaces: list[str] = []
    by_interface: dict[str, list[ipaddress.IPv4Interface]] = {}
    for line in addresses.splitlines():
        words = line.split()
        if len(words) >= 4 and words[2] == "inet":
            name = words[1].split("@")[0]
            try:
                address = ipaddress.IPv4Interface(words[3])
            except ValueError:
                continue
            if name not in interfaces:
                interfaces.append(name)
            by_interface.setdefault(name, []).append(address)
    facts: dict[str, Any] = {
        "ansible_interfaces": interfaces,
        "ansible_all_ipv4_addresses": [str(address.ip) for name in interfaces for address in by_interface[name]
                                       if not address.ip.is_loopback],
        "ansible_default_ipv4": {},
    }
    route = default_route.split()
    device = route[route.index("dev") + 1] if "dev" in route[:-1] else None
    if device in by_interface:
        address = by_interface[device][0]
        facts["ansible_default_ipv4"] = {
            "address": str(address.ip), "interface": device, "alias": device,
            "gateway": route[route.index("via") + 1] if "via" in route[:-1] else "",
            "netmask": str(address.netmask), "network": str(address.network.network_address),
            "prefix": str(address.network.prefixlen)}
    return facts


def local_fact(text: str, file_name: str) -> Any:
    """One /etc/ansible/facts.d/NAME.fact as Ansible reads it: JSON, else INI (sections of
    options), else Ansible's own error string in place of the value. An executable fact file
    was run, and `text` is what it printed."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return f"error loading facts as JSON or ini - please check content: /etc/ansible/facts.d/{file_name}"
    return {section: dict(parser.items(section)) for section in parser.sections()}
