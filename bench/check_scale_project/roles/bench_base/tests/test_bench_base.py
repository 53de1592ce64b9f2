"""bench_base's end state, as the tasks leave it."""


def test_config_folder(host):
    folder = host.file("/etc/benchfleet")
    assert folder.is_directory and folder.mode == 0o755
    assert host.file("/etc/benchfleet/conf.d").is_directory


def test_motd(host):
    assert host.file("/etc/benchfleet/motd").content_string == "managed by provision\n"


def test_host_file_is_private_and_names_the_host(host, provision_vars):
    conf = host.file("/etc/benchfleet/host.conf")
    assert conf.mode == 0o600
    assert conf.content_string == f"name={provision_vars['inventory_hostname']}\n"


def test_node_config(host, provision_vars):
    node = host.file("/etc/benchfleet/node.conf")
    assert node.contains(f"^host={provision_vars['inventory_hostname']}$")
    assert node.contains(f"^mode={provision_vars['bench_mode']}$")


def test_limits_lines(host, provision_vars):
    limits = host.file("/etc/benchfleet/limits.conf").content_string.splitlines()
    assert f"nofile={provision_vars['bench_nofile']}" in limits
    assert [line for line in limits if line.startswith("mode=")] == [f"mode={provision_vars['bench_mode']}"]


def test_block(host):
    assert host.file("/etc/benchfleet/block.conf").contains("^x=1$")


def test_link(host):
    link = host.file("/etc/benchfleet/current")
    assert link.is_symlink and link.linked_to == "/etc/benchfleet/node.conf"


def test_packages(host):
    assert host.package("openssh-server").is_installed
    assert not host.package("cowsay").is_installed


def test_hostname_readable(host, provision_vars):
    assert host.run("cat /etc/hostname").rc == 0


def test_root_user(host):
    assert host.user("root").uid == 0
