"""Run a pipeline as a Ray job through Ray's Job Submission API, and follow it.

``submit`` validates the config here, on the submitting side, then sends it to the cluster's
dashboard (``http://HEAD:8265``) as a job whose driver runs on the head node::

    entrypoint:  python -m registry.cli pipeline run --config-env FLOE_PIPELINE_CONFIG
                 (``floe pipeline run``: errors end the job with one ``error:`` line)
    runtime_env: env_vars FLOE_PIPELINE_CONFIG (the validated config as YAML),
                 FLOE_PIPELINE_MODEL (the model reference, as written),
                 FLOE_PIPELINE_JOB_ID (the job id, written into the run record), and the
                 submitting side's FLOE_CATALOG_URL, FLOE_ARTIFACT_ROOT, FLOE_DATABASE,
                 FLOE_SCHEMA and FLOE_HOME where they are set
    metadata:    floe_model, floe_pipeline

The driver resolves the model reference through the catalog when the job starts, so it needs
the catalog: set ``catalog_url``/``artifact_root`` in the config, export ``FLOE_*`` before
submitting, or set them on the cluster (cluster.yaml). Workers need neither: the version's
files travel through Ray's object store. Input and output paths must be reachable from the
cluster (an object store, or a shared file system); relative paths were made absolute
against the submitting side's working directory. Floe must be installed on the cluster
(cluster.yaml's setup_commands do it). ``runtime_env`` env vars are visible in the
dashboard: prefer a catalog URL without a password, or set it on the cluster.

Clusters started with token authentication refuse requests without the cluster's token.
It is read the way Ray's own CLI reads it: ``token=``/``--token``, else ``$RAY_AUTH_TOKEN``,
else the file at ``$RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines._record import JOB_ID_ENV
from pipelines.config import PipelineConfig, dump_config, parse_config
from pipelines.runner import ConfigLike, to_config
from registry import InvalidInput, NotFound, PermissionDenied, find_ray_token

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

__all__ = [
    "CONFIG_ENV",
    "ENTRYPOINT",
    "JobState",
    "job_logs",
    "job_status",
    "stop_job",
    "submit",
    "wait_for_job",
]

log = logging.getLogger(__name__)

CONFIG_ENV = "FLOE_PIPELINE_CONFIG"
#: The job's driver: ``floe pipeline run`` (through ``python -m``, so no script on PATH is needed).
ENTRYPOINT = f"python -m registry.cli pipeline run --config-env {CONFIG_ENV}"
MODEL_ENV = "FLOE_PIPELINE_MODEL"
FORWARDED_ENV = ("FLOE_CATALOG_URL", "FLOE_ARTIFACT_ROOT", "FLOE_DATABASE", "FLOE_SCHEMA",
                 "FLOE_HOME")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
_TOKEN_HELP = ("pass --token (token= in Python) or set RAY_AUTH_TOKEN; print the cluster's "
               "token on its head node with: ray get-auth-token")


@dataclass(frozen=True)
class JobState:
    """A submitted pipeline's status as the cluster reports it."""

    job_id: str
    status: str
    message: str | None
    entrypoint: str | None
    metadata: dict[str, str]
    start_time_ms: int | None
    end_time_ms: int | None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "is_terminal": self.is_terminal}


def submit(
    config: ConfigLike,
    *,
    address: str | None = None,
    token: str | None = None,
    submission_id: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> str:
    """Submit ``config`` as a Ray job; return its job (submission) id."""
    cfg = to_config(config)
    if source is None and isinstance(config, (str, os.PathLike)):
        source = str(config)
    job_id = submission_id or f"floe-{uuid.uuid4().hex[:12]}"
    extra = dict(runtime_env or {})
    env_vars = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    env_vars.update(extra.pop("env_vars", None) or {})
    env_vars.update({CONFIG_ENV: dump_config(cfg), MODEL_ENV: cfg.model, JOB_ID_ENV: job_id})
    with _client(address, token) as client:
        submitted = client.submit_job(
            entrypoint=ENTRYPOINT,
            submission_id=job_id,
            runtime_env={**extra, "env_vars": env_vars},
            metadata={"floe_model": cfg.model, "floe_pipeline": source or "<config>"},
        )
    log.info("submitted %s as job %s", cfg.model, submitted)
    return str(submitted)


def job_status(job_id: str, *, address: str | None = None, token: str | None = None) -> JobState:
    with _client(address, token) as client:
        info = client.get_job_info(job_id)
    return JobState(
        job_id=job_id,
        status=str(getattr(info.status, "value", info.status)),
        message=info.message,
        entrypoint=info.entrypoint,
        metadata=dict(info.metadata or {}),
        start_time_ms=info.start_time,
        end_time_ms=info.end_time,
    )


def job_logs(job_id: str, *, address: str | None = None, token: str | None = None) -> str:
    with _client(address, token) as client:
        return str(client.get_job_logs(job_id))


def stop_job(job_id: str, *, address: str | None = None, token: str | None = None) -> bool:
    """Ask the cluster to stop the job; ``False`` when it had already finished."""
    with _client(address, token) as client:
        return bool(client.stop_job(job_id))


def wait_for_job(
    job_id: str,
    *,
    address: str | None = None,
    token: str | None = None,
    timeout_s: float = 600.0,
    poll_s: float = 1.0,
) -> JobState:
    """Poll until the job succeeds, fails or is stopped; ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = job_status(job_id, address=address, token=token)
        if state.is_terminal:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is still {state.status} after {timeout_s:g}s; "
                               f"follow it with: floe pipeline status {job_id}")
        time.sleep(poll_s)


@contextlib.contextmanager
def _client(address: str | None, token: str | None) -> Iterator[JobSubmissionClient]:
    """A Job Submission client for ``address`` (else ``$RAY_API_SERVER_ADDRESS``, then
    ``$RAY_ADDRESS``, then http://127.0.0.1:8265), with Ray's errors translated."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    found = find_ray_token(token)
    headers = {"Authorization": f"Bearer {found}"} if found else None
    where = address or "the default address"
    try:
        with _explicit_address(address):
            client = JobSubmissionClient(address, headers=headers)
        yield client
    except AuthenticationError as exc:
        problem = "refused the token" if found else "requires a token"
        raise PermissionDenied(f"the Ray cluster at {where} {problem}; {_TOKEN_HELP}") from exc
    except ConnectionError as exc:
        raise InvalidInput(
            f"no Ray dashboard answers at {where}; pass --address http://HEAD:8265 (the "
            "dashboard's address) of a running cluster started with --include-dashboard=true"
        ) from exc
    except RuntimeError as exc:  # how Ray's client reports an HTTP error (no FloeError is one)
        text = str(exc)
        if "does not exist" in text or "404" in text:
            raise NotFound(f"{text.rstrip('.')}; list jobs: ray job list --address {where}") from exc
        raise


@contextlib.contextmanager
def _explicit_address(address: str | None) -> Iterator[None]:
    """Ray lets ``$RAY_ADDRESS`` override an explicit address; here the explicit one wins."""
    if address is None:
        yield
        return
    saved = {k: os.environ.pop(k) for k in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
             if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def config_from_env(name: str = CONFIG_ENV) -> PipelineConfig:
    """The config a submitted job carries in its environment (already expanded and absolute)."""
    text = os.environ.get(name)
    if not text:
        raise InvalidInput(f"${name} is not set; it carries the config of a job submitted with "
                           "floe pipeline submit")
    return parse_config(text, source=f"${name}", expand_env=False)
