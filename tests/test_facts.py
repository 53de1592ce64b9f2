"""parse_facts on sample outputs of FACTS_SCRIPT (no host): each distribution as Ansible names it."""
import pytest

from provision.facts import parse_facts, split_sections


def output(**sections):
    """The facts script's output with these sections (every section present, most empty)."""
    names = ["hostname", "fqdn", "os_release", "debian_version", "kernel", "kernel_version", "system", "machine",
             "boot_id", "systemd_running", "pid1", "init_d", "pkg_mgr", "meminfo", "nproc", "python", "user"]
    return "".join(f"\n@@provision:{name}@@\n{sections.get(name, '')}" for name in names) + "\n@@provision:end@@\n"


DEBIAN = output(
    hostname="gpu01", fqdn="gpu01.lab.example",
    os_release='PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
               'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
    debian_version="12.5", kernel="6.1.0-18-amd64", kernel_version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1",
    system="Linux", machine="x86_64", boot_id="5f0c2c1e-1111-2222-3333-444455556666",
    systemd_running="yes", pid1="systemd", init_d="yes", pkg_mgr="apt-get",
    meminfo="MemTotal:       65843200 kB\nMemFree:        1024000 kB\nSwapTotal:             0 kB",
    nproc="32", python="/usr/bin/python3", user="ubuntu\n1000\n1000\n/home/ubuntu",
)


def test_a_debian_host():
    facts = parse_facts(DEBIAN)
    assert {name: facts[name] for name in (
        "ansible_hostname", "ansible_fqdn", "ansible_domain", "ansible_distribution", "ansible_distribution_version",
        "ansible_distribution_major_version", "ansible_distribution_release", "ansible_os_family",
        "ansible_service_mgr", "ansible_pkg_mgr", "ansible_memtotal_mb", "ansible_memfree_mb",
        "ansible_processor_nproc", "ansible_architecture", "ansible_user_uid", "ansible_user_dir")} == {
        "ansible_hostname": "gpu01", "ansible_fqdn": "gpu01.lab.example", "ansible_domain": "lab.example",
        "ansible_distribution": "Debian", "ansible_distribution_version": "12.5",
        "ansible_distribution_major_version": "12", "ansible_distribution_release": "bookworm",
        "ansible_os_family": "Debian", "ansible_service_mgr": "systemd", "ansible_pkg_mgr": "apt",
        "ansible_memtotal_mb": 64300, "ansible_memfree_mb": 1000, "ansible_processor_nproc": 32,
        "ansible_architecture": "x86_64", "ansible_user_uid": 1000, "ansible_user_dir": "/home/ubuntu"}
    assert facts["ansible_python"] == {"executable": "/usr/bin/python3"}


@pytest.mark.parametrize("os_release, expected", [
    ('NAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n'
     "VERSION_CODENAME=jammy\n", ("Ubuntu", "22.04", "22", "jammy", "Debian")),
    ('NAME="Rocky Linux"\nVERSION_ID="9.3"\nID="rocky"\nID_LIKE="rhel centos fedora"\n',
     ("Rocky", "9.3", "9", "", "RedHat")),
    ('NAME="Some Derivative"\nVERSION_ID="1.0"\nID=somederiv\nID_LIKE="ubuntu debian"\n',
     ("Some Derivative", "1.0", "1", "", "Debian")),
    ('NAME="Debian GNU/Linux"\nVERSION="11 (bullseye)"\nVERSION_ID="11"\nID=debian\n',
     ("Debian", "11", "11", "bullseye", "Debian")),
], ids=["ubuntu", "rocky via ID", "unknown via ID_LIKE", "codename from VERSION"])
def test_distributions(os_release, expected):
    facts = parse_facts(output(os_release=os_release))
    assert (facts["ansible_distribution"], facts["ansible_distribution_version"],
            facts["ansible_distribution_major_version"], facts["ansible_distribution_release"],
            facts["ansible_os_family"]) == expected


