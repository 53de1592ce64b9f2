"""command and shell: run something on the host and register rc/stdout/stderr.

Always "changed" (provision cannot know what a command did) unless `creates`/`removes` say it
is not needed. The easy thing to get wrong: `command` must not go through a shell — its words are
quoted one by one, so `*`, `|` and `$HOME` reach the program literally; `shell` is for pipes.
"""
from __future__ import annotations

import shlex
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote


class Command(Module):
    name = "command"
    opaque = True  # what a command does to the host is unknown: batched reads end here
    free_form = True
    check_mode_skip = True
    spec = {
        "cmd": Arg("str", help="the command line (or give it free-form)"),
        "argv": Arg("list", help="the command as a list of words, none of them interpreted"),
        "creates": Arg("path", help="skip when this path exists"),
        "removes": Arg("path", help="skip when this path does not exist"),
        "chdir": Arg("path"),
        "stdin": Arg("str"),
        "stdin_add_newline": Arg("bool", default=True),
        "strip_empty_ends": Arg("bool", default=True),
        "timeout": Arg("float", help="seconds before the command is stopped (rc 124)"),
    }

    def command_text(self) -> str:
        """Shell text to run: for command, every word quoted."""
        if self.args.get("argv"):
            return join(self.args["argv"])
        words = self._raw_command()
        try:
            return join(shlex.split(words))
        except ValueError as error:
            raise ModuleFailed(f"cannot split command {words!r}: {error}") from error

    def _raw_command(self) -> str:
        text = self.args.get("cmd") or self.args.get("_raw_params")
        if not text or not str(text).strip():
            raise ModuleFailed(f"{self.name} needs a command (free-form, cmd or argv)")
        return str(text)

    def display_command(self) -> Any:
        return self.args.get("argv") or self._raw_command()

    def read(self) -> str | None:
        """Why the command is skipped (creates/removes), or None: one test, one round trip."""
        creates, removes = self.args.get("creates"), self.args.get("removes")
        if not creates and not removes:
            return None
        tests = []
        if creates:
            tests.append(f"[ -e {quote(creates)} ] && echo creates")
        if removes:
            tests.append(f"[ -e {quote(removes)} ] || echo removes")
        result = self.context.run("; ".join(tests) + "; true")
        reasons = result.stdout.split()
        if "creates" in reasons:
            return f"skipped, since {creates} exists"
        if "removes" in reasons:
            return f"skipped, since {removes} does not exist"
        return None

    def diff(self, current: str | None) -> Any:
        return None if current else "run"

    def result_data(self, current: str | None, plan: Any) -> dict[str, Any]:
        data = {"cmd": self.display_command(), "rc": 0, "stdout": "", "stderr": "",
                "stdout_lines": [], "stderr_lines": []}
        if current:
            data["msg"] = current
        return data

    def apply(self, plan: Any) -> dict[str, Any]:
        text = self.command_text()
        if self.args.get("chdir"):
            text = f"cd {quote(self.args['chdir'])} && {text}"
        stdin = self.args.get("stdin")
        if stdin is not None and self.args["stdin_add_newline"]:
            stdin += "\n"
        result = self.context.run(text, stdin=stdin, timeout=self.args.get("timeout"))
        stdout, stderr = result.stdout, result.stderr
        if self.args["strip_empty_ends"]:
            stdout, stderr = stdout.rstrip("\r\n"), stderr.rstrip("\r\n")
        data = {
            "cmd": self.display_command(), "rc": result.rc, "stdout": stdout, "stderr": stderr,
            "stdout_lines": stdout.splitlines(), "stderr_lines": stderr.splitlines(),
        }
        if result.rc != 0:
            detail = (stderr or stdout).strip().splitlines()[-3:]
            raise ModuleFailed(f"non-zero return code {result.rc}" + (": " + " | ".join(detail) if detail else ""), data)
        return data


class Shell(Command):
    name = "shell"
    spec = {**Command.spec, "executable": Arg("path", help="shell to run the text with (default sh)")}
    spec.pop("argv")

    def command_text(self) -> str:
        text = self._raw_command()
        executable = self.args.get("executable")
        if executable:
            return join([executable, "-c", text])
        return "{\n" + text + "\n}"
