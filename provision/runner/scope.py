"""What a block, a role or an include hands down to the tasks inside it.

Ansible applies a block's `when`, `vars`, `become`, `tags`... to every task inside; a role entry's
`when`/`vars` likewise. Scope is that inheritance as an immutable value: `enter(block)` gives the
scope of the block's children, so nothing is ever copied onto the loaded tasks themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from provision.playbook.model import Role, Task
from provision.playbook.tags import selected  # Ansible's tag rule, kept beside the tag listing


@dataclass(frozen=True)
class Scope:
    when: tuple[Any, ...] = ()
    vars_layers: tuple[dict[str, Any], ...] = ()  # outer blocks first
    role: Role | None = None
    become: Any = None
    become_user: Any = None
    become_method: Any = None
    remote_user: Any = None
    environment: tuple[dict[str, Any], ...] = ()
    ignore_errors: bool = False
    no_log: bool = False
    check_mode: Any = None
    delegate_to: Any = None
    run_once: bool = False
    tags: frozenset[str] = frozenset()
    handler: bool = False

    def enter(self, block: Task) -> Scope:
        """The scope of a block's (or include's) children."""
        return replace(
            self,
            when=self.when + tuple(block.when),
            vars_layers=self.vars_layers + ((block.vars,) if isinstance(block.vars, dict) and block.vars else ()),
            become=block.become if block.become is not None else self.become,
            become_user=block.become_user if block.become_user is not None else self.become_user,
            become_method=block.become_method if block.become_method is not None else self.become_method,
            remote_user=block.remote_user if block.remote_user is not None else self.remote_user,
            environment=self.environment + ((block.environment,) if block.environment else ()),
            ignore_errors=self.ignore_errors or bool(block.ignore_errors),
            no_log=self.no_log or bool(block.no_log),
            check_mode=block.check_mode if block.check_mode is not None else self.check_mode,
            delegate_to=block.delegate_to if block.delegate_to is not None else self.delegate_to,
            run_once=self.run_once or bool(block.run_once),
            tags=self.tags | frozenset(block.tags),
        )

    def enter_role(self, role: Role) -> Scope:
        """The scope of a listed role's tasks: its entry's when, tags, parameters and task
        keywords (become, environment, ignore_errors...: a block around the role)."""
        return replace(
            self.enter(role.entry) if role.entry is not None else self,
            role=role,
            when=self.when + tuple(role.when),
            tags=self.tags | frozenset(role.tags),
        )


__all__ = ["Scope", "selected"]
