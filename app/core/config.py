"""One Settings object for the whole application.

Values come, highest priority first, from: real environment variables, the file named by
``ENV_PATH`` (a dotenv file such as ``dev.env``, or a SAM ``--env-vars`` JSON file such as
``prod_env.json``), then the defaults below. Nothing read here is ever evaluated as code.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused in aws mode
# Secrets anyone can read (the code's default, the repository's dev.env): refused in aws mode.
# tests/test_hostile_auth.py checks that dev.env's value is listed here.
PUBLISHED_JWT_SECRETS = frozenset({DEFAULT_JWT_SECRET, "local-dev-only-jwt-secret-not-for-production-use"})
REPO_ROOT = Path(__file__).resolve().parents[2]


def read_env_file(path: Path, section: str | None = None) -> dict[str, str]:
    """Read a dotenv file, or a SAM ``--env-vars`` JSON file (``Parameters`` plus one section)."""
    if not path.is_file():
        return {}
    if path.suffix == ".json":
        document = json.loads(path.read_text())
        values: dict[str, Any] = dict(document.get("Parameters", {}))
        if section:
            values.update(document.get(section, {}))
        return {key: str(value) for key, value in values.items() if value is not None}
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def configured_values(field_names: set[str]) -> dict[str, str]:
    """Values for ``field_names`` (lower case) from the ``ENV_PATH`` file, then the environment,
    which wins. Names match case-insensitively; empty values count as unset: sam local passes ""
    for every template variable it cannot resolve, and an empty *_ARN must not mean "fetch a
    secret"."""
    env_path = os.environ.get("ENV_PATH", "dev.env")
    path = Path(env_path)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    values: dict[str, str] = {}
    for source in (read_env_file(path, os.environ.get("ENV_SECTION")), os.environ):
        for key, value in source.items():
            name = key.lower()
            if name in field_names and value != "":
                values[name] = value
    return values


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return value


CommaList = list[str]  # "a,b" or a JSON list in the environment (see _split_lists)


