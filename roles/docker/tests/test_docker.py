"""docker's end state: running, daemon.json valid with every managed key, the nvidia runtime live."""
import json


def test_docker_running(host):
    assert host.run("docker info --format '{{.ServerVersion}}'").rc == 0, "docker does not answer"


def test_daemon_json_carries_the_managed_keys(host, provision_vars):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    wanted = {**provision_vars["docker_daemon_options"], **provision_vars.get("docker_daemon_extra_options", {})}
    for key, value in wanted.items():
        if value is not None:
            assert daemon.get(key) == value, f"daemon.json {key} is {daemon.get(key)!r}, wanted {value!r}"


def test_nvidia_runtime_registered_and_live(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert "nvidia" in daemon.get("runtimes", {}), "nvidia-ctk did not register the runtime"
    runtimes = json.loads(host.run("docker info --format '{{json .Runtimes}}'").stdout)
    assert "nvidia" in runtimes, "docker info does not list the nvidia runtime (restart pending?)"
