"""deploy/: the Kubernetes Indexed Job and the two bastions' crontab must slice a fleet into N
runs that are one fleet run in one PostgreSQL history. Each pod's command is run here by the
shell, as the container would run it (its environment built from the manifest: the Secret's
values, the Job's name for the label, JOB_COMPLETION_INDEX), with a stand-in `provision` that
keeps its arguments, which provision's own parser then reads; so an N that disagrees, a slice
off by one, a Secret key or mount that does not exist, or a broken inventory or playbook fails."""
from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess

import pytest
import yaml

from provision.cli import build_parser, main
from provision.history import is_database_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "provision-check.yaml")
CRONTAB = os.path.join(ROOT, "deploy", "bastions", "provision-check.cron")


def manifest() -> dict[tuple[str, str], dict]:
    with open(MANIFEST, encoding="utf-8") as handle:
        return {(document["kind"], document["metadata"]["name"]): document for document in yaml.safe_load_all(handle)}


def pod_environment(documents: dict, job: dict, container: dict, index: int) -> dict[str, str]:
    """The container's environment as Kubernetes builds it for the pod of completion index `index`."""
    environment = {"JOB_COMPLETION_INDEX": str(index)}
    for variable in container["env"]:
        source = variable.get("valueFrom", {})
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        elif "secretKeyRef" in source:
            reference = source["secretKeyRef"]
            secret = documents[("Secret", reference["name"])]
            environment[variable["name"]] = secret["stringData"][reference["key"]]
        else:
            path = source["fieldRef"]["fieldPath"]
            assert path == "metadata.labels['batch.kubernetes.io/job-name']", path  # the label a Job's pods carry
            environment[variable["name"]] = job["metadata"]["name"]
    return environment


def test_every_pod_of_the_indexed_job_checks_its_own_slice_into_one_fleet_run(tmp_path, monkeypatch):
    documents = manifest()
    job = next(document for (kind, _), document in documents.items() if kind == "Job")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    container = next(item for item in pod["containers"] if item["name"] == "provision")
    assert spec["completionMode"] == "Indexed" and pod["restartPolicy"] == "Never"
    slices = spec["completions"]
    assert spec["parallelism"] == slices >= 2
    drift = next(rule for rule in spec["podFailurePolicy"]["rules"] if "onExitCodes" in rule)
    assert {1, 2, 3, 4, 6} <= set(drift["onExitCodes"]["values"]) and drift["action"] == "FailIndex"  # no rerun

    stand_in = tmp_path / "bin" / "provision"  # keeps its arguments, NUL-separated
    stand_in.parent.mkdir()
    stand_in.write_text('#!/bin/sh\nfor word in "$@"; do printf "%s\\0" "$word"; done > "$ARGUMENTS"\n')
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    seen = []
    for index in range(slices):
        environment = pod_environment(documents, job, container, index)
        arguments = tmp_path / f"arguments-{index}"
        subprocess.run([*container["command"], *container["args"]], check=True, timeout=30,
                       env={**environment, "PATH": f"{stand_in.parent}:/usr/bin:/bin", "ARGUMENTS": str(arguments)})
        argv = arguments.read_text().split("\0")[:-1]
        for name, value in environment.items():  # provision reads its variables too
            monkeypatch.setenv(name, value)
        args = build_parser().parse_args(argv)
        assert args.command == "check"
        seen.append(args.host_slice)
        assert args.run_group == job["metadata"]["name"]
        assert is_database_url(args.state_db) and args.state_db == environment["PROVISION_STATE_DB"]
        assert ":" not in args.state_db.split("://", 1)[1].split("@", 1)[0]  # no password on the command line
        assert environment.get("PGPASSWORD")
        for path in (args.inventory, args.playbook):  # files of the ConfigMap, where it is mounted
            folder, name = os.path.split(path)
            volume = next(volume for key, volume in volumes.items() if mounts.get(key) == folder)
            assert name in documents[("ConfigMap", volume["configMap"]["name"])]["data"]
    assert seen == [(number, slices) for number in range(1, slices + 1)]  # every slice once: the whole fleet

    # the inventory's key and known_hosts are files of the mounted ssh Secret
    config = documents[("ConfigMap", volumes["fleet"]["configMap"]["name"])]["data"]
    variables = yaml.safe_load(config["inventory.yaml"])["all"]["vars"]
    ssh = documents[("Secret", volumes["ssh"]["secret"]["secretName"])]["stringData"]
    for variable in ("ansible_ssh_private_key_file", "provision_known_hosts_file"):
        folder, name = os.path.split(variables[variable])
        assert folder == mounts["ssh"] and name in ssh, variable
    # and the inventory and playbook themselves pass provision's validation
    for name, text in config.items():
        (tmp_path / name).write_text(text)
    assert main(["lint", str(tmp_path / "inventory.yaml"), str(tmp_path / "checks.yaml")]) == 0


def test_the_two_bastions_cover_every_slice_under_one_run_group():
    with open(CRONTAB, encoding="utf-8") as handle:
        lines = [line for line in handle if re.match(r"^\d", line)]
    assert len(lines) == 2
    found = []
    for line in lines:
        words = shlex.split(line.split(None, 6)[6].replace("\\%", "%"))
        found.append((words[words.index("--slice") + 1], words[words.index("--run-group") + 1]))
    slices = sorted(text for text, _ in found)
    count = len(lines)
    assert slices == [f"{number}/{count}" for number in range(1, count + 1)]
    assert len({group for _, group in found}) == 1 and "$(date" in found[0][1]


@pytest.mark.parametrize("path", [MANIFEST, CRONTAB, os.path.join(ROOT, "deploy", "README.md")])
def test_deploy_files_name_no_real_secret(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert "BEGIN OPENSSH PRIVATE KEY" not in text and not re.search(r"postgres(ql)?://[^\s/@]*:[^\s/@]+@", text)
