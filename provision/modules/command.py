"""command and shell: run something on the host and register rc/stdout/stderr.

Always "changed" (provision cannot know what a command did) unless `creates`/`removes` say it
is not needed: that test is the module's read (one `[ -e ]` per path, one round trip). Registered
as Ansible does: cmd, rc, stdout, stderr, stdout_lines, stderr_lines, start, end, delta, msg.
The easy thing to get wrong: `command` must not go through a shell — its words are
quoted one by one, so `*`, `|` and `$(...)` reach the program literally; `shell` is for pipes. Only
what Ansible's command expands is expanded, on the host: `$NAME`, `${NAME}` (an unset one stays
as written) and a leading `~`, unless `expand_argument_vars: false`.
"""
from __future__ import annotations

import datetime
import shlex
from typing import Any

from provision.modules.async_status import new_job_id, start_text, started_result
from provision.modules.base import Arg, Module, ModuleFailed, ModuleSkipped
from provision.shell import expanding_word, glob_word, join, quote
from provision.transport.base import CommandResult


# Ansible's command execs the program itself: one that is not there fails with Python's words,
# rc the errno and no output ("[Errno 2] No such file or directory: b'x'"), never a shell's
# "not found" (playbooks test `res.stderr == ''`). The check prints this marker instead.
_NO_PROGRAM = "provision-no-program"
PROGRAM_CHECK = ('case $1 in */*) [ -e "$1" ] || { echo "%s 2 $1" >&2; exit 127; }; '
                 '{ [ -x "$1" ] && [ ! -d "$1" ]; } || { echo "%s 13 $1" >&2; exit 127; } ;; '
                 '*) command -v "$1" >/dev/null 2>&1 || { echo "%s 2 $1" >&2; exit 127; } ;; esac'
                 % (_NO_PROGRAM, _NO_PROGRAM, _NO_PROGRAM))
_ERRNO_WORDS = {"2": "No such file or directory", "13": "Permission denied"}


