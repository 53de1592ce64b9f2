"""yum_repository: a section of a .repo file in /etc/yum.repos.d, as Ansible's yum_repository writes it.

The file is Ansible's own shape: `[NAME]` then `key = value` lines in sorted order, booleans as 1
and 0, lists joined by spaces, `name = description`. Other sections of the same file are kept as
they are; the file goes when its last section does, as Ansible removes it. Written like every
content module (atomic, checked on arrival, check mode and --diff). dnf reads these files: this is
how a RHEL-family host gets the CUDA or NVIDIA container toolkit repository.
"""
from __future__ import annotations

import configparser
import io
import re
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule, ContentPlan
from provision.modules.remote_file import FileState
from provision.shell import join

NAME = re.compile(r"^[A-Za-z0-9._:-]+$")
# the repository options written to the file, as Ansible names them
OPTIONS = {
    "baseurl": Arg("list", elements="str"), "mirrorlist": Arg("str"), "metalink": Arg("str"),
    "enabled": Arg("bool"), "gpgcheck": Arg("bool"), "gpgkey": Arg("list", elements="str"),
    "repo_gpgcheck": Arg("bool"), "sslverify": Arg("bool", aliases=("validate_certs",)),
    "skip_if_unavailable": Arg("bool"), "module_hotfixes": Arg("bool"), "priority": Arg("str"),
    "cost": Arg("str"), "exclude": Arg("list", elements="str"),
    "includepkgs": Arg("list", elements="str"), "proxy": Arg("str"), "timeout": Arg("str"),
    "metadata_expire": Arg("str"), "countme": Arg("bool"), "enablegroups": Arg("bool"),
}


def edited(text: str, section: str, values: dict[str, str] | None) -> str:
    """The .repo text with `section` set to `values` (None: removed), other sections unchanged (pure)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys as written
    try:
        parser.read_string(text)
    except configparser.Error as error:
        raise ModuleFailed(f"yum_repository: the repo file cannot be read as INI: {error}") from None
    if values is None:
        parser.remove_section(section)
    else:
        if parser.has_section(section):
            parser.remove_section(section)
        parser.add_section(section)
        for key in sorted(values):
            parser.set(section, key, values[key])
    out = io.StringIO()
    parser.write(out)
    return out.getvalue().rstrip("\n") + "\n" if parser.sections() else ""


class YumRepository(ContentModule):
    name = "yum_repository"
    spec = {
        "name": Arg("str", required=True),
        "description": Arg("str"),
        "file": Arg("str", help="the file's name without .repo (default: name)"),
        "reposdir": Arg("path", default="/etc/yum.repos.d"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        **OPTIONS,
        **ATTRIBUTE_ARGS,
    }
    required_if = (("state", "present", ("description",)),)

    @property
    def path(self) -> str:
        name = self.args["name"]
        if not NAME.match(name) or not NAME.match(self.args["file"] or name):
            raise ModuleFailed(f"yum_repository: {name!r} is not a repository name")
        return f"{self.args['reposdir'].rstrip('/')}/{self.args['file'] or name}.repo"

    def values(self) -> dict[str, str]:
        args = self.args
        if args["baseurl"] is None and args["mirrorlist"] is None and args["metalink"] is None:
            raise ModuleFailed("yum_repository: one of baseurl, mirrorlist or metalink is required")
        values = {"name": args["description"]}
        for key, spec in OPTIONS.items():
            value = args.get(key)
            if value is None:
                continue
            if spec.type == "bool":
                values[key] = "1" if value else "0"
            elif isinstance(value, list):
                values[key] = " ".join(value)
            else:
                values[key] = str(value)
        return values

    def wanted_content(self, state: FileState) -> bytes | None:
        present = self.args["state"] == "present"
        if not state.exists:
            return edited("", self.args["name"], self.values()).encode() if present else None
        if state.content is None:
            raise ModuleFailed(f"{self.path} is too large to edit")
        return edited(state.content, self.args["name"], self.values() if present else None).encode()

    def apply(self, plan: ContentPlan) -> dict[str, Any]:
        if plan.content == b"":  # its last section went: the file goes, as Ansible removes it
            result = self.context.run(join(["rm", "-f", "--", self.path]))
            if result.rc != 0:
                raise ModuleFailed(f"{self.path}: {result.stderr.strip() or 'cannot remove it'}")
            return {"repo": self.args["name"], "state": "absent"}
        return {**super().apply(plan), "repo": self.args["name"], "state": self.args["state"]}

    def result_data(self, current: FileState, plan: ContentPlan | None) -> dict[str, Any]:
        return {**super().result_data(current, plan), "repo": self.args["name"], "state": self.args["state"]}
