"""``Registry(url=..., token=...)``: a registry server's client, over real HTTP. The API tests
run every assertion on it too (tests/registry/api/conftest.py); these cover what only a
client has: identity from tokens, the network failing, and the paths that leave the process
(the CLI, Ray workers, pipelines)."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipelines
from registry import (
    CatalogError,
    IntegrityError,
    NotFound,
    PermissionDenied,
    Registry,
    TooManyAttempts,
    Unauthenticated,
)
from registry.cli import main
from tests.models import iris_classifier
from tests.pipelines.pipeline_data import FEATURES, read_output, write_iris_table
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.served import served

# Where the catalog's kind cannot matter (the network, the CLI, Ray): SQLite only.
sqlite_only = pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)


@pytest.fixture
def server(catalog_url: str, artifact_root: Path) -> Iterator[tuple[str, str, Registry]]:
    """A server over the test's catalog: its URL, an ADMIN token and the catalog's admin."""
    admin = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    with served(catalog_url, artifact_root) as (url, token):
        yield url, token, admin


def test_a_user_acts_only_as_a_granted_role_and_a_revoked_token_stops_at_once(
    server: tuple[str, str, Registry],
) -> None:
    url, _, admin = server
    admin.sql("CREATE ROLE analyst")
    admin.create_user("ann", default_role="analyst")
    token = admin.create_token(user="ann")
    with pytest.raises(PermissionDenied, match="user ANN may not act as role ADMIN: it is not "
                       "granted to them; ask ADMIN: GRANT ROLE ADMIN TO USER ANN"):
        Registry(url=url, token=token, role="ADMIN").show_models()
    ann = Registry(url=url, token=token)
    assert ann.role == "ANALYST" and ann.show_models().empty
    with pytest.raises(PermissionDenied, match="GRANT CREATE MODEL ON SCHEMA ML.REGISTRY TO ROLE ANALYST"):
        ann.log_model(iris_classifier()[0], model_name="m", sample_input_data=iris_classifier()[1])
    token_id = admin.show_tokens().set_index("user").loc["ANN", "id"]
    admin.revoke_token(token_id)
    with pytest.raises(Unauthenticated, match="a valid token is required"):
        ann.show_models()  # the very next request
    with pytest.raises(Unauthenticated):
        Registry(url=url, token="floe_not-a-token").show_models()


@sqlite_only
def test_a_model_is_found_by_its_id_across_renames(server: tuple[str, str, Registry]) -> None:
    url, token, admin = server
    clf, X = iris_classifier()
    reg = Registry(url=url, token=token)
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    model = reg.get_model("m")
    admin.get_model("m").rename("ML.OTHER.RENAMED")  # behind the client's back
    assert model.fully_qualified_name == "ML.OTHER.RENAMED" == str(reg.get_model(f"@{model.id}"))
    assert model.version(f"@{mv.id}") == mv and model.default.version_name == "V1"
    with pytest.raises(NotFound, match="no model has id 0{32}"):
        reg.get_model("@" + "0" * 32)


class _DropFirst(socketserver.ThreadingTCPServer):
    """A TCP proxy to ``target`` that closes the first ``drops`` connections unanswered: a
    network that fails, in front of a real server."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: tuple[str, int], drops: int) -> None:
        self.target, self.drops, self.accepted = target, drops, 0
        super().__init__(("127.0.0.1", 0), _Forward)


class _Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        proxy: _DropFirst = self.server  # type: ignore[assignment]
        proxy.accepted += 1
        if proxy.accepted <= proxy.drops:
            self.request.close()
            return
        upstream = socket.create_connection(proxy.target)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        back.start()
        pump(self.request, upstream)
        back.join()


@contextmanager
def _flaky(url: str, drops: int) -> Iterator[str]:
    host, port = url.removeprefix("http://").split(":")
    proxy = _DropFirst((host, int(port)), drops)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()


@sqlite_only
def test_idempotent_calls_are_retried_and_others_fail_with_one_clear_error(
    server: tuple[str, str, Registry],
) -> None:
    url, token, _ = server
    with _flaky(url, drops=2) as through:
        assert Registry(url=through, token=token).show_models().empty  # GET: third try
    with _flaky(url, drops=1) as through, pytest.raises(
            CatalogError, match=r"the registry server at http://127\.0\.0\.1:\d+ cannot be "
            r"reached .*check the URL \(FLOE_REGISTRY_URL\)"):
        Registry(url=through, token=token).sql("CREATE ROLE once")  # POST: never resent
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(CatalogError, match=f"127.0.0.1:{port} cannot be reached"):
        Registry(url=f"http://127.0.0.1:{port}", token=token, timeout_s=2).show_models()


