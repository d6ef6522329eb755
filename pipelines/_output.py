"""Ray's output during a run goes to the run's log file, not the terminal.

Ray writes to the driver's terminal from three places: its Python loggers (``ray``,
``ray.data``: handlers that write to whatever ``sys.stderr`` is when a record is emitted),
the C++ core worker inside the driver (straight to file descriptor 2: the "actor constructor
arguments" error), and the lines of worker processes that ``log_to_driver`` forwards (printed
to ``sys.stdout``/``sys.stderr``). No Ray setting silences all three, and the Python ones are
configured when ``ray`` is imported, so ``to_log_file`` points file descriptors 1 and 2 *and*
``sys.stdout``/``sys.stderr`` at the log file for the duration of the run, and puts them back
after. The CLI opens ``terminal_stream`` first, a descriptor of its own on the real stderr,
for the progress bar; its summary and error line come after the run, on the restored streams.

Processes Ray starts during the run (a local head's GCS and raylet) redirect their own output
to Ray's session logs, so they do not keep writing to the run's file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["terminal_stream", "to_log_file"]


def terminal_stream() -> TextIO:
    """A stream on the terminal's stderr that ``to_log_file`` does not redirect: a duplicate
    of descriptor 2, or ``sys.stderr`` itself where it is not descriptor 2 (a test runner's
    capture: ``to_log_file`` replaces ``sys.stderr``, not the object it was)."""
    if _fileno(sys.stderr) != 2:
        return sys.stderr
    return os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding,
                     errors="replace")


@contextlib.contextmanager
def to_log_file(path: Path) -> Iterator[None]:
    """Send everything this process writes to stdout and stderr, from Python or from C++, to
    ``path`` (appended; its folder is made) until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1, encoding="utf-8", errors="replace") as log:
        streams = (sys.stdout, sys.stderr)
        for stream in streams:
            stream.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}  # whatever sys.stdout/stderr are
        try:
            for fd in saved:
                os.dup2(log.fileno(), fd)
            sys.stdout = sys.stderr = log
            yield
        finally:
            sys.stdout, sys.stderr = streams
            log.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.StringIO, pytest's capture
        return None
