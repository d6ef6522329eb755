"""An endpoint's replica: one version (or the version an alias names) loaded once, every
request decoded against its signature and run through ``PreparedModel.run`` (the run path
of ``ModelVersion.run``), requests from many callers batched.

An endpoint addressed by an alias (DEFAULT, LAST, or the user's) follows it: the replica
looks the alias up every ``FLOE_SERVE_ALIAS_POLL_S`` seconds (default 1), loads a new target
in the background, and swaps it in only once it is ready; requests in flight finish on the
version they started on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from ray import serve as ray_serve
from ray.util import metrics

from registry import (
    FeatureSpec,
    InvalidInput,
    ModelFunctionInfo,
    NotFound,
    PreparedModel,
    Registry,
    format_identifier,
)
from serve.formats import (
    decode_mlflow,
    decode_snowflake,
    encode_mlflow,
    encode_oip,
    encode_snowflake,
    oip_model_metadata,
    oip_to_table,
    parse_oip_request,
)
from serve.messages import InferReply, InferRequest, Protocol

__all__ = ["Endpoint", "EndpointSpec"]

log = logging.getLogger(__name__)

_SNOWFLAKE_BODY = re.compile(rb'^\s*\{\s*"data"\s*:')
_JSON = {"content-type": "application/json"}
_BATCH_BUCKETS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]


@dataclass(frozen=True)
class EndpointSpec:
    """What a replica is started with (plain values: it crosses to the Serve controller)."""

    ref: str  # qualified: ML.REGISTRY.IRIS@LIVE
    database: str
    schema: str
    name: str
    selector: str
    catalog_url: str | None  # direct mode: the catalog and artifact root the replica opens
    artifact_root: str | None
    max_batch_size: int = 64
    batch_wait_ms: float = 2.0
    use_gpu: bool = False
    config: dict[str, Any] | None = None  # the EndpointConfig it was deployed with
    # through a registry server (then no catalog_url): its URL and the replicas' token, kept
    # in Serve's deployment (never shown by describe, nor in a repr)
    registry_url: str | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Served:
    """The version a replica serves now."""

    prepared: PreparedModel
    aliases: tuple[str, ...]


class Endpoint:
    """The Serve deployment class of every endpoint (one application per endpoint)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = EndpointSpec(**spec)
        self._registry = Registry(
            _quoted(self.spec.database), _quoted(self.spec.schema),
            catalog_url=self.spec.catalog_url, artifact_root=self.spec.artifact_root,
            url=self.spec.registry_url, token=self.spec.token,
        )
        self._model = self._registry.get_model(_quoted(self.spec.name))
        self._served = self._load(self._model.version(_quoted(self.spec.selector)))
        self._follows = self._served.prepared.version_name != format_identifier(self.spec.selector)
        self._batched = self.spec.max_batch_size > 1
        batched: Any = self._run_batch  # Serve's batch wrapper: configured per endpoint
        batched.set_max_batch_size(self.spec.max_batch_size)
        batched.set_batch_wait_timeout_s(self.spec.batch_wait_ms / 1000)
        tags = {"endpoint": self.spec.ref}
        self._batch_size = metrics.Histogram(
            "floe_batch_size", description="Requests per batch a Floe endpoint ran.",
            boundaries=_BATCH_BUCKETS, tag_keys=("endpoint",),
        )
        self._batch_size.set_default_tags(tags)
        self._poll_s = float(os.environ.get("FLOE_SERVE_ALIAS_POLL_S", "1.0"))
        self._follower: asyncio.Task[None] | None = None

    # -- the version served, and following an alias ---------------------------------------

    def _load(self, mv: Any) -> _Served:
        prepared = mv.prepare(options={"use_gpu": self.spec.use_gpu})
        return _Served(prepared=prepared, aliases=tuple(mv.aliases))

    def _ensure_follower(self) -> None:
        if self._follows and self._follower is None:
            self._follower = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await asyncio.to_thread(self._refresh)
            except Exception:  # keep serving what is loaded; say why once per poll
                log.warning("endpoint %s: cannot follow %s", self.spec.ref, self.spec.selector,
                            exc_info=True)

    def _refresh(self) -> None:
        mv = self._model.version(_quoted(self.spec.selector))
        current = self._served
        if mv.id == current.prepared.version_id:
            aliases = tuple(mv.aliases)
            if aliases != current.aliases:
                self._served = _Served(current.prepared, aliases)
            return
        log.info("endpoint %s: %s moved to %s; loading it", self.spec.ref, self.spec.selector,
                 mv.version_name)
        started = time.monotonic()
        self._served = self._load(mv)  # one assignment: requests see the old or the new
        log.info("endpoint %s: now serving %s (loaded in %.2f s)", self.spec.ref,
                 mv.version_name, time.monotonic() - started)

    # -- requests -------------------------------------------------------------------------

    async def infer(self, request: InferRequest) -> InferReply:
        self._ensure_follower()
        served = self._served
        prepared = served.prepared
        if request.protocol is Protocol.OIP:
            oip = parse_oip_request(request.body, request.header_length)
            fn = _pick(prepared, oip.function, default_rule=True)
            table = oip_to_table(oip, _inputs(fn))
            outputs = await self._run(prepared, fn, table)
            body, headers = encode_oip(oip, outputs, model_name=self.spec.ref,
                                       model_version=prepared.version_name)
            return InferReply(body, headers, rows=outputs.num_rows)
        fn = _pick(prepared, request.function,
                   default_rule=request.protocol is Protocol.MLFLOW and request.function is None)
        is_snowflake = request.protocol is Protocol.FLOE and _is_snowflake(request)
        if is_snowflake:
            table, index = decode_snowflake(request.body, _inputs(fn))
            outputs = await self._run(prepared, fn, table)
            return InferReply(encode_snowflake(index, outputs), dict(_JSON), outputs.num_rows)
        table = decode_mlflow(request.body, request.content_type, _inputs(fn))
        outputs = await self._run(prepared, fn, table)
        return InferReply(encode_mlflow(outputs), dict(_JSON), outputs.num_rows)

    async def _run(self, prepared: PreparedModel, fn: ModelFunctionInfo, table: pa.Table) -> pa.Table:
        if table.num_rows == 0:
            return _outputs(fn, prepared.run(table, function_name=_exact(fn)), table)
        if not self._batched or fn.is_partitioned:
            result = await asyncio.to_thread(prepared.run, table, function_name=_exact(fn))
            return _outputs(fn, result, table)
        outcome = await self._run_batch((prepared, fn, table))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @ray_serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def _run_batch(
        self, items: list[tuple[PreparedModel, ModelFunctionInfo, pa.Table]]
    ) -> list[pa.Table | BaseException]:
        self._batch_size.observe(len(items))
        results: list[pa.Table | BaseException] = [pa.table({})] * len(items)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (prepared, fn, _) in enumerate(items):
            groups.setdefault((prepared.version_id, fn.name), []).append(i)
        for members in groups.values():
            prepared, fn, _ = items[members[0]]
            tables = [items[i][2] for i in members]
            for i, outcome in zip(members, await asyncio.to_thread(_run_group, prepared, fn, tables),
                                  strict=True):
                results[i] = outcome
        return results

    # -- what the front asks --------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        served = self._served
        return {
            "ref": self.spec.ref,
            "database": self.spec.database,
            "schema": self.spec.schema,
            "name": self.spec.name,
            "selector": self.spec.selector,
            "model": served.prepared.model_name,
            "version": served.prepared.version_name,
            "aliases": list(served.aliases),
            "functions": [f.name for f in served.prepared.show_functions()],
            "config": self.spec.config,
            "registry_url": self.spec.registry_url,  # None: the catalog itself
        }

    def oip_metadata(self, function: str | None = None) -> dict[str, Any]:
        prepared = self._served.prepared
        fn = _pick(prepared, function, default_rule=True)
        signature = fn.signature
        return oip_model_metadata(
            self.spec.ref, [prepared.version_name],
            signature.inputs if signature is not None else None,
            signature.outputs if signature is not None else None,
            platform="floe",
        )