def test_debian_testing_keeps_os_release_version():
    facts = parse_facts(output(os_release="ID=debian\nVERSION_ID=\"13\"\n", debian_version="trixie/sid"))
    assert facts["ansible_distribution_version"] == "13"


def test_a_minimal_host_where_every_probe_failed_still_parses():
    facts = parse_facts(output(hostname="box"))
    assert facts["ansible_hostname"] == facts["ansible_fqdn"] == "box"
    assert facts["ansible_domain"] == ""
    assert facts["ansible_distribution"] == "Unknown"
    assert (facts["ansible_pkg_mgr"], facts["ansible_memtotal_mb"], facts["ansible_processor_nproc"]) == ("unknown", 0, 0)
    assert facts["ansible_python"] == {} and facts["ansible_user_uid"] is None


@pytest.mark.parametrize("running, pid1, init_d, manager", [
    ("yes", "systemd", "yes", "systemd"),
    ("no", "systemd", "yes", "service"),  # installed but not booted with it (a container, a sandbox)
    ("no", "init", "yes", "sysvinit"),
    ("no", "tini", "yes", "service"),
    ("no", "openrc-init", "no", "openrc"),
])
def test_service_manager_means_the_running_one(running, pid1, init_d, manager):
    assert parse_facts(output(systemd_running=running, pid1=pid1, init_d=init_d))["ansible_service_mgr"] == manager


def test_the_first_package_manager_found_wins():
    assert parse_facts(output(pkg_mgr="dnf\nyum"))["ansible_pkg_mgr"] == "dnf"


def test_a_short_hostname_from_a_dotted_one():
    facts = parse_facts(output(hostname="node7.cluster.local", fqdn=""))
    assert (facts["ansible_hostname"], facts["ansible_nodename"], facts["ansible_domain"]) == (
        "node7", "node7.cluster.local", "cluster.local")


def test_section_text_that_looks_like_a_marker_only_counts_on_its_own_line():
    sections = split_sections("\n@@provision:hostname@@\nx @@provision:fqdn@@\n@@provision:end@@\n")
    assert sections["hostname"] == "x @@provision:fqdn@@"


def test_local_facts_from_facts_d_are_read_as_ansible_reads_them():
    """/etc/ansible/facts.d/NAME.fact: JSON, else INI, else Ansible's error string; none: {}."""
    text = DEBIAN.replace("\n@@provision:end@@\n", "") + (
        '\n@@provision:local:gpus.fact@@\n{"count": 8, "model": "H100"}'
        "\n@@provision:local:site.fact@@\n[rack]\nrow = A\nslot = 12"
        "\n@@provision:local:broken.fact@@\nthis is = neither {"
        "\n@@provision:end@@\n")
    local = parse_facts(text)["ansible_local"]
    assert local["gpus"] == {"count": 8, "model": "H100"}
    assert local["site"] == {"rack": {"row": "A", "slot": "12"}}
    assert local["broken"] == "error loading facts as JSON or ini - please check content: /etc/ansible/facts.d/broken.fact"
    assert parse_facts(DEBIAN)["ansible_local"] == {}


def test_dmi_and_network_facts_with_ansibles_names():
    output = ("\n@@provision:dmi:product_name@@\nPowerEdge XE9680\n@@provision:dmi:sys_vendor@@\nDell Inc.\n"
              "@@provision:dmi:product_serial@@\n\n"
              "@@provision:addresses@@\n1: lo    inet 127.0.0.1/8 scope host lo\n"
              "2: eno1    inet 10.0.3.17/22 brd 10.0.3.255 scope global eno1\n"
              "3: ib0    inet 192.168.50.17/24 scope global ib0\n"
              "@@provision:default_route@@\ndefault via 10.0.0.1 dev eno1 proto static\n@@provision:end@@\n")
    facts = parse_facts(output)
    assert facts["ansible_product_name"] == "PowerEdge XE9680" and facts["ansible_system_vendor"] == "Dell Inc."
    assert facts["ansible_product_serial"] == "NA"  # root-only: unreadable is NA, as in Ansible
    assert facts["ansible_interfaces"] == ["lo", "eno1", "ib0"]
    assert facts["ansible_all_ipv4_addresses"] == ["10.0.3.17", "192.168.50.17"]
    assert facts["ansible_default_ipv4"] == {"address": "10.0.3.17", "interface": "eno1", "alias": "eno1",
                                             "gateway": "10.0.0.1", "netmask": "255.255.252.0",
                                             "network": "10.0.0.0", "prefix": "22"}
    assert parse_facts("\n@@provision:end@@\n")["ansible_default_ipv4"] == {}


