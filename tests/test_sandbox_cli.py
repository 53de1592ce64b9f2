"""`provision sandbox up --kind` offers exactly the kinds the sandbox can build."""
from provision.cli import build_parser
from provision.sandbox.kinds import KINDS


def test_every_kind_can_be_asked_for_and_no_other():
    parser = build_parser()
    for kind in KINDS:
        assert parser.parse_args(["sandbox", "up", "--kind", kind]).kind == kind
    sandbox = next(action for action in parser._subparsers._group_actions[0].choices["sandbox"]._actions
                   if action.dest == "action" or getattr(action, "choices", None) and "up" in action.choices)
    up = sandbox.choices["up"]
    assert set(next(action.choices for action in up._actions if action.dest == "kind")) == set(KINDS)
