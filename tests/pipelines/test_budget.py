"""pipelines._budget: the run's object-store budget reaches Ray Data (in the workers that run
the plan) and the process's own limits come back after; the size is validated with its line."""

from __future__ import annotations

import pyarrow as pa
import pytest
import ray

from pipelines import parse_config
from pipelines._budget import DEFAULT_PER_CPU, ResourceLimits, object_store_budget
from pipelines._ray import data_context
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