def virtual(**sections):
    return {name: parse_facts(output() + "".join(f"\n@@provision:{key}@@\n{value}" for key, value in sections.items())
                              + "\n@@provision:end@@\n")[f"ansible_virtualization_{name}"]
            for name in ("type", "role", "tech_guest", "tech_host")}


@pytest.mark.parametrize("sections, expected", [
    # a docker container on a KVM host (seen from this machine: ansible-core said the same)
    ({"virt_cgroup": "0::/docker/3f1e9c", "virt_paths": "/.dockerenv\n/dev/kvm"},
     {"type": "docker", "role": "guest", "tech_guest": ["container", "docker"], "tech_host": ["kvm"]}),
    # a systemd-nspawn container (a systemd sandbox host: ansible-core said the same)
    ({"virt_environ": "PATH=/usr/bin\ncontainer=systemd-nspawn", "virt_container": "systemd-nspawn"},
     {"type": "container", "role": "guest", "tech_guest": ["container", "systemd-nspawn"], "tech_host": []}),
    # a cloud VM: the DMI names the hypervisor
    ({"virt_dmi": "product_name=Standard PC (Q35 + ICH9, 2009)\nsys_vendor=QEMU\nproduct_family=\nbios_vendor=SeaBIOS",
      "virt_modules": "virtio"},
     {"type": "kvm", "role": "guest", "tech_guest": ["kvm"], "tech_host": []}),
    ({"virt_dmi": "product_name=VMware Virtual Platform\nsys_vendor=VMware, Inc.\nproduct_family=\nbios_vendor=Phoenix"},
     {"type": "VMware", "role": "guest", "tech_guest": ["VMware"], "tech_host": []}),
    # bare metal that can run VMs
    ({"virt_dmi": "product_name=DGX H100\nsys_vendor=NVIDIA\nproduct_family=DGX\nbios_vendor=AMI", "virt_modules": "kvm"},
     {"type": "kvm", "role": "host", "tech_guest": [], "tech_host": ["kvm"]}),
    # nothing says anything (a namespace sandbox host: ansible-core said NA too)
    ({}, {"type": "NA", "role": "NA", "tech_guest": [], "tech_host": []}),
])
def test_virtualization_facts_as_ansible_decides_them(sections, expected):
    assert virtual(**sections) == expected


def test_ansible_env_is_the_environment_commands_get_multiline_values_whole():
    """DeepOps' bootstrap names the user from `ansible_env.SUDO_USER | default(ansible_env.USER)`."""
    text = output(user="admin\n1000\n1000\n/home/admin").replace(
        "\n@@provision:end@@", "\n@@provision:env@@\nUSER=admin\0HOME=/home/admin\0MOTD=two\nlines\0EMPTY=\0\n@@provision:end@@")
    assert parse_facts(text)["ansible_env"] == {"USER": "admin", "HOME": "/home/admin", "MOTD": "two\nlines", "EMPTY": ""}
    plain = output().replace("\n@@provision:end@@", "\n@@provision:env@@\nUSER=root\nPATH=/usr/bin:/bin\n@@provision:end@@")
    assert parse_facts(plain)["ansible_env"] == {"USER": "root", "PATH": "/usr/bin:/bin"}
