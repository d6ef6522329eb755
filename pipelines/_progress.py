"""How far a run is: rows written so far, counted from the staged files' Parquet footers.

Ray Data writes a run into its staging directory (``pipelines.io``'s ``write_table``), one
file per write task, each closed with its footer when the task ends. A thread in the driver
lists that directory every ``interval_s`` and reads the footer of each file it has not
counted yet (a file still being written has none and is counted on a later pass), so
progress costs one listing per interval and one footer per file, never anything per row or
per batch, and needs no hook in the data path. The first footer seen also gives the run's
fixed cost: ``first_rows_s``, from the run's start to the first scored rows on disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipelines.io import OutputSpec, staging_location

__all__ = ["Progress", "StagedRows"]


@dataclass(frozen=True)
class Progress:
    """Rows written so far, of ``rows_total`` (``None`` when the input's footers cannot
    tell: CSV, or filters on non-partition columns)."""

    rows_done: int
    rows_total: int | None


class StagedRows:
    """Counts ``run_id``'s staged rows for ``output`` in a background thread; use as a
    context manager around the write. ``on_progress`` is called from that thread."""

    def __init__(
        self,
        output: OutputSpec,
        run_id: str,
        *,
        rows_total: int | None,
        started: float,
        on_progress: Callable[[Progress], None] | None = None,
        interval_s: float = 0.25,
    ) -> None:
        self._staging = staging_location(output, run_id)
        self._rows_total = rows_total
        self._started = started
        self._on_progress = on_progress
        self._interval_s = interval_s if self._staging.is_local else max(interval_s, 2.0)
        self._counted: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="floe-progress", daemon=True)
        self.first_rows_s: float | None = None

    @property
    def rows_done(self) -> int:
        return sum(self._counted.values())

    def __enter__(self) -> StagedRows:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.count_once()

    def count_once(self) -> None:
        """One pass: count the footers of files not counted yet; report if rows were added."""
        fs, root = self._staging.fs, self._staging.path
        try:
            infos = fs.get_file_info(pafs.FileSelector(root, recursive=True,
                                                        allow_not_found=True))
        except OSError:  # staging not made yet, or removed by the commit
            return
        added = False
        for info in infos:
            if info.type != pafs.FileType.File or info.path in self._counted:
                continue
            try:
                with fs.open_input_file(info.path) as handle:
                    rows = int(pq.read_metadata(handle).num_rows)
            except (OSError, pa.ArrowInvalid):  # no footer yet: still being written
                continue
            self._counted[info.path] = rows
            added = added or rows > 0
        if added and self.first_rows_s is None:
            self.first_rows_s = time.perf_counter() - self._started
        if added and self._on_progress is not None:
            self._on_progress(Progress(self.rows_done, self._rows_total))
