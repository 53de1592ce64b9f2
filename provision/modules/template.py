"""template: render a local Jinja2 file with the host's variables and install it like copy.

Rendering happens on the control machine (context.render); the host only receives the result,
so the diff shows exactly what lands in the file. As Ansible's: other Jinja2 delimiters when
asked, `newline_sequence` written as it is in YAML ('\r\n' in single quotes), `output_encoding`,
a `dest` that is a folder taking the template's name, and `follow` writing through a link.
"""
from __future__ import annotations

import codecs
import posixpath

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState
from provision.templating import DELIMITERS

# Ansible's template action takes the escaped spellings too (`newline_sequence: '\r\n'` in YAML)
NEWLINES = {"\n": "\n", "\r": "\r", "\r\n": "\r\n", "\\n": "\n", "\\r": "\r", "\\r\\n": "\r\n"}


class Template(ContentModule):
    supports_async = False  # as Ansible's action plugin
    name = "template"
    path_arg = "dest"
    needs_content = False
    reports_md5 = True
    reports_src = True
    replaces_links = True  # follow: false (the default), as Ansible's template
    spec = {
        "src": Arg("path", required=True, help="local template, looked up in templates/"),
        "dest": Arg("path", required=True),
        "force": Arg("bool", default=True),
        "backup": Arg("bool", default=False),
        "validate": Arg("str"),
        "newline_sequence": Arg("str", default="\n", choices=tuple(NEWLINES)),
        # Ansible's defaults: the newline after a block tag is dropped, leading spaces are kept
        "trim_blocks": Arg("bool", default=True),
        "lstrip_blocks": Arg("bool", default=False),
        **{name: Arg("str") for name in DELIMITERS},
        "output_encoding": Arg("str", default="utf-8", help="the file's encoding (the template is read as UTF-8)"),
        "follow": Arg("bool", default=False, help="a link at dest: write the file it points to"),
        **ATTRIBUTE_ARGS,
    }

    def elsewhere(self, state: FileState) -> str | None:
        """As Ansible's: a folder at dest takes the template's own name inside it; with `follow`,
        a link at dest is written through to the file it points to."""
        if state.kind == "directory":
            return posixpath.join(self.path, posixpath.basename(self.args["src"]))
        if state.kind == "link" and self.args["follow"] and state.link_source:
            return state.link_source
        return None

    def wanted_content(self, state: FileState) -> bytes | None:
        if state.exists and not self.args["force"]:
            return None
        path = self.context.find_file("templates", self.args["src"])
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            raise ModuleFailed(f"cannot read template {path}: {error}") from error
        delimiters = {name: self.args[name] for name in DELIMITERS if self.args.get(name) is not None}
        rendered = self.context.render(text, trim_blocks=self.args["trim_blocks"],
                                       lstrip_blocks=self.args["lstrip_blocks"], **delimiters)
        newline = NEWLINES[self.args["newline_sequence"]]
        if newline != "\n":
            rendered = rendered.replace("\n", newline)
        try:
            return rendered.encode(codecs.lookup(self.args["output_encoding"]).name)
        except LookupError:
            raise ModuleFailed(f"template: unknown output_encoding {self.args['output_encoding']!r}") from None
        except UnicodeEncodeError as error:
            raise ModuleFailed(f"template: the rendered text cannot be written as {self.args['output_encoding']}: "
                               f"{error.reason} ({error.object[error.start:error.end]!r})") from None
