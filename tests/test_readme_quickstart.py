"""The README's "Try it on the sandbox" block works as written: its lines run in order, in one
shell, from the repository root, as a user types them, and each exits 0 or the code its comment
names (`# exit 3: ...`). The block reads the sandbox's name from SANDBOX (`"${SANDBOX:-try}"`), so
the test gives it one of its own and always brings that sandbox down, even when a line fails.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PROVISION = os.path.join(ROOT, ".venv", "bin", "provision")
SECTION = "## Try it on the sandbox"
EXPECTED_EXIT = re.compile(r"#\s*exit (\d+)\b")
STEP_FAILED = 100  # the script's own exit code when a line exits with another code than expected


def block_lines() -> list[str]:
    """The commands of the first ```sh block under SECTION, in order (blank and comment lines dropped)."""
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert block, f"README.md's {SECTION!r} has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def expected_exit(line: str) -> int:
    found = EXPECTED_EXIT.search(line)
    return int(found.group(1)) if found else 0


def script(lines: list[str]) -> str:
    """One bash script: each line echoed, run, and its exit code compared with what the README says.
    pipefail, so `INV="$(provision sandbox up ... | tail -n1)"` fails when `up` does."""
    steps = ["set -o pipefail"]
    for number, line in enumerate(lines, 1):
        expected = expected_exit(line)
        steps.append(f"printf '\\n$ %s\\n' {shlex.quote(line)}")
        steps.append(line)
        steps.append(f'rc=$?; if [ "$rc" -ne {expected} ]; then '
                     f'echo "README line {number} exited $rc, expected {expected}"; exit {STEP_FAILED}; fi')
    return "\n".join(steps) + "\n"


def test_the_block_names_its_sandbox_from_the_environment_and_stops_it():
    lines = block_lines()
    assert lines[0].startswith("INV=") and 'sandbox up --name "${SANDBOX:-try}"' in lines[0]
    assert lines[-1] == '.venv/bin/provision sandbox down --name "${SANDBOX:-try}"'
    for line in lines:
        assert "provision " not in line or ".venv/bin/provision " in line, f"not the venv's provision: {line}"
    assert [expected_exit(line) for line in lines].count(3) == 1, "one drifted check, exit 3"


@pytest.mark.sandbox
def test_the_readme_sandbox_block_runs_as_written():
    name = f"rq{os.getpid()}"
    environment = {**os.environ, "SANDBOX": name}
    try:
        result = subprocess.run(["bash", "-c", script(block_lines())], cwd=ROOT, env=environment,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-6000:]
        assert "drift on 1 of 2 host(s): host01" in result.stdout, result.stdout[-6000:]
        assert "no drift on 2 host(s)" in result.stdout, result.stdout[-6000:]
    finally:
        subprocess.run([PROVISION, "sandbox", "down", "--name", name], cwd=ROOT,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