def _run_group(
    prepared: PreparedModel, fn: ModelFunctionInfo, tables: list[pa.Table]
) -> list[pa.Table | BaseException]:
    """Run the tables of one function as one batch; if the batch is refused, each alone, so
    every caller gets its own answer or its own error."""
    if len(tables) > 1:
        try:
            combined = pa.concat_tables(tables, promote_options="permissive")
            out = _outputs(fn, prepared.run(combined, function_name=_exact(fn)), combined)
        except Exception:
            pass
        else:
            answers: list[pa.Table | BaseException] = []
            offset = 0
            for table in tables:
                answers.append(out.slice(offset, table.num_rows))
                offset += table.num_rows
            return answers
    answers = []
    for table in tables:
        try:
            answers.append(_outputs(fn, prepared.run(table, function_name=_exact(fn)), table))
        except Exception as exc:
            answers.append(exc)
    return answers


def _pick(prepared: PreparedModel, name: str | None, *, default_rule: bool) -> ModelFunctionInfo:
    """The function a request names (``predict-proba`` is ``predict_proba``, as in Snowflake's
    service URLs); without a name under MLflow's and the OIP's rule: the only function, else
    ``predict``."""
    if name is None and default_rule:
        try:
            return prepared.get_function(None)
        except InvalidInput as several:
            try:
                return prepared.get_function("predict")
            except NotFound:
                raise several from None
    try:
        return prepared.get_function(name, argument="the path's function")
    except NotFound:
        if name is not None and "-" in name:
            return prepared.get_function(name.replace("-", "_"), argument="the path's function")
        raise


def _exact(fn: ModelFunctionInfo) -> str:
    return '"' + fn.name.replace('"', '""') + '"'


def _inputs(fn: ModelFunctionInfo) -> list[FeatureSpec] | None:
    return list(fn.signature.inputs) if fn.signature is not None else None


def _outputs(fn: ModelFunctionInfo, result: pa.Table, given: pa.Table) -> pa.Table:
    """The function's output columns of what ``run`` gave back (input columns come first)."""
    if fn.signature is not None and fn.signature.outputs:
        names = [f.name for f in fn.signature.outputs if f.name in result.column_names]
    else:
        names = [c for c in result.column_names if c not in set(given.column_names)]
    return result.select(names)


def _is_snowflake(request: InferRequest) -> bool:
    content_type = (request.content_type or "").lower()
    return "csv" not in content_type and _SNOWFLAKE_BODY.match(request.body) is not None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
