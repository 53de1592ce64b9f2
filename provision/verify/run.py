"""`provision verify`: the roles' testinfra assertions against an inventory's hosts.

Test files: `roles/<role>/tests/test_*.py` of each role, and the site-wide `tests/verify/site/`.
They run in a pytest subprocess with testinfra's own plugin and backends (`--hosts` specs from
provision.verify.hosts; a local host's run on this machine); hosts that cannot be reached are found
first, with provision's own connection and timeout, and reported unreachable instead of failing
every test.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from provision.errors import ConnectionFailed, InputError
from provision.inventory import Inventory, rendered_connection
from provision.playbook.roles import main_file
from provision.templating import TemplateError, resolve_variables
from provision.transport.connect import ConnectOptions, connect
from provision.variables import layer
from provision.verify.hosts import LOCAL_HOSTNAME, hostspec, ssh_config, target_of
from provision.yamlsource import load_file


@dataclass
class VerifyResult:
    checks: list[dict] = field(default_factory=list)  # one per host x test
    unreachable: dict[str, str] = field(default_factory=dict)
    junit_path: str | None = None
    returncode: int = 0
    output: str = ""

    @property
    def failed(self) -> list[dict]:
        return [check for check in self.checks if check["outcome"] == "failed"]

    @property
    def exit_code(self) -> int:
        """2 any check failed (or pytest itself broke), 4 any host unreachable; both add up."""
        broken = self.returncode not in (0, 1, 5)
        code = 2 if self.failed or broken else 0
        return code | (4 if self.unreachable else 0)


def test_files(roles_dirs: list[str], site_dir: str | None, roles: list[str] | None = None) -> list[str]:
    files: list[str] = []
    for roles_dir in roles_dirs:
        for path in sorted(glob.glob(os.path.join(roles_dir, "*", "tests", "test_*.py"))):
            role = os.path.basename(os.path.dirname(os.path.dirname(path)))
            if roles is None or role in roles:
                files.append(path)
    if site_dir and os.path.isdir(site_dir) and roles is None:
        files += sorted(glob.glob(os.path.join(site_dir, "test_*.py")))
    return files


def role_defaults(roles_dirs: list[str]) -> dict:
    merged: dict = {}
    for roles_dir in roles_dirs:
        for role in sorted(os.listdir(roles_dir)) if os.path.isdir(roles_dir) else []:
            path = main_file(os.path.join(roles_dir, role), "defaults")
            data = load_file(path) if path else None
            if isinstance(data, dict):
                merged.update(data)
    return merged


def reachable(inventory: Inventory, names: list[str], options: ConnectOptions) -> dict[str, str]:
    """Hosts that cannot be reached: name -> why. One short connection each, in parallel."""
    def probe(name: str) -> tuple[str, str | None]:
        try:
            transport = connect(name, *rendered_connection(name, inventory.hosts[name].vars), options)
        except TemplateError as error:
            return name, f"{name}: connection variables: {error}"
        except ConnectionFailed as error:
            return name, str(error)
        transport.close()
        return name, None

    with ThreadPoolExecutor(max_workers=max(1, min(64, len(names)))) as pool:
        return {name: why for name, why in pool.map(probe, names) if why}


def run_verify(inventory: Inventory, names: list[str], roles_dirs: list[str], site_dir: str | None,
               options: ConnectOptions, extra_vars: dict, roles: list[str] | None = None,
               junit_path: str | None = None) -> VerifyResult:
    result = VerifyResult(junit_path=junit_path)
    result.unreachable = reachable(inventory, names, options)
    live = [name for name in names if name not in result.unreachable]
    files = test_files(roles_dirs, site_dir, roles)
    if not live or not files:
        return result
    defaults = role_defaults(roles_dirs)
    targets = [target_of(inventory.hosts[name]) for name in live]
    local = [target.name for target in targets if target.local]
    if len(local) > 1:
        raise InputError(f"hosts {', '.join(local)} all use ansible_connection: local, so they are one machine "
                         "and testinfra's local backend cannot tell them apart; verify one (--limit)")
    with tempfile.TemporaryDirectory(prefix="provision-verify-") as folder:
        config = os.path.join(folder, "ssh_config")
        with open(config, "w") as handle:
            handle.write(ssh_config(targets, options.accept_new_host_keys, control_dir=folder))
        variables = {name: _jsonable(resolve_variables(layer(defaults, inventory.hosts[name].vars, extra_vars,
                                                             {"inventory_hostname": name})))
                     for name in live}
        if local:  # testinfra's local backend calls its host `local`
            variables[LOCAL_HOSTNAME] = variables[local[0]]
        vars_path = os.path.join(folder, "vars.json")
        with open(vars_path, "w") as handle:
            json.dump(variables, handle)
        results_path = os.path.join(folder, "results.json")
        with open(os.path.join(folder, "pytest.ini"), "w") as handle:
            handle.write("[pytest]\n")
        specs = ",".join(hostspec(target, config) for target in targets)
        command = [sys.executable, "-m", "pytest", "-c", os.path.join(folder, "pytest.ini"), "--rootdir", folder,
                   "-p", "provision.verify.plugin", "-p", "no:cacheprovider", "-q", "--tb=short",
                   f"--hosts={specs}", f"--provision-vars={vars_path}", f"--provision-results={results_path}"]
        if junit_path:
            command.append(f"--junitxml={os.path.abspath(junit_path)}")
        try:
            process = subprocess.run(command + files, capture_output=True, text=True, cwd=folder)
        finally:
            for target in targets:  # end the multiplexing masters this run started
                if not target.local:
                    subprocess.run(["ssh", "-F", config, "-O", "exit", target.name], capture_output=True, timeout=10)
        result.returncode = process.returncode
        result.output = process.stdout + process.stderr
        if os.path.exists(results_path):
            with open(results_path, encoding="utf-8") as handle:
                result.checks = json.load(handle)
            for check in result.checks:  # paths as the user sees them, not from the temporary root
                check["file"] = os.path.relpath(os.path.normpath(os.path.join(folder, check["file"])))
                if local and check["host"] == LOCAL_HOSTNAME:
                    check["host"] = local[0]
    return result


def _jsonable(variables: dict) -> dict:
    return json.loads(json.dumps(variables, default=str))
