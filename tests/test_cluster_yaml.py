"""cluster.yaml is a cluster-launcher config that Ray itself accepts: its JSON schema, then the
checks ``ray up`` runs after filling in the provider's defaults (no cloud call is made)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "cluster.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_it_matches_rays_schema(cluster: dict[str, Any]) -> None:
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(cluster, schema)


def test_ray_up_would_accept_it(cluster: dict[str, Any]) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(cluster))


def test_it_has_a_cpu_head_and_an_autoscaling_gpu_worker_group(cluster: dict[str, Any]) -> None:
    for key in ("cluster_name", "provider", "auth", "available_node_types", "head_node_type",
                "max_workers", "setup_commands", "file_mounts", "head_start_ray_commands",
                "worker_start_ray_commands"):
        assert key in cluster, key
    assert cluster["provider"]["type"] == "aws" and cluster["provider"]["region"]
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] > 0
    assert "node_config" in head
    workers = [t for name, t in types.items() if name != cluster["head_node_type"]]
    gpu = [t for t in workers if t["resources"].get("GPU", 0) > 0]
    assert len(gpu) == 1
    group = gpu[0]
    assert "node_config" in group
    assert 0 <= group["min_workers"] < group["max_workers"] <= cluster["max_workers"]


def test_every_node_installs_this_package_with_the_torch_pin(cluster: dict[str, Any]) -> None:
    mounts = cluster["file_mounts"]
    remote_repo = next(remote for remote, local in mounts.items() if local == ".")
    installs = [c for c in cluster["setup_commands"] if "pip install" in c and remote_repo in c]
    assert installs, "setup_commands must pip install the mounted repository"
    assert f"-c {remote_repo}/constraints.txt" in installs[0]
    assert (REPO / "constraints.txt").is_file()


def test_the_head_serves_the_job_api_and_every_node_shares_the_token(
    cluster: dict[str, Any],
) -> None:
    head = " ".join(cluster["head_start_ray_commands"])
    assert re.search(r"ray start --head .*--include-dashboard=true", head)
    assert "--dashboard-host=0.0.0.0" in head
    for commands in (cluster["head_start_ray_commands"], cluster["worker_start_ray_commands"]):
        assert "RAY_AUTH_MODE=token" in " ".join(commands)
    assert any(remote.endswith("/.ray/auth_token") for remote in cluster["file_mounts"])