@sqlite_only
def test_the_cli_and_the_environment_reach_the_server(
    server: tuple[str, str, Registry], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, token, admin = server
    clf, X = iris_classifier()
    admin.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    monkeypatch.setenv("FLOE_TOKEN", token)
    assert main(["--registry-url", url, "models", "list"]) == 0
    assert "M" in capsys.readouterr().out
    monkeypatch.setenv("FLOE_REGISTRY_URL", url)
    assert Registry().get_model("m").default.version_name == "V1"
    monkeypatch.setenv("FLOE_TOKEN", "floe_bad.token")
    assert main(["models", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1


@sqlite_only
@pytest.mark.usefixtures("ray_local")
def test_ray_workers_and_pipelines_need_neither_catalog_nor_root(
    server: tuple[str, str, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The driver downloads the version once through the server; the workers get it from
    Ray's object store, so a run works where only the server can reach the catalog."""
    import ray

    url, token, admin = server
    clf, X = iris_classifier()
    admin.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:20])
    reg = Registry(url=url, token=token)
    mv = reg.get_model("iris").default
    scored = mv.run(ray.data.from_pandas(X), function_name="predict").to_pandas()
    np.testing.assert_array_equal(scored["output_feature_0"], clf.predict(X))
    data, out = tmp_path / "data", tmp_path / "out"
    frame = write_iris_table(data)
    monkeypatch.setenv("FLOE_TOKEN", token)
    result = pipelines.run({
        "model": "ML.REGISTRY.IRIS@DEFAULT", "function": "predict", "registry_url": url,
        "input": {"path": str(data)}, "output": {"path": str(out)},
        "compute": {"max_actors": 1, "batch_size": 64, "num_cpus": 0.25},
    })
    assert result.rows_out == len(frame)
    expected = clf.predict(frame.sort_values("id")[FEATURES])
    np.testing.assert_array_equal(read_output(out)["output_feature_0"].to_numpy(), expected)
    assert isinstance(read_output(out), pd.DataFrame)


@sqlite_only
def test_a_proxy_names_its_clients_so_a_bad_one_locks_out_only_itself(
    server: tuple[str, str, Registry],
) -> None:
    """The serving front asks the server for many clients: it names each in X-Forwarded-For
    (believed from loopback, uvicorn's default), and failed sign-ins count per client."""
    url, token, _ = server
    for _ in range(10):
        with Registry(url=url, token="floe_0123456789abcdef_" + "x" * 43,
                      forwarded_for="10.0.0.1") as bad, pytest.raises(Unauthenticated):
            bad.show_models()
    with Registry(url=url, token=token, forwarded_for="10.0.0.1") as same, pytest.raises(
            TooManyAttempts):
        same.show_models()
    with Registry(url=url, token=token, forwarded_for="10.0.0.2") as other:
        assert other.show_models().empty
    with Registry(url=url, token=token) as proxy:
        assert proxy.show_models().empty


@sqlite_only
def test_what_comes_down_is_checked_again_before_it_is_loaded(
    server: tuple[str, str, Registry], tmp_path: Path,
) -> None:
    url, token, _ = server
    clf, X = iris_classifier()
    reg = Registry(url=url, token=token)
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    mv.set_metric("val/acc", 0.9)  # a name that is not one path segment
    assert mv.show_metrics() == {"val/acc": 0.9}
    got = reg.get_artifact("floe://model/m/versions/DEFAULT/MANIFEST.yml", tmp_path / "got")
    assert [p.name for p in got] == ["MANIFEST.yml"]
    mv.load()  # the version is now in the client's mirror
    mirrored = next((Path(os.environ["FLOE_HOME"]) / "cache" / "remote").rglob("model.pkl"))
    data = bytearray(mirrored.read_bytes())
    data[-1] ^= 1  # same size: only a hash tells
    mirrored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.pkl"):
        Registry(url=url, token=token).get_model("m").version("v1").load()


@sqlite_only
def test_frames_come_down_as_arrow_or_json_and_equal_the_direct_ones(
    server: tuple[str, str, Registry],
) -> None:
    import httpx

    url, token, admin = server
    clf, X = iris_classifier()
    mv = admin.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5],
                         comment=None, metrics={"acc": 0.9, "nested": {"a": [1, 2]}})
    mv.set_alias("champion")
    admin.sql("CREATE ROLE analyst")
    reg = Registry(url=url, token=token)
    frames = {
        "/api/v1/models": (admin.show_models(), reg.show_models()),
        "/api/v1/models/m/versions": (admin.get_model("m").show_versions(),
                                      reg.get_model("m").show_versions()),
        "/api/v1/tokens": (admin.show_tokens(), reg.show_tokens()),
        "/api/v1/artifacts?url=floe://model/m/versions/v1/": (
            admin.list_artifacts("floe://model/m/versions/v1/"),
            reg.list_artifacts("floe://model/m/versions/v1/")),
    }
    headers = {"authorization": f"Bearer {token}"}
    for path, (direct, remote) in frames.items():
        pd.testing.assert_frame_equal(remote, direct, obj=path)  # dtypes, None and NaN too
        for accept, kind in (("application/vnd.apache.arrow.stream", "arrow"),
                             ("application/json", "json"), ("*/*", "json")):
            reply = httpx.get(url + path, headers={**headers, "accept": accept})
            assert reply.status_code == 200 and kind in reply.headers["content-type"], path
    reply = httpx.get(f"{url}/api/v1/models", headers=headers)
    assert reply.json()["columns"] == list(admin.show_models().columns)
