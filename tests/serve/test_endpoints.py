"""The serving product end to end: real Ray + Serve, real HTTP (httpx, tritonclient)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

import serve
from tests.serve.conftest import Served


@pytest.fixture(scope="module")
def iris_v1(served: Served) -> Iterator[Served]:
    """iris/v1 deployed once for the module's tests (each only asks it), removed after."""
    served.deploy("iris/v1")
    yield served
    serve.undeploy("iris/v1")


def _expected(served: Served, rows: int = 5, function: str = "predict") -> list[object]:
    out = served.reg.get_model("iris").version("v1").run(served.X[:rows], function_name=function)
    return out[out.columns[-1]].tolist()


def test_snowflake_format_gives_the_predictions_of_run(iris_v1: Served) -> None:
    X = iris_v1.X[:5]
    body = {"data": [[i, *row] for i, row in enumerate(X.to_numpy().tolist())]}
    r = httpx.post(f"{iris_v1.url}/models/iris/versions/v1/predict", json=body)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [row[0] for row in data] == list(range(5))
    assert [next(iter(row[1].values())) for row in data] == _expected(iris_v1)


def test_mlflow_formats_give_the_predictions_of_run(iris_v1: Served) -> None:
    X = iris_v1.X[:5]
    url = f"{iris_v1.url}/models/iris/versions/v1/invocations"
    bodies = [
        {"dataframe_split": {"columns": list(X.columns), "data": X.to_numpy().tolist()}},
        {"dataframe_records": X.to_dict(orient="records")},
        {"instances": X.to_dict(orient="records")},
        {"inputs": {c: X[c].tolist() for c in X.columns}},
    ]
    for body in bodies:
        r = httpx.post(url, json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json()["predictions"] == _expected(iris_v1), body
    csv = io.StringIO()
    X.to_csv(csv, index=False)
    r = httpx.post(url, content=csv.getvalue(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == _expected(iris_v1)


def test_oip_json_and_binary_give_the_predictions_of_run(iris_v1: Served) -> None:
    import tritonclient.http as triton

    X = iris_v1.X[:5]
    client = triton.InferenceServerClient(iris_v1.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_model_ready("iris", "v1")
    meta = client.get_model_metadata("iris", "v1")
    assert [i["name"] for i in meta["inputs"]] == list(X.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    for binary in (True, False):
        inputs = []
        for column in X.columns:
            tensor = triton.InferInput(column, [len(X)], "FP64")
            tensor.set_data_from_numpy(X[column].to_numpy(), binary_data=binary)
            inputs.append(tensor)
        out_name = meta["outputs"][0]["name"]
        result = client.infer("iris", inputs, model_version="v1",
                              outputs=[triton.InferRequestedOutput(out_name, binary_data=binary)])
        assert result.as_numpy(out_name).tolist() == _expected(iris_v1), binary


def test_errors_are_json_with_the_right_status(iris_v1: Served) -> None:
    url = iris_v1.url
    cases = [
        (f"{url}/models/nope/predict", {"data": [[0, 1.0]]}, 404, "NOPE"),
        (f"{url}/models/iris/versions/v9/predict", {"data": [[0, 1.0]]}, 404, "V9"),
        (f"{url}/models/iris/versions/v1/nope", {"data": [[0, 1, 2, 3, 4]]}, 404, "NOPE"),
        (f"{url}/models/iris/versions/v1/predict", {"data": [[0, "a", 2, 3, 4]]}, 400, "sepal"),
    ]
    for target, body, status, needle in cases:
        r = httpx.post(target, json=body)
        assert r.status_code == status, (target, r.text)
        doc = r.json()
        assert needle.lower() in doc["error"].lower() and doc["type"], doc
    r = httpx.post(f"{url}/models/iris/versions/v1/predict", content=b"{not json")
    assert r.status_code == 400 and r.json()["type"] == "InvalidInput"
    r = httpx.post(f"{url}/models/iris/versions/v1/invocations", content=b"{not json")
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"


def test_a_body_over_the_limit_is_413(iris_v1: Served) -> None:
    big = b'{"data": [' + b"[0, 1, 2, 3, 4]," * (5 * 1024 * 1024) + b"[0, 1, 2, 3, 4]]}"
    r = httpx.post(f"{iris_v1.url}/models/iris/versions/v1/predict", content=big, timeout=60)
    assert r.status_code == 413, r.text[:200]
    assert "max-body-mb" in r.json()["error"]


def test_models_lists_the_endpoints(iris_v1: Served) -> None:
    doc = httpx.get(f"{iris_v1.url}/models").json()
    (row,) = doc["models"]
    assert row["endpoint"] == "ML.REGISTRY.IRIS/V1" and row["version"] == "V1"
    assert "predict" in row["functions"] and row["replicas"] >= 1
    assert json.loads(json.dumps(row))  # plain JSON
    assert np.isfinite(1.0)


def test_functions_answer_with_dashes_and_every_function_is_routable(iris_v1: Served) -> None:
    X = iris_v1.X[:3]
    body = {"dataframe_split": {"columns": list(X.columns), "data": X.to_numpy().tolist()}}
    r = httpx.post(f"{iris_v1.url}/models/iris/versions/v1/predict-proba", json=body)
    assert r.status_code == 200, r.text
    expected = iris_v1.reg.get_model("iris").version("v1").run(X, function_name="predict_proba")
    got = r.json()["predictions"]
    assert len(got) == 3 and len(got[0]) == expected.shape[1] - X.shape[1]


def test_a_quoted_name_is_percent_encoded_in_the_path(clean_endpoints: Served) -> None:
    from sklearn.linear_model import LogisticRegression

    served = clean_endpoints
    X, y = served.X, (served.X["sepal_length"] > 5.8).astype(int)
    served.reg.log_model(LogisticRegression(max_iter=500).fit(X, y), model_name='"Mixed"',
                         version_name="v1", sample_input_data=X[:10])
    served.deploy('"Mixed"/v1')
    row = {"data": [[0, *X.iloc[0].tolist()]]}
    assert httpx.post(f"{served.url}/models/%22Mixed%22/versions/v1/predict",
                      json=row).status_code == 200
    r = httpx.post(f"{served.url}/models/mixed/versions/v1/predict", json=row)
    assert r.status_code == 404 and "MIXED" in r.json()["error"]


def test_request_and_batch_metrics_reach_rays_metrics_port(iris_v1: Served) -> None:
    import time

    import ray

    node = ray._private.worker.global_worker.node
    metrics_url = f"http://{node.node_ip_address}:{node.metrics_export_port}/metrics"
    for _ in range(3):
        httpx.post(f"{iris_v1.url}/models/iris/versions/v1/predict",
                   json={"data": [[0, 5.1, 3.5, 1.4, 0.2]]})
    wanted = ("floe_requests_total", "floe_request_latency_seconds", "floe_batch_size")
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(metrics_url, timeout=10).text
        if all(name in text for name in wanted):
            break
        time.sleep(2)
    missing = [name for name in wanted if name not in text]
    assert not missing, missing
    assert 'endpoint="ML.REGISTRY.IRIS/V1"' in text
