"""--step: ask before each task, once for all hosts, as ansible-playbook --step does.

provision's hosts walk their tasks independently, so the first host to reach a task asks, and
every other host reaching that task takes the same answer: y runs it (on every host), n skips it
(on every host), c runs it and stops asking for the rest of the run. Questions are asked one at a
time; hosts that reach other tasks meanwhile wait for their turn. The question itself is asked
through `ask`, given by the command line (the runner does no terminal input of its own).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

ANSWERS = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "c": "continue", "continue": "continue"}


class Stepper:
    def __init__(self, ask: Callable[[str], str]):
        self.ask = ask
        self.lock = threading.Lock()
        self.answers: dict[int, bool] = {}  # id(task) -> run it
        self.stepping = True

    def allows(self, task_id: int, label: str) -> bool:
        """Whether the task runs: asked once per task; an end of input answers "continue"."""
        with self.lock:
            if task_id in self.answers:
                return self.answers[task_id]
            if not self.stepping:
                return True
            answer = None
            while answer is None:
                try:
                    reply = self.ask(f"Perform task: {label} (N)o/(y)es/(c)ontinue: ")
                except EOFError:
                    reply = "c"
                answer = ANSWERS.get(reply.strip().lower() or "n")
            if answer == "continue":
                self.stepping = False
            self.answers[task_id] = answer != "no"
            return self.answers[task_id]