class Command(Module):
    name = "command"
    opaque = True  # what a command does to the host is unknown: batched reads end here
    free_form = True
    check_mode_skip = True
    # Ansible: `cmd` cannot be used with other raw parameters (playbook/task.py), and "only command or
    # argv can be given, not both" / "no command given" (modules/command.py).
    mutually_exclusive = (("_raw_params", "cmd", "argv"),)
    required_one_of = (("_raw_params", "cmd", "argv"),)
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
        "expand_argument_vars": Arg("bool", default=True, help="expand $NAME and a leading ~ in the words, on "
                                                                "the host (as Ansible's command does)"),
        "executable": Arg("path", help="ignored, with a warning, as Ansible's command ignores it (shell takes it)"),
    }

    def command_text(self) -> str:
        """Shell text to run: for command, every word quoted, only $NAME and ~ left to expand."""
        if self.args.get("argv"):
            words = [str(word) for word in self.args["argv"]]
        else:
            raw = self._raw_command()
            try:
                words = shlex.split(raw)
            except ValueError as error:
                raise ModuleFailed(f"cannot split command {raw!r}: {error}") from error
        if self.args.get("expand_argument_vars", True):
            line = " ".join(expanding_word(word) for word in words)
        else:
            line = join(words)
        return f'set -- {line}; {PROGRAM_CHECK}; "$@"'

    def _raw_command(self) -> str:
        text = self.args.get("cmd") or self.args.get("_raw_params")
        if not text or not str(text).strip():
            raise ModuleFailed(f"{self.name} needs a command (free-form, cmd or argv)")
        return str(text)

    def display_command(self) -> Any:
        return self.args.get("argv") or self._raw_command()

    def read_command(self) -> str | None:
        """As Ansible's command does it, in one round trip: into `chdir` first (a missing one fails
        the task, check mode too), then `creates`/`removes` as glob patterns, relative ones from
        there; prints why the command is skipped. None when there is nothing to test."""
        creates, removes, chdir = self.args.get("creates"), self.args.get("removes"), self.args.get("chdir")
        tests = [f"cd -P {quote(chdir)} 2>/dev/null || {{ echo chdir; exit 0; }}"] if chdir else []
        for reason, pattern, found in (("creates", creates, "echo creates"), ("removes", removes, "")):
            if pattern:
                tests.append(f"m=; for p in {glob_word(pattern)}; do {{ [ -e \"$p\" ] || [ -L \"$p\" ]; }} "
                             f"&& m=1 && break; done; [ -n \"$m\" ] {'&&' if found else '||'} echo {reason}")
        return "; ".join(tests) + "; true" if tests else None

    def parse(self, result: CommandResult | None) -> dict[str, str] | None:
        """Why the command is skipped, as Ansible registers it (msg and stdout), or None: it runs."""
        reasons = result.stdout.split() if result is not None else []
        if "chdir" in reasons:
            raise ModuleFailed("Unable to change directory before execution.",
                               {"cmd": self.display_command(), "rc": None, "stdout": "", "stderr": ""})
        did = "Would" if self.context.check else "Did"
        for reason, path, outcome in (("creates", self.args.get("creates"), "exists"),
                                      ("removes", self.args.get("removes"), "does not exist")):
            if reason in reasons:
                return {"msg": f"{did} not run command since '{path}' {outcome}",
                        "stdout": f"skipped, since {path} {outcome}"}
        return None

    def diff(self, current: dict[str, str] | None) -> Any:
        return None if current else "run"

    def skips_check_mode(self) -> bool:
        """Ansible's command and script predict a run their `creates`/`removes` would let happen
        ("changed", not skipped, in check mode); with neither they cannot say, and skip."""
        return not (self.args.get("creates") or self.args.get("removes"))

    def result_data(self, current: dict[str, str] | None, plan: Any) -> dict[str, Any]:
        """Registered when the command did not run: skipped by creates/removes, or check mode."""
        stdout = current["stdout"] if current else ""
        return {"cmd": self.display_command(), "rc": 0, "stdout": stdout, "stderr": "",
                "stdout_lines": stdout.splitlines(), "stderr_lines": [], "start": None, "end": None,
                "delta": None, "msg": current["msg"] if current else "Command would have run if not in check mode"}

    def apply(self, plan: Any) -> dict[str, Any]:
        text = self.command_text()
        if self.args.get("chdir"):  # -P: Ansible's module enters it by os.chdir, links resolved ($PWD too)
            text = f"cd -P {quote(self.args['chdir'])} && {text}"
        stdin = self.args.get("stdin")
        if self.context.background:
            if stdin is not None:
                raise ModuleFailed("stdin cannot be given to a command started in the background (async with poll: 0)")
            job_id = new_job_id()
            return started_result(job_id, self.context.run(start_text(job_id, self.context.background, text)))
        if stdin is not None and self.args["stdin_add_newline"]:
            stdin += "\n"
        start = datetime.datetime.now()
        result = self.context.run(text, stdin=stdin, timeout=self.args.get("timeout"))
        end = datetime.datetime.now()
        data = self.registered(result, start, end)
        if self.name == "command" and self.args.get("executable"):
            data["warnings"] = [f"As of Ansible 2.4, the parameter 'executable' is no longer supported with the "
                                f"'command' module. Not using '{self.args['executable']}'."]
        return data

    def registered(self, result: CommandResult, start: datetime.datetime, end: datetime.datetime) -> dict[str, Any]:
        """What `register` keeps of a run, with Ansible's keys (pure); a non-zero rc fails with it."""
        stdout, stderr = result.stdout, result.stderr
        if self.args.get("strip_empty_ends", True):
            stdout, stderr = stdout.rstrip("\r\n"), stderr.rstrip("\r\n")
        data = {
            "cmd": self.display_command(), "rc": result.rc, "stdout": stdout, "stderr": stderr,
            "stdout_lines": stdout.splitlines(), "stderr_lines": stderr.splitlines(),
            "start": str(start), "end": str(end), "delta": str(end - start), "msg": "",
        }
        missing = result.stderr.split(" ", 2) if result.rc == 127 and self.name == "command" else []
        if len(missing) == 3 and missing[0] == _NO_PROGRAM and missing[1] in _ERRNO_WORDS:
            program = missing[2].removesuffix("\n")
            data.update(rc=int(missing[1]), stdout="", stderr="", stdout_lines=[], stderr_lines=[],
                        msg=f"[Errno {missing[1]}] {_ERRNO_WORDS[missing[1]]}: {program.encode()!r}")
            raise ModuleFailed(data["msg"], data)
        if result.rc != 0:
            data["msg"] = "non-zero return code"
            detail = (stderr or stdout).strip().splitlines()[-3:]
            raise ModuleFailed(f"non-zero return code {result.rc}" + (": " + " | ".join(detail) if detail else ""), data)
        return data


