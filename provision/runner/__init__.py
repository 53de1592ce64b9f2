"""The runner: plays, per-host task loops, handlers, batches and results (see play.run_playbook)."""
from provision.runner.events import Collect, Events
from provision.runner.options import RunOptions
from provision.runner.play import run_playbook
from provision.runner.results import HostRecap, RunReport, TaskResult

__all__ = ["Collect", "Events", "HostRecap", "RunOptions", "RunReport", "TaskResult", "run_playbook"]
