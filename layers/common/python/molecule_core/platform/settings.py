"""Process settings: every environment variable the platform reads, validated once.

Logic never reads os.environ; it asks `get_settings()`. Lambda environments are immutable, so the
parsed settings are cached per execution environment; tests call `reset_settings()` after changing
the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ProvisionerBackendName = Literal["none", "process", "controlplane", "ecs"]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    molecule_env: str = Field("production", alias="MOLECULE_ENV")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    database_secret_arn: str | None = Field(None, alias="DATABASE_SECRET_ARN")
    admin_token: str | None = Field(None, alias="ADMIN_TOKEN")
    admin_token_secret_arn: str | None = Field(None, alias="ADMIN_TOKEN_SECRET_ARN")
    enable_test_tokens: bool = Field(False, alias="MOLECULE_ENABLE_TEST_TOKENS")
    platform_url: str = Field("http://127.0.0.1:8080", alias="PLATFORM_URL")
    provisioner_backend: ProvisionerBackendName = Field("none", alias="PROVISIONER_BACKEND")
    saas_mode: bool = Field(False, alias="MOLECULE_SAAS_MODE")
    db_connect_timeout_seconds: int = Field(5, alias="DB_CONNECT_TIMEOUT_SECONDS", ge=1, le=60)
    # An RDS Proxy (or any pooler) endpoint: connect there with the secret's credentials.
    database_host_override: str | None = Field(None, alias="DATABASE_HOST_OVERRIDE")
    # Bounds on every connection (0 = the server's default). Under RDS Proxy a per-connection setting
    # pins the connection, so set these on the database role instead (README "Deploying").
    db_statement_timeout_ms: int = Field(15_000, alias="DB_STATEMENT_TIMEOUT_MS", ge=0)
    db_idle_in_transaction_timeout_ms: int = Field(30_000, alias="DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", ge=0)
    # Requests one credential may make per second in one execution environment (0 = no limit), and
    # the burst above that rate it may spend at once.
    rate_limit_per_second: float = Field(50.0, alias="RATE_LIMIT_PER_SECOND", ge=0)
    rate_limit_burst: int = Field(200, alias="RATE_LIMIT_BURST", ge=1)
    # Liveness: a heartbeat older than this marks an online/degraded workspace stale.
    heartbeat_stale_seconds: int = Field(90, alias="HEARTBEAT_STALE_SECONDS", ge=1)
    # A workspace still `provisioning` after this long is marked failed.
    provision_timeout_seconds: int = Field(600, alias="PROVISION_TIMEOUT_SECONDS", ge=1)
    # How long a push dispatch may wait for the agent: under API Gateway's 30 s cut-off.
    a2a_push_timeout_seconds: float = Field(25.0, alias="A2A_PUSH_TIMEOUT_SECONDS", gt=0, le=28)
    # How long a streamed A2A answer (SSE) may last when it is relayed as it comes (a function URL
    # in response-streaming mode, or the local stack); capped by the function's own timeout.
    a2a_stream_timeout_seconds: float = Field(280.0, alias="A2A_STREAM_TIMEOUT_SECONDS", gt=0, le=900)
    # The base URL A2A clients reach the proxy at, written into each workspace's agent card
    # (`<base>/workspaces/<id>/a2a`). On AWS: the proxy function's URL, which streams; unset = PLATFORM_URL.
    a2a_endpoint_url: str | None = Field(None, alias="A2A_ENDPOINT_URL")
    # Provisioner backends (PROVISIONER_BACKEND picks one).
    process_agents_dir: str | None = Field(None, alias="PROCESS_AGENTS_DIR")  # process: config dirs
    # process: how long a stopped agent gets to exit after SIGTERM before it is killed.
    process_stop_timeout_seconds: float = Field(10.0, alias="PROCESS_STOP_TIMEOUT_SECONDS", gt=0, le=300)
    # process: an agent that exits within this long after start is reported as a failed start.
    process_start_check_seconds: float = Field(0.5, alias="PROCESS_START_CHECK_SECONDS", ge=0, le=30)
    controlplane_url: str | None = Field(None, alias="CONTROLPLANE_URL")
    controlplane_token: str | None = Field(None, alias="CONTROLPLANE_TOKEN")
    controlplane_token_secret_arn: str | None = Field(None, alias="CONTROLPLANE_TOKEN_SECRET_ARN")
    ecs_cluster: str | None = Field(None, alias="ECS_CLUSTER")
    ecs_task_definition: str | None = Field(None, alias="ECS_TASK_DEFINITION")
    ecs_container_name: str = Field("agent", alias="ECS_CONTAINER_NAME")
    ecs_subnets: str | None = Field(None, alias="ECS_SUBNETS")  # comma-separated
    ecs_security_groups: str | None = Field(None, alias="ECS_SECURITY_GROUPS")  # comma-separated
    ecs_assign_public_ip: bool = Field(False, alias="ECS_ASSIGN_PUBLIC_IP")
    # ecs: the region of the cluster (Lambda sets AWS_REGION; else boto3's own configuration).
    aws_region: str | None = Field(None, alias="AWS_REGION")
    # Lifecycle jobs (restart, wake, hibernate, stop) go to this SQS queue when set.
    lifecycle_queue_url: str | None = Field(None, alias="LIFECYCLE_QUEUE_URL")
    # A restart claimed longer ago than this is presumed lost and may be claimed again.
    restart_lease_seconds: int = Field(300, alias="RESTART_LEASE_SECONDS", ge=10)
    activity_retention_days: int = Field(7, alias="ACTIVITY_RETENTION_DAYS", ge=1)
    # Memories: the one embedding size the deployment's model produces (1536: OpenAI
    # text-embedding-3-small / ada-002); another size is 400. pgvector's limit is 16 000.
    memory_embedding_dimensions: int = Field(1536, alias="MEMORY_EMBEDDING_DIMENSIONS", ge=1, le=16000)
    # The A2A queue (SPEC §5.5): SQS FIFO for messages that wait for a busy or long-running target.
    a2a_queue_url: str | None = Field(None, alias="A2A_QUEUE_URL")
    # Its dead-letter queue, which the outbox sweep reads to take back messages of active rows.
    a2a_dead_letter_queue_url: str | None = Field(None, alias="A2A_DEAD_LETTER_QUEUE_URL")
    # expires_at of a queued message without params.expires_in_seconds (capped by queue retention).
    a2a_queue_default_ttl_seconds: int = Field(86400, alias="A2A_QUEUE_DEFAULT_TTL_SECONDS", ge=1)
    # Deliveries tried before a queued message is marked failed (matches the queue's maxReceiveCount).
    a2a_queue_max_attempts: int = Field(5, alias="A2A_QUEUE_MAX_ATTEMPTS", ge=1)
    # The drain function's timeout; one delivery may take it minus a margin.
    a2a_drain_timeout_seconds: int = Field(300, alias="A2A_DRAIN_TIMEOUT_SECONDS", ge=60, le=900)
    # Secrets at rest (SPEC §5.12): the key source that wraps their data keys. A KMS key (AWS), else
    # a local 32-byte key file (the local stack sets one under .molecule/); neither = no key source.
    secrets_kms_key_id: str | None = Field(None, alias="SECRETS_KMS_KEY_ID")
    secrets_key_file: str | None = Field(None, alias="SECRETS_KEY_FILE")
    # Files staged by the platform (SPEC §5.13): the S3 bucket (unset = staging off), how long a
    # staged file lives (the bucket's lifecycle rule matches it), the largest presigned upload
    # (5 GiB is one S3 PUT's own limit), how long a presigned URL works (kept short: a URL also
    # dies with the temporary role credentials that signed it), and up to what size a read
    # answers the bytes itself instead of a redirect (at most what fits a Lambda response).
    files_bucket: str | None = Field(None, alias="FILES_BUCKET")
    files_retention_days: int = Field(7, alias="FILES_RETENTION_DAYS", ge=1, le=3650)
    files_max_upload_bytes: int = Field(100 * 1024 * 1024, alias="FILES_MAX_UPLOAD_BYTES", ge=1, le=5 * 1024**3)
    files_url_expiry_seconds: int = Field(900, alias="FILES_URL_EXPIRY_SECONDS", ge=60, le=3600)
    files_inline_max_bytes: int = Field(1024 * 1024, alias="FILES_INLINE_MAX_BYTES", ge=0, le=4_718_592)

    @field_validator("molecule_env")
    @classmethod
    def _normalise_env(cls, value: str) -> str:
        return value.strip().lower() or "production"

    @field_validator(
        "admin_token",
        "database_url",
        "admin_token_secret_arn",
        "database_secret_arn",
        "a2a_queue_url",
        "database_host_override",
        "controlplane_token_secret_arn",
        "a2a_endpoint_url",
        "secrets_kms_key_id",
        "secrets_key_file",
        "files_bucket",
        "a2a_dead_letter_queue_url",
    )
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("provisioner_backend", mode="before")
    @classmethod
    def _backend_default(cls, value: object) -> object:
        return value or "none"

    @property
    def is_production(self) -> bool:
        return self.molecule_env == "production"

    @property
    def is_development(self) -> bool:
        return self.molecule_env == "development"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    return Settings.model_validate({key: value for key, value in os.environ.items() if key in known})


def reset_settings() -> None:
    get_settings.cache_clear()
