"""template: render a local Jinja2 file with the host's variables and install it like copy.

Rendering happens on the control machine (context.render); the host only receives the result,
so the diff shows exactly what lands in the file.
"""
from __future__ import annotations

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState


class Template(ContentModule):
    supports_async = False  # as Ansible's action plugin
    name = "template"
    path_arg = "dest"
    needs_content = False
    reports_md5 = True
    spec = {
        "src": Arg("path", required=True, help="local template, looked up in templates/"),
        "dest": Arg("path", required=True),
        "force": Arg("bool", default=True),
        "backup": Arg("bool", default=False),
        "validate": Arg("str"),
        "newline_sequence": Arg("str", default="\n", choices=("\n", "\r\n", "\r")),
        # Ansible's defaults: the newline after a block tag is dropped, leading spaces are kept
        "trim_blocks": Arg("bool", default=True),
        "lstrip_blocks": Arg("bool", default=False),
        **ATTRIBUTE_ARGS,
    }

    def wanted_content(self, state: FileState) -> bytes | None:
        if state.exists and not self.args["force"]:
            return None
        path = self.context.find_file("templates", self.args["src"])
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            raise ModuleFailed(f"cannot read template {path}: {error}") from error
        rendered = self.context.render(text, trim_blocks=self.args["trim_blocks"],
                                       lstrip_blocks=self.args["lstrip_blocks"])
        if self.args["newline_sequence"] != "\n":
            rendered = rendered.replace("\n", self.args["newline_sequence"])
        return rendered.encode()
