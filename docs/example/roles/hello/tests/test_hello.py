"""hello's end state, as its tasks leave it: `provision verify` and `provision check` run these on
every host the playbook's hello role targets (testinfra's `host`; `provision_vars` are the host's
variables over the role's defaults)."""
import json


def test_folder(host):
    folder = host.file("/etc/provision-example")
    assert folder.is_directory and folder.mode == 0o755


def test_config_names_the_host_and_its_owner(host, provision_vars):
    config = host.file("/etc/provision-example/hello.conf").content_string.splitlines()
    assert f"host={provision_vars['inventory_hostname']}" in config
    assert f"owner={provision_vars['hello_owner']}" in config


def test_limits_line(host):
    assert "nofile=65536" in host.file("/etc/provision-example/limits.conf").content_string.splitlines()


def test_settings(host, provision_vars):
    settings = json.loads(host.file("/etc/provision-example/settings.json").content_string)
    for key, value in provision_vars["hello_settings"].items():
        assert settings[key] == value
