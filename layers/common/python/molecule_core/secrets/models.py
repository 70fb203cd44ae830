"""Secrets as the API shows them (SPEC §5.12): names, scopes and timestamps — never a value, except
in the one answer whose purpose is the value (`GET /workspaces/{id}/secrets/values`, the
`MODEL_PROVIDER` setting). A value travels as pydantic's `SecretStr`, whose repr and str are
`**********`, so a logged request model or a traceback's repr cannot show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, Field, SecretStr

from molecule_core.platform.models import WireModel

SecretScope = Literal["workspace", "global"]

# Environment variable in which the provision pipeline tells an agent which of its variables are
# secrets (comma-separated names, never values); the reference agent logs them.
SECRET_NAMES_ENV = "MOLECULE_SECRET_NAMES"  # noqa: S105 - a variable name, not a secret
# The workspace's model choice is the secret of this name (GET/PUT /workspaces/{id}/model).
MODEL_PROVIDER_KEY = "MODEL_PROVIDER"
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class SetSecretRequest(WireModel):
    """POST|PUT /workspaces/{id}/secrets and /settings/secrets. Size and content of the value are
    checked by `secrets.limits` (a value over 64 KiB is 413, not 400)."""

    model_config = ConfigDict(extra="ignore")

    key: str = Field(pattern=KEY_PATTERN, description="environment variable name")
    value: SecretStr


class SetModelRequest(WireModel):
    model_config = ConfigDict(extra="ignore")

    model: SecretStr


class SecretEntry(WireModel):
    """One name in a listing (`has_value` is always true: a secret without a value is not stored)."""

    key: str
    has_value: bool = True
    scope: SecretScope
    created_at: datetime
    updated_at: datetime


class SecretSaved(WireModel):
    status: Literal["saved"] = "saved"
    key: str
    scope: SecretScope
    restarts_requested: int = Field(description="managed workspaces restarted to pick the change up")


class SecretDeleted(WireModel):
    status: Literal["deleted"] = "deleted"
    key: str
    scope: SecretScope
    restarts_requested: int


class ModelSetting(WireModel):
    """GET /workspaces/{id}/model: the MODEL_PROVIDER a managed agent of this workspace receives."""

    model: str
    source: Literal["workspace_secrets", "global_secrets", "default"]


class StoredSecret(NamedTuple):
    """A row of workspace_secrets (workspace_id set) or global_secrets (None)."""

    scope: SecretScope
    workspace_id: UUID | None
    key: str
    ciphertext: bytes
    nonce: bytes
    key_id: str
    created_at: datetime
    updated_at: datetime

    @property
    def label(self) -> str:
        """How an operator finds it: `workspace:OPENAI_API_KEY`, `global:GITHUB_TOKEN`."""
        return f"{self.scope}:{self.key}"


@dataclass(frozen=True)
class DataKeyRecord:
    """A row of secret_data_keys: a data key as the key source wrapped it."""

    key_id: str
    wrapped_key: bytes
    wrapped_by: str
    created_at: datetime

    def __repr__(self) -> str:
        return f"DataKeyRecord(key_id={self.key_id!r}, wrapped_by={self.wrapped_by!r})"


class SealedSet(NamedTuple):
    """Sealed values and the wrapped data keys that open them (by key id), read in one statement."""

    secrets: list[StoredSecret]
    data_keys: dict[str, DataKeyRecord]