class Shell(Command):
    name = "shell"
    mutually_exclusive = (("_raw_params", "cmd"),)
    required_one_of = (("_raw_params", "cmd"),)
    spec = {**Command.spec, "executable": Arg("path", help="shell to run the text with (default sh)")}
    spec.pop("argv")
    spec.pop("expand_argument_vars")  # the shell expands; Ansible's shell refuses the option

    def command_text(self) -> str:
        text = self._raw_command()
        executable = self.args.get("executable")
        if executable:
            return join([executable, "-c", text])
        return "{\n" + text + "\n}"


class Raw(Shell):
    """raw: the text as the host's shell runs it, nothing checked first (no creates/removes, no
    chdir): Ansible's way to bootstrap a host. Skipped in check mode, as Ansible's raw is."""

    name = "raw"
    mutually_exclusive = ()
    required_one_of = (("_raw_params",),)
    spec = {"executable": Arg("path", help="shell to run the text with (default sh)")}

    def read_command(self) -> str | None:
        return None

    def command_text(self) -> str:
        text = self._raw_command()
        executable = self.args.get("executable")
        return join([executable, "-c", text]) if executable else "{\n" + text + "\n}"

    def apply(self, plan: Any) -> dict[str, Any]:
        start = datetime.datetime.now()
        result = self.context.run(self.command_text())
        data = self.registered(result, start, datetime.datetime.now())
        return {key: data[key] for key in ("rc", "stdout", "stderr", "stdout_lines", "stderr_lines")}


class Script(Command):
    """script: a local script (the role's or playbook's files/) sent to the host and run there with
    its arguments, as Ansible's script: through its own shebang, or `executable`. It arrives on
    stdin into a private temporary file, which goes when it ends; `creates`/`removes`/`chdir` as
    for command. Skipped in check mode, as Ansible's script is."""

    name = "script"
    supports_async = False  # as Ansible's action plugin
    mutually_exclusive = (("_raw_params", "cmd"),)
    required_one_of = (("_raw_params", "cmd"),)
    spec = {key: value for key, value in Command.spec.items()
            if key not in ("argv", "stdin", "stdin_add_newline", "expand_argument_vars")}
    spec["executable"] = Arg("path", help="the interpreter to run the script with (default: its shebang)")

    def read_command(self) -> str | None:
        """Ansible's script action tests `creates`/`removes` as plain paths, from the login folder
        (not from `chdir`, which only the script's own command enters)."""
        creates, removes = self.args.get("creates"), self.args.get("removes")
        tests = [f"[ -e {quote(creates)} ] && echo creates"] if creates else []
        tests += [f"[ -e {quote(removes)} ] || echo removes"] if removes else []
        return "; ".join(tests) + "; true" if tests else None

    def words(self) -> list[str]:
        try:
            words = shlex.split(self._raw_command())
        except ValueError as error:
            raise ModuleFailed(f"cannot split {self._raw_command()!r}: {error}") from error
        if not words:
            raise ModuleFailed("script needs the path of a local script")
        return words

    def diff(self, current: dict[str, str] | None) -> Any:
        if current:  # creates/removes said no: the script's task is skipped, in Ansible's script action's words
            creates, removes = self.args.get("creates"), self.args.get("removes")
            message = (f"{creates} exists, matching creates option" if "exists" in current["msg"] and creates
                       else f"{removes} does not exist, matching removes option")
            raise ModuleSkipped(message, {"changed": False, "stdout": current["stdout"], "rc": 0})
        return "run"

    def command_text(self) -> str:
        arguments = join(self.words()[1:])
        runner = join([self.args["executable"]]) + ' "$t"' if self.args.get("executable") else '"$t"'
        return ('t=$(mktemp) && trap \'rm -f "$t"\' EXIT && cat > "$t" && chmod 700 "$t" && '
                f"{runner} {arguments}".rstrip())

    def apply(self, plan: Any) -> dict[str, Any]:
        local = self.context.find_file("files", self.words()[0])
        with open(local, "rb") as handle:
            content = handle.read()
        text = self.command_text()
        if self.args.get("chdir"):
            text = f"cd {quote(self.args['chdir'])} && {text}"
        start = datetime.datetime.now()
        result = self.context.run(text, stdin=content, timeout=self.args.get("timeout"))
        return self.registered(result, start, datetime.datetime.now())
