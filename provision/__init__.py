"""provision: bring fleets of GPU servers to a known, verified state over SSH."""

__version__ = "0.1.0"
