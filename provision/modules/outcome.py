"""A module whose apply may find, after all, that nothing changed.

Some work is needed before a module can know: a forced download that turns out identical, a wait
that only waited, a package index refresh that installed nothing. Such a module returns
`{"changed": False, ...}` from apply (or from result_data in check mode) and the task reports ok.
"""
from __future__ import annotations

from provision.modules.base import Module, ModuleResult


class MayNotChange(Module):
    def run(self) -> ModuleResult:
        result = super().run()
        changed = result.data.pop("changed", True)
        if result.status == "changed" and changed is False:
            result.status = "ok"
            result.diff = None
            if result.msg == "would change":
                result.msg = ""
        return result
