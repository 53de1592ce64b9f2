"""Report files are written atomically: a reader (CI, node_exporter, a dashboard) sees the old
file or the new one, never half of one. One helper for every report format."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, IO


def write_atomic(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(binary handle)` on a temporary file beside `path`, then rename it into place.

    The temporary name ends in ".tmp" (node_exporter's textfile collector reads only *.prom), and
    the file is made readable by others (the collector runs as another user)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".provision-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_text_atomic(path: str, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))
