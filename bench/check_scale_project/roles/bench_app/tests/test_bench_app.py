"""bench_app's end state, as the tasks leave it."""
import json


def test_app_folder(host):
    folder = host.file("/opt/benchapp")
    assert folder.is_directory and folder.mode == 0o750


def test_app_config(host):
    config = host.file("/opt/benchapp/app.json")
    assert config.mode == 0o640 and json.loads(config.content_string) == {"workers": 4}


def test_daemon_json(host):
    daemon = json.loads(host.file("/etc/benchfleet/daemon.json").content_string)
    assert daemon["log-driver"] == "json-file" and daemon["live-restore"] is True


def test_log_folders(host):
    for name in ("app", "audit"):
        assert host.file(f"/var/log/benchapp/{name}").is_directory


def test_sshd_running(host):
    assert host.run("pgrep -x sshd").rc == 0
