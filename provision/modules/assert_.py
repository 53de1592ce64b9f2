"""assert: fail the task unless every expression in `that` is true (read-only, runs in check mode).

The expressions are bare Jinja2 (no braces), evaluated by the runner with the host's variables.
"""
from __future__ import annotations

from typing import Any

from provision.booleans import NotABoolean, to_bool
from provision.modules.base import Arg, Module, ModuleFailed


class Assert(Module):
    name = "assert"
    read_only = True
    spec = {
        "that": Arg("raw", required=True, help="an expression or a list of them"),
        "fail_msg": Arg("str", aliases=("msg",)),
        "success_msg": Arg("str"),
        "quiet": Arg("bool", default=False),
    }

    def read(self) -> dict[str, Any]:
        that = self.args["that"]
        expressions = that if isinstance(that, list) else [that]
        for expression in expressions:
            if isinstance(expression, bool):
                value = expression  # YAML `that: true`, or a value templated before us
            else:
                value = self.context.evaluate(str(expression))
            # as for `when`: the string "false" or "no" is false, and "maybe" is an error, not a guess
            try:
                holds = to_bool(value) if isinstance(value, str) else value
            except NotABoolean as error:
                raise ModuleFailed(f"the assertion '{expression}' is not a boolean: {error}",
                                   {"assertion": expression, "evaluated_to": value}) from None
            if not holds:
                # Ansible prints the failed assertion beside "Assertion failed" (its result's
                # `assertion` and `evaluated_to`); one line says the same here
                raise ModuleFailed(
                    self.args.get("fail_msg") or f"Assertion failed: {expression} (evaluated to {value!r})",
                    {"assertion": expression, "evaluated_to": value},
                )
        return {"msg": self.args.get("success_msg") or "All assertions passed"}

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current
