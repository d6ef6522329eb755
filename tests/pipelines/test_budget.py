"""pipelines._budget: the run's object-store budget reaches Ray Data (in the workers that run
the plan) and the process's own limits come back after; the size is validated with its line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from pipelines import io, parse_config
from pipelines._budget import DEFAULT_PER_CPU, ResourceLimits, object_store_budget
from pipelines._ray import data_context
from pipelines.io import InputSpec
from registry import InvalidInput
from tests.pipelines.pipeline_data import GOOD
from tests.ray_fixtures import ray_local  # noqa: F401

MIB = 1024**2


def _limit_seen(batch: pa.Table) -> pa.Table:
    """What Ray Data's context says in the worker running this block."""
    limit = ray.data.DataContext.get_current().execution_options.resource_limits
    return pa.table({"limit": [limit.object_store_memory] * batch.num_rows})


def _limits_in_workers() -> set[float]:
    ds = ray.data.range(4, override_num_blocks=2).map_batches(_limit_seen, batch_format="pyarrow")
    return {row["limit"] for row in ds.take_all()}


@pytest.mark.usefixtures("ray_local")
def test_the_budget_reaches_ray_data_during_the_run_and_is_restored_after() -> None:
    context = ray.data.DataContext.get_current()
    before = context.execution_options.resource_limits
    with data_context(progress=False, limits=ResourceLimits(object_store_memory="300MiB")):
        assert _limits_in_workers() == {300 * MIB}
    assert context.execution_options.resource_limits == before
    assert ray.data.DataContext.get_current().execution_options.resource_limits == before
    with data_context(progress=False):  # the default: DEFAULT_PER_CPU per CPU (2 here)
        assert _limits_in_workers() == {2 * DEFAULT_PER_CPU}
    assert context.execution_options.resource_limits == before


def test_the_default_budget_follows_the_cluster_and_a_size_overrides_it() -> None:
    assert object_store_budget(ResourceLimits(), cluster_cpus=8) == 8 * DEFAULT_PER_CPU
    assert object_store_budget(ResourceLimits(), cluster_cpus=0.5) == DEFAULT_PER_CPU
    assert object_store_budget(ResourceLimits(object_store_memory="2GiB"), cluster_cpus=8) == 2**31


def test_sizes_are_human_and_validated_with_their_line() -> None:
    cfg = parse_config(GOOD + "resource_limits: {object_store_memory: 1.5GiB}\n")
    assert cfg.resource_limits.object_store_memory == int(1.5 * 2**30)
    with pytest.raises(InvalidInput, match=r"line 16: resource_limits.object_store_memory: "
                       r"could not parse value and unit from byte string \(got 'lots'"):
        parse_config(GOOD + "resource_limits: {object_store_memory: lots}\n")
    with pytest.raises(InvalidInput, match=r"line 16: resource_limits.object_store_memory: .*"
                       r"greater than or equal to 67108864 \(got '1MiB'"):
        parse_config(GOOD + "resource_limits: {object_store_memory: 1MiB}\n")



def _reservation_seen(batch: pa.Table) -> pa.Table:
    """Whether Ray Data's per-operator reservation is on in the worker running this block."""
    seen = ray.data.DataContext.get_current().op_resource_reservation_enabled
    return pa.table({"reserved": [seen] * batch.num_rows})


@pytest.mark.usefixtures("ray_local")
def test_a_fused_run_turns_off_per_operator_reservation_for_the_run_only(tmp_path: Path) -> None:
    """One fused operator has no other to protect, and Ray Data's reservation held it to one
    of the 2 CPUs for its first blocks (about 1 s at 125,000-row files; benchmarks/batch.py
    measures the run). Off during a fused run, on again after; a run of several operators
    (an actor pool, a shuffle) keeps it."""
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "part-0.parquet")
    context = ray.data.DataContext.get_current()
    assert context.op_resource_reservation_enabled

    def seen() -> set[bool]:
        ds = io.read_table(InputSpec(path=str(tmp_path))).map_batches(
            _reservation_seen, batch_size=None, batch_format="pyarrow")
        return {row["reserved"] for row in ds.take_all()}

    with data_context(progress=False, is_fused=True):
        assert seen() == {False}
    assert ray.data.DataContext.get_current().op_resource_reservation_enabled
    with data_context(progress=False):
        assert seen() == {True}
