"""Ansible Vault data made by ansible-vault itself (ansible-core 2.19.14, from PyPI: the files in
tests/fixtures/vault/, password in vault-pass.txt), decrypted by provision: whole files and
`!vault` values, labelled ones (format 1.2), wrong and missing passwords, a run that uses them
without showing them, and `!unsafe` text left as it is."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from provision.errors import InputError
from provision.vault import Vault, VaultError, password_from_file, using
from provision.yamlsource import load_file
from tests.engine.scenario import PROVISION, write

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "vault")
PASSWORD = os.path.join(FIXTURES, "vault-pass.txt")


def vault() -> Vault:
    return Vault([password_from_file(PASSWORD)])


def test_a_vault_file_and_vault_values_made_by_ansible_vault():
    with using(vault()) as opened:
        assert load_file(os.path.join(FIXTURES, "secrets.yaml")) == {"db_password": "s3cr3t-pa55",
                                                                      "api_token": "tok-123456"}
        assert load_file(os.path.join(FIXTURES, "inline.yaml")) == {"ipmi_password": "hunter2-gpu",
                                                                     "lab_secret": "lab-only-value"}
    assert {"s3cr3t-pa55", "hunter2-gpu", "lab-only-value"} <= opened.revealed


def test_wrong_and_missing_passwords_are_named(tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    with using(Vault([password_from_file(str(wrong))])), pytest.raises(InputError) as refused:
        load_file(os.path.join(FIXTURES, "secrets.yaml"))
    assert "decryption failed: no vault password given fits it" in str(refused.value)
    with pytest.raises(InputError) as missing:
        load_file(os.path.join(FIXTURES, "inline.yaml"))
    assert "give its password with --vault-password-file" in str(missing.value)
    assert str(missing.value).startswith(f"{os.path.join(FIXTURES, 'inline.yaml')}:1:")
    damaged = tmp_path / "damaged.yaml"
    damaged.write_text(open(os.path.join(FIXTURES, "secrets.yaml")).read().replace("3", "4", 40))
    with using(vault()), pytest.raises(InputError):
        load_file(str(damaged))
    with pytest.raises(VaultError, match="the vault password file is empty"):
        (tmp_path / "empty").write_text("\n")
        password_from_file(str(tmp_path / "empty"))


def test_a_password_script_is_run(tmp_path):
    script = tmp_path / "pass.sh"
    script.write_text("#!/bin/sh\necho 'correct horse battery staple'\n")
    script.chmod(0o700)
    with using(Vault([password_from_file(f"lab@{script}")])):
        assert load_file(os.path.join(FIXTURES, "inline.yaml"))["lab_secret"] == "lab-only-value"


def test_a_run_uses_vaulted_values_without_showing_them(tmp_path):
    write(tmp_path, {
        "inventory.yaml": "all:\n  hosts:\n    here: {ansible_connection: local}\n",
        "site.yaml": f"""
            - hosts: all
              gather_facts: false
              vars_files: [inline.yaml]
              tasks:
                - copy: {{dest: "{tmp_path}/written", content: "{{{{ db_password }}}} {{{{ ipmi_password }}}}\\n"}}
                - debug: {{msg: "the token is {{{{ api_token }}}}"}}
                - debug: {{msg: !unsafe "{{{{ left as it is }}}}"}}
            """})
    shutil.copy(os.path.join(FIXTURES, "inline.yaml"), tmp_path / "inline.yaml")
    os.makedirs(tmp_path / "group_vars", exist_ok=True)
    shutil.copy(os.path.join(FIXTURES, "secrets.yaml"), tmp_path / "group_vars" / "all.yaml")
    done = subprocess.run([PROVISION, "apply", "inventory.yaml", "site.yaml", "-v", "--diff",
                           "--vault-password-file", PASSWORD, "--report-json", "report.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "written").read_text() == "s3cr3t-pa55 hunter2-gpu\n"
    shown = done.stdout + done.stderr + (tmp_path / "report.json").read_text()
    assert "s3cr3t-pa55" not in shown and "tok-123456" not in shown and "hunter2-gpu" not in shown
    assert "{{ left as it is }}" in done.stdout
    refused = subprocess.run([PROVISION, "apply", "inventory.yaml", "site.yaml"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 1 and "--vault-password-file" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "report2.json").exists()
