"""pipelines.io._read on real files and the session's shared local Ray: partition pruning
before any file is opened, and what a bad input is told."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from pipelines import (
    Filter,
    InputSpec,
    list_input_files,
    read_table,
)
from registry import InvalidInput, NotFound
from tests.pipelines.io import (
    DATES,
    assert_same_rows,
    collect,
    reference,
    write_events,
)


def test_partition_filters_select_files_without_opening_any(table: Path) -> None:
    spec = InputSpec(
        path=str(table),
        filters=[
            # YAML's unquoted 2026-11-02 is a date; it compares with the hive string as ISO text
            Filter(column="date", op=">=", value=datetime.date(2026, 11, 2)),
            Filter(column="region", op="not in", value=["EU"]),
        ],
    )
    assert list_input_files(spec) == [
        str(table / f"date={d}/region=US/part-{n}.parquet") for d in DATES[1:] for n in (0, 1)
    ]
    assert len(list_input_files(InputSpec(path=str(table)))) == 12
    assert list_input_files(InputSpec(path=str(table / "date=2026-11-01/region=EU/part-0.parquet")))


def test_bad_inputs_name_every_problem(table: Path) -> None:
    with pytest.raises(NotFound, match="check input.path"):
        list_input_files(InputSpec(path=str(table / "nope")))
    with pytest.raises(NotFound, match="check the filter values"):
        list_input_files(
            InputSpec(path=str(table), filters=[Filter(column="region", op="==", value="APAC")])
        )
    with pytest.raises(InvalidInput, match="give a string value"):
        list_input_files(
            InputSpec(path=str(table), filters=[Filter(column="region", op="==", value=3)])
        )
    unpartitioned = InputSpec(path=str(table), partitioning=None, columns=["id", "region"])
    with pytest.raises(InvalidInput, match="no column 'region'"):
        list_input_files(unpartitioned)
    bad = InputSpec(
        path=str(table),
        columns=["id", "nope"],
        filters=[Filter(column="missing", op=">", value=1), Filter(column="f1", op=">", value="x")],
    )
    with pytest.raises(InvalidInput, match="fix input.columns or input.filters") as info:
        list_input_files(bad)
    message = info.value.message
    assert "'nope', 'missing'" in message and "f1 > 'x'" in message and "give a double" in message


@pytest.mark.usefixtures("ray_local")
def test_unmatched_files_are_never_opened(table: Path, tmp_path: Path) -> None:
    root = write_events(tmp_path / "events")  # the same seed: a copy of ``table``
    corrupt = root / "date=2026-11-01/region=EU/part-0.parquet"
    corrupt.write_bytes(b"this is not parquet")
    matching = InputSpec(
        path=str(root),
        columns=["id", "f1", "date", "region"],
        filters=[
            Filter(column="region", op="==", value="US"),
            Filter(column="f1", op=">", value=0.5),
        ],
    )
    assert str(corrupt) not in list_input_files(matching)
    expr = (pc.field("region") == "US") & (pc.field("f1") > 0.5)
    assert_same_rows(collect(read_table(matching)), reference(table, expr, matching.columns))
    with pytest.raises(InvalidInput, match="magic bytes") as info:  # the unfiltered read opens it
        collect(read_table(InputSpec(path=str(root))))
    assert "readable table file" in info.value.message


@pytest.mark.usefixtures("ray_local")
def test_csv_read_with_partition_pruning(tmp_path: Path) -> None:
    root = write_events(tmp_path / "csv", fmt="csv")
    spec = InputSpec(
        path=str(root),
        format="csv",
        columns=["id", "f1", "bucket", "region"],
        filters=[
            Filter(column="region", op="==", value="EU"),
            Filter(column="bucket", op="!=", value=0),
        ],
    )
    assert len(list_input_files(spec)) == 6
    expr = (pc.field("region") == "EU") & (pc.field("bucket") != 0)
    assert_same_rows(collect(read_table(spec)), reference(root, expr, spec.columns, fmt="csv"))
