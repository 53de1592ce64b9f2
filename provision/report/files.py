"""Report files are written atomically: a reader (CI, node_exporter, a dashboard) sees the old
file or the new one, never half of one. One helper for every report format."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, IO


def write_atomic(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(binary handle)` on a temporary file beside `path`, then rename it into place.

    The temporary name ends in ".tmp" (node_exporter's textfile collector reads only *.prom). The
    file gets the mode a plain `open()` would give it (0666 less the umask): mkstemp makes 0600,
    and a report holds task output and diffs, so a umask of 077 must keep it private, while the
    usual 022 leaves it readable by node_exporter's collector, which runs as another user."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".provision-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_text_atomic(path: str, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def current_umask() -> int:
    """The process umask, read without changing it (Linux shows it in /proc; else set and restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
