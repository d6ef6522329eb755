"""Schemathesis against the running server's own OpenAPI: every operation, over 1,000
generated requests in all (valid and invalid input, signed in as ADMIN so that the requests
reach the registry), bounded in time. No response may be a 5xx, and every response must
match the schema (its status documented, its body the documented one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import Registry
from registry.server import create_app, running
from tests.models import iris_classifier
from tests.registry.server.test_server import Server

EXAMPLES_PER_OPERATION = 40  # 43 operations: over 1,000 requests


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    url, root = f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "artifacts")
    admin = Registry(catalog_url=url, artifact_root=root)
    clf, X = iris_classifier()
    admin.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    admin.sql("CREATE USER fuzz DEFAULT_ROLE = admin")
    token = admin.create_token(user="fuzz")
    # max_failures: generated requests never sign in wrong, but keep the limiter out of it
    app = create_app(catalog_url=url, artifact_root=root, max_failures=1_000_000)
    with running(app) as base:
        yield Server(base, admin, {"fuzz": token})


def test_no_operation_fails_or_breaks_its_schema(served: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    headers = {"authorization": f"Bearer {served.tokens['fuzz']}"}
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        calls[result.ok().label] = _fuzz(result.ok(), headers)
    assert len(calls) >= 43, sorted(calls)  # every operation was reached
    assert sum(calls.values()) >= 1_000, calls


def _fuzz(operation: Any, headers: dict[str, str]) -> int:
    """Run ``operation``'s generated cases; return how many requests were made."""
    # half the cases name the model and version that exist, so requests get past the lookup
    # and into the operation itself (not those that would remove or rename them)
    removes = (operation.method.upper() == "DELETE" and operation.path.endswith(
        ("{model}", "{version}"))) or operation.path.endswith("/rename")
    fixed = {k: v for k, v in (("model", "m"), ("version", "v1"))
             if f"{{{k}}}" in operation.path and not removes}
    queries = {p.name for p in operation.iter_parameters()
               if getattr(p.location, "value", p.location) == "query"}
    namespace = {k: v for k, v in (("database", "ML"), ("schema", "REGISTRY")) if k in queries}
    cases = operation.as_strategy()
    if fixed:
        cases = st.one_of(cases, operation.as_strategy(path_parameters=fixed,
                                                       query=namespace or None))
    made = [0]

    @given(case=cases, mode=st.booleans())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case: schemathesis.Case, mode: bool) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items()
                        if k.lower() not in ("authorization", "x-floe-role")}
        if mode:  # half the cases as ADMIN, the rest with what was generated
            case.headers.update(headers)
        # the schema types names as plain strings, which the registry's identifier rules may
        # refuse (400 InvalidIdentifier): a documented answer, not a failure
        case.call_and_validate(headers=case.headers, timeout=30,
                               excluded_checks=[schemathesis.checks.positive_data_acceptance])
        made[0] += 1

    fuzz()
    return made[0]