class Settings(BaseModel):
    """Every setting, from ``configured_values()``; keyword arguments win over both.

    A plain pydantic model fed by a dozen lines rather than pydantic-settings: the API handler
    builds it on every cold start, and that package (with its sources, argparse and dotenv at
    import) cost it ~12 ms and ~2 MB for what this does."""

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**configured_values(set(type(self).model_fields)), **values})

    # --- runtime -------------------------------------------------------------------------
    app_mode: Literal["local", "aws"] = "local"
    stage: str = "dev"
    log_level: str = "INFO"
    project_name: str = "Prompted Inpainting API"
    public_base_url: str = "http://127.0.0.1:8000"  # local mode: where /files URLs point
    api_base_path: str = ""  # stage prefix in front of the app, e.g. "/prod"
    # Local mode only: migrate and seed on the first request (sam local start-api, whose
    # containers start with an empty /tmp). Never in aws mode: the seeder Lambda does it there.
    auto_migrate_seed: bool = False
    cors_origins: CommaList = Field(default_factory=list)

    # --- database ------------------------------------------------------------------------
    database_url: str | None = None
    pg_host: str | None = None
    pg_port: int = 5432
    pg_user: str | None = None
    pg_database: str | None = None
    pg_password: SecretStr | None = None
    db_secret_arn: str | None = None
    sqlite_path: str = "data/app.db"
    # Pool size: unset = sized with the server (local: requests + job workers + reaper and
    # health; aws: 1, one request per container). DB_POOL_SIZE=1 DB_MAX_OVERFLOW=0 proves that
    # every route needs one connection only.
    db_pool_size: int | None = None
    db_max_overflow: int | None = None
    db_pool_timeout: float = 10.0  # waiting longer for a connection answers 503, never hangs

    # --- auth ----------------------------------------------------------------------------
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_secret_arn: str | None = None
    access_token_minutes: int = 60 * 8
    jwt_issuer: str = "prompted-inpainting"  # app.core.security's defaults
    jwt_audience: str = "prompted-inpainting-api"
    # Login throttling (state in the database: shared by every Lambda instance).
    login_max_failures_per_account: int = 5
    login_max_failures_per_client: int = 20
    login_failure_window_seconds: int = 15 * 60
    login_lockout_seconds: int = 5 * 60
    # argon2 hashes at once per process (64 MiB and a core each); others wait, then get a 503.
    password_hash_concurrency: int = 2
    password_hash_wait_seconds: float = 5.0
    admin_email: str = "admin@example.com"
    admin_password: SecretStr | None = None
    admin_password_secret_arn: str | None = None

    # --- images --------------------------------------------------------------------------
    storage_dir: str = "data/images"
    s3_bucket: str | None = None
    # Through the API: a Lambda invoke payload is at most 6 MB and HTTP API base64-encodes the
    # multipart body, so about 4.5 MB is the real ceiling there; larger files use direct uploads.
    max_upload_bytes: int = 4 * 1024 * 1024
    max_direct_upload_bytes: int = 50 * 1024 * 1024  # presigned uploads straight to S3
    max_image_pixels: int = 40_000_000
    url_expiry_seconds: int = 3600

    # --- jobs ----------------------------------------------------------------------------
    job_queue_url: str | None = None
    job_max_attempts: int = 4  # the queue's maxReceiveCount must be one more (see template.yaml)
    job_lease_seconds: int = 900  # a running job's worker is presumed dead after this
    job_max_requeues: int = 30  # "endpoint waking" round trips before the job fails
    local_workers: int = Field(2, ge=1)  # local mode's job threads: 0 would accept jobs nobody runs
    job_dispatch_grace_seconds: int = 120  # a queued job nobody took after this is dispatched again
    job_db_retry_seconds: float = 30.0  # the runner retries its own DB steps this long (a DB blip)
    reaper_interval_seconds: int = 30  # local mode: how often expired leases are requeued

    # --- local server capacity ------------------------------------------------------------
    # Requests inside the app at once; more wait up to admission_wait_seconds, then 503.
    max_concurrent_requests: int = Field(16, ge=1)
    admission_wait_seconds: float = Field(2.0, ge=0)

    # --- inpainting endpoint ------------------------------------------------------------
    hf_endpoint_url: str | None = None
    hf_endpoint_name: str | None = None
    hf_endpoint_namespace: str | None = None
    hf_token: SecretStr | None = None
    hf_token_secret_arn: str | None = None
    hf_connect_timeout: float = 10.0
    # Must exceed HF_SCALE_UP_TIMEOUT plus one inference: the endpoint's proxy holds a request
    # for up to that long while a scaled-to-zero replica starts.
    hf_read_timeout: float = 80.0
    hf_scale_up_timeout: int = 45  # sent as X-Scale-Up-Timeout
    hf_max_attempts: int = 3  # tries per job run for 503/429/5xx/timeouts before giving up
    # All tries of one run; stays below the worker Lambda's Timeout (300 s) with room to spare.
    hf_call_budget_seconds: float = 240.0
    hf_wake_retry_seconds: int = 60  # how long a job waits in the queue while the endpoint wakes

    # --- locator (ECS GPU task) ---------------------------------------------------------
    locator_cluster: str | None = None
    locator_task_definition: str | None = None
    locator_capacity_provider: str | None = None
    locator_subnets: CommaList = Field(default_factory=list)
    locator_security_groups: CommaList = Field(default_factory=list)
    locator_container_name: str = "locator"
    # Detectron2 (the locator task; or local mode when detectron2 is installed and weights are
    # set, see docs/locator.md): weights from a local path, file://, s3:// or https:// (empty =
    # the model zoo's checkpoint for the config, which the task image bakes into its cache dir),
    # downloaded once into the cache dir. LOCATOR_DEVICE=cpu runs it without a GPU.
    locator_weights_uri: str | None = None
    locator_config_name: str = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
    locator_device: str = "cuda"
    locator_cache_dir: str = "/tmp/locator-cache"  # noqa: S108 - a scratch cache, not a secret
    locator_max_task_seconds: int = 3000  # the task stops draining new jobs after this

    @field_validator("cors_origins", "locator_subnets", "locator_security_groups", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("api_base_path")
    @classmethod
    def _normalise_base_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        return value if not value or value.startswith("/") else f"/{value}"

    @model_validator(mode="after")
    def _refuse_insecure_aws(self) -> Settings:
        # The JWT secret is checked where it is used (app.core.secrets.jwt_secret): only the API
        # signs tokens, and the worker, seeder, task-state function and locator task get no
        # JWT_SECRET_ARN from template.yaml.
        if self.app_mode == "aws" and "*" in self.cors_origins:
            raise ValueError("APP_MODE=aws needs an explicit list of CORS_ORIGINS, not '*'")
        return self

    @property
    def is_aws(self) -> bool:
        return self.app_mode == "aws"


@lru_cache
def get_settings() -> Settings:
    return Settings()
