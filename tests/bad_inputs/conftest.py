"""The bad-input corpus keeps its own tally: how many cases ran, how many printed a traceback, how
many hosts a refused case touched. The line closing the pytest run is built from those counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class Tally:
    """What the corpus saw, counted by tests/bad_inputs/test_corpus.py as each case runs."""

    cases: int = 0
    tracebacks: int = 0
    hosts_touched: int = 0

    def line(self) -> str:
        return (f"bad inputs: {self.cases} cases, {self.tracebacks} tracebacks, "
                f"{self.hosts_touched} hosts touched")


TALLY = pytest.StashKey[Tally]()


@pytest.fixture(scope="session")
def tally(request) -> Tally:
    """The session's tally (in pytest's stash: no module state, one per run)."""
    return request.config.stash.setdefault(TALLY, Tally())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    found = config.stash.get(TALLY, None)
    if found is not None and found.cases:
        terminalreporter.write_line(found.line())
