"""pipelines.io._fs: locations however they are spelled, and recovery from a crash in the middle
of a commit."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from pipelines import (
    InputSpec,
    OutputSpec,
    check_output_path,
    list_input_files,
    write_table,
)
from registry import AlreadyExists, InvalidInput
from tests.pipelines.io import (
    leftovers,
    snapshot,
    write_events,
)


@pytest.mark.usefixtures("ray_local")
def test_crash_between_the_two_renames_is_recovered(tmp_path: Path) -> None:
    """The state a run killed mid-commit leaves: output renamed aside, staging complete."""
    output = write_events(tmp_path / "out")
    before = snapshot(output)
    staging = tmp_path / ".out.floe-staging-r9"
    (staging / "x=1").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1]}), staging / "x=1" / "part-r9.00000.parquet")
    os.rename(output, tmp_path / ".out.floe-old-r9")

    assert len(list_input_files(InputSpec(path=str(output)))) == 12  # a read recovers first
    assert snapshot(output) == before and leftovers(output) == []

    # a commit that finished but did not delete the old copy: the next writer deletes it
    (tmp_path / ".out.floe-old-r8").mkdir()
    with pytest.raises(AlreadyExists, match=r"already holds 12 data file\(s\).*choose another output\.path"):
        write_table(ray.data.from_items([{"id": 1}]), OutputSpec(path=str(output)), run_id="r10")
    assert leftovers(output) == [] and snapshot(output) == before


def test_an_overlap_is_refused_however_the_locations_are_spelled(tmp_path: Path) -> None:
    """``file:///data/../data/iris`` over ``/data/iris`` replaced the whole input table: every
    spelling of the same place, and every nesting in either direction, is refused."""
    events = tmp_path / "lake" / "events"
    (events / "region=EU").mkdir(parents=True)
    (tmp_path / "link").symlink_to(events, target_is_directory=True)
    (tmp_path / "lake-link").symlink_to(tmp_path / "lake", target_is_directory=True)
    uri = f"file://{tmp_path}"
    same_or_nested = [
        f"{uri}/lake/../lake/events",  # the reported case
        f"{uri}/lake/events/",
        f"{uri}//lake//events",
        f"{uri}/lake/./events/scores",
        f"{uri}/lake/ev%65nts",
        f"{uri}/lake",  # the input is inside the output
        f"{uri}/lake/events/region=EU",
        str(tmp_path / "link"),  # a symlink to the input directory
        f"{uri}/link",
        f"{uri}/link/scores",
        f"{uri}/lake-link/events",
        f"{tmp_path}/lake-link/../lake/events/",
    ]
    for written_as in ("plain", "uri"):
        path = str(events) if written_as == "plain" else f"{uri}/x/../lake/events/"
        source = InputSpec(path=path)
        for bad in same_or_nested:
            with pytest.raises(InvalidInput, match=r"overlaps input .* separate directory"):
                check_output_path(OutputSpec(path=bad, mode="overwrite"), inputs=[source])
    # a bind mount or any other second name of the input directory: found by its inode
    source = InputSpec(path=f"{uri}/link/")
    with pytest.raises(InvalidInput, match="overlaps input"):
        check_output_path(OutputSpec(path=str(events / "scores")), inputs=[source])
    for fine in (f"{uri}/lake/scores", f"{uri}/lake/events2", str(tmp_path / "lake-link" / "x")):
        check_output_path(OutputSpec(path=fine), inputs=[InputSpec(path=f"{uri}/link")])


def test_a_uri_that_does_not_parse_is_an_invalid_input() -> None:
    """``urlsplit`` raised a bare ValueError while the message was being built."""
    for path in ("s3://[bad/x", "s3://user:se[cret@bucket/x"):
        with pytest.raises(InvalidInput, match="cannot open input path .*give a local path or a URI") as info:
            list_input_files(InputSpec(path=path))
        assert "cret" not in info.value.message


def test_an_object_store_overlap_is_refused_however_the_key_is_spelled() -> None:
    options = "?region=us-east-1"
    source = InputSpec(path=f"s3://lake/tables/events{options}")
    for bad in ("s3://lake/tables/events/", "s3://lake//tables/x/../events", "s3://LAKE/tables",
                "s3://lake/tables/./events/scores",
                "s3://lake/tables/events?region=eu-west-1&endpoint_override=127.0.0.1:9&scheme=http"):
        output = bad if "?" in bad else bad + options
        with pytest.raises(InvalidInput, match="overlaps input"):
            check_output_path(OutputSpec(path=output, mode="overwrite"), inputs=[source])
    for fine in ("s3://lake/tables/events2", "s3://other/tables/events", "s3://lake/scores/x"):
        check_output_path(OutputSpec(path=fine + options), inputs=[source])
