"""The agent's settings: one validated model, built once by the CLI from flags with environment
fallbacks, so that nothing else reads `os.environ`. `Behaviour` is the test switch set (SPEC §6),
shared by the flags, the environment and the `POST /control` endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from uuid import UUID

from molecule_core.workspaces.models import DeliveryMode
from pydantic import BaseModel, ConfigDict, Field, field_validator

BehaviourName = Literal["normal", "slow", "fail", "status", "close"]


class Behaviour(BaseModel):
    """How the agent answers A2A requests over HTTP.

    normal  echo
    slow    echo after `delay` seconds
    fail    a JSON-RPC error (HTTP 200), which the platform records as the agent's failure
    status  HTTP `status_code` with no JSON-RPC body (the platform's dead/upstream-status paths)
    close   read the request, then close the connection without a byte of answer (the "busy"
            signal of SPEC §5.4 step 6)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    behaviour: BehaviourName = "normal"
    delay: float = Field(default=5.0, ge=0, le=3600)
    status_code: int = Field(default=503, ge=400, le=599)


class FileSettings(BaseModel):
    """Where the chat-file endpoints keep files, and how large one upload may be (SPEC §5.7, §6).

    `root` stands for the agent's `/`: the agent-side path `/workspace/x` is `<root>/workspace/x`.
    None means `<config dir>/files`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path | None = None
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)


class AgentConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform_url: str
    workspace_id: UUID
    config_dir: Path
    auth_token: str | None = None  # injected by the provision pipeline (MOLECULE_AUTH_TOKEN)
    inbound_secret: str | None = None  # injected by the provision pipeline (PLATFORM_INBOUND_SECRET)
    parent_id: UUID | None = None
    mode: DeliveryMode = "push"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: any free port; the agent registers the one it got
    public_url: str | None = None
    name: str = Field(default="reference-agent", min_length=1, max_length=255)
    heartbeat_interval: float = Field(default=15.0, gt=0)
    poll_interval: float = Field(default=2.0, gt=0)
    register_attempts: int = Field(default=10, ge=1)
    register_backoff: float = Field(default=1.0, gt=0)  # first retry delay; doubles up to a cap
    behaviour: Behaviour = Behaviour()
    # Names of the operator's secrets the provision pipeline put in the environment (never values).
    secret_names: tuple[str, ...] = ()

    @field_validator("platform_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("platform URL must start with http:// or https://")
        return value.rstrip("/")
