"""Helpers for the pipelines.io tests: a small Hive-partitioned table of events
(``date=D/region=R/part-N``) and ways to compare what was read or written with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import ray

DATES = ["2026-11-01", "2026-11-02", "2026-11-03"]
REGIONS = ["EU", "US"]
ROWS_PER_FILE = 20
HIVE = pds.HivePartitioning.discover(infer_dictionary=False)


def write_events(root: Path, fmt: str = "parquet") -> Path:
    """date=D/region=R/part-N files: 3 dates x 2 regions x 2 files, ``id`` unique."""
    rng = np.random.default_rng(7)
    next_id = 0
    for date in DATES:
        for region in REGIONS:
            folder = root / f"date={date}" / f"region={region}"
            folder.mkdir(parents=True)
            for n in range(2):
                ids = np.arange(next_id, next_id + ROWS_PER_FILE)
                next_id += ROWS_PER_FILE
                part = pa.table(
                    {
                        "id": ids,
                        "f1": rng.random(len(ids)),
                        "f2": rng.normal(size=len(ids)),
                        "bucket": ids % 3,
                    }
                )
                if fmt == "parquet":
                    pq.write_table(part, folder / f"part-{n}.parquet")
                else:
                    pacsv.write_csv(part, folder / f"part-{n}.csv")
    return root


def reference(
    root: Path, expr: pc.Expression | None, columns: list[str] | None, fmt: str = "parquet"
) -> pa.Table:
    """The in-process read: pyarrow.dataset over the whole directory."""
    return pds.dataset(root, format=fmt, partitioning=HIVE).to_table(filter=expr, columns=columns)


def collect(ds: ray.data.Dataset) -> pa.Table:
    return pa.concat_tables(ray.get(ds.to_arrow_refs()))


def assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    assert sorted(got.column_names) == sorted(want.column_names)
    got = got.select(sorted(got.column_names)).sort_by("id")
    want = want.select(sorted(want.column_names)).sort_by("id").cast(got.schema)
    assert got.num_rows == want.num_rows > 0
    assert got.equals(want)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its sha256: to compare a tree byte for byte."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def leftovers(output: Path) -> list[str]:
    return sorted(p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}."))


def with_score(batch: pa.Table) -> pa.Table:
    score = pc.add(pc.multiply(batch["f1"], 2.0), batch["f2"])
    return batch.append_column("score", score)


def fail_on_high_ids(batch: pa.Table) -> pa.Table:
    if pc.any(pc.greater_equal(batch["id"], 100)).as_py():
        raise RuntimeError("scoring failed on purpose")
    return batch
