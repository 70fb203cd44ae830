"""Secrets (SPEC §5.12): workspace and global secrets, encrypted at rest, delivered to the agents
that need them — at provision time as environment variables (`agent_secrets`, called by the
provision pipeline) and to remote agents through `GET /workspaces/{id}/secrets/values`.

Encryption is envelope encryption: each value is sealed with AES-256-GCM (`crypto`) under a data
key; data keys are stored only wrapped by the key source (`keys`: KMS in AWS, a local key file on a
laptop) and unwrapped once per execution environment (cached here). The newest data key of the
configured source seals every write, so rotation is a new data key (`rotate_data_key`); older keys
keep decrypting, and every rewrite of a row — a write, or `reencrypt_secrets` — seals it under the
active key.

Without a key source the secret routes answer 503 with an operator message (and log it loudly),
the provision pipeline fails a workspace that has secrets with that message, and a deploy fails
before new code takes traffic (`check_key_source`, run by the migration). A value that does not
decrypt is never skipped: the answer (500) and the failed provision name the keys, and nothing
else.

A change restarts the managed workspaces it affects through the lifecycle queue: the workspace
itself, or for a global secret every workspace without its own value of that key (external,
paused and hibernated ones are left alone). Values never reach a log line, an event, an error or
the activity log; events record the name and scope only.
"""

from __future__ import annotations

import secrets as random_source
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from pydantic import SecretStr

from molecule_core.events import service as events
from molecule_core.lifecycle import service as lifecycle
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_core.platform import db
from molecule_core.platform.errors import DomainError, Gone, NotFound, ServiceUnavailable, WorkspaceNotFound
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings
from molecule_core.secrets import crypto, keys, store
from molecule_core.secrets.limits import check_key, check_value, check_writable_key
from molecule_core.secrets.models import (
    MODEL_PROVIDER_KEY,
    DataKeyRecord,
    ModelSetting,
    SecretDeleted,
    SecretEntry,
    SecretSaved,
    SecretScope,
    SetModelRequest,
    SetSecretRequest,
    StoredSecret,
)

T = TypeVar("T")
RESTART_REASON = "secrets_changed"


class SecretsUnavailable(ServiceUnavailable):
    """503: no key source, or the key source cannot be used right now. Written for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="secrets_unavailable")


class SecretsUndecryptable(DomainError):
    """500: stored values that do not decrypt. Names them (`scope:KEY`) and says nothing else: a
    partial set would boot an agent that fails later, far from the cause."""

    status_code = 500

    def __init__(self, failed_keys: list[str]) -> None:
        super().__init__(
            "secrets cannot be decrypted: " + ", ".join(failed_keys) + "; set them again (or restore the key "
            "that sealed them)",
            failed_keys=failed_keys,
        )
        self.failed_keys = failed_keys


# --- the key source and data keys of this execution environment ---------------------------------

_lock = threading.Lock()
_source: tuple[tuple[str | None, str | None, bool], keys.KeySource] | None = None
_data_keys: dict[str, bytes] = {}  # key id → unwrapped data key, for the life of the environment


def _key_source() -> keys.KeySource:
    """The configured key source, made once per environment (again when settings change)."""
    global _source
    settings = get_settings()
    wanted = (settings.secrets_kms_key_id, settings.secrets_key_file, settings.is_production)
    with _lock:
        if _source is not None and _source[0] == wanted:
            return _source[1]
        try:
            source = keys.key_source_from_settings(settings)
        except (keys.KeySourceMissing, keys.KeySourceFailed) as exc:
            # Loud on purpose: every request that needs secrets fails until an operator acts.
            logger.error("SECRETS UNAVAILABLE: %s", exc, extra={"code": "secrets_unavailable"})
            raise SecretsUnavailable(str(exc)) from None
        _source = (wanted, source)
        return source


def _using_source(call: Callable[[], T]) -> T:
    """A call to the key source; its failure (KMS down, access denied) is a 503 for the operator."""
    try:
        return call()
    except keys.KeySourceFailed as exc:
        logger.error("SECRETS UNAVAILABLE: %s", exc, extra={"code": "secrets_unavailable"})
        raise SecretsUnavailable(f"secrets are unavailable: {exc}") from None


def _unwrapped(source: keys.KeySource, key_id: str, record: DataKeyRecord | None) -> bytes:
    """The plaintext of data key `key_id`; crypto.DecryptionFailed when it cannot be had for good."""
    cached = _data_keys.get(key_id)
    if cached is not None:
        return cached
    if record is None:
        raise crypto.DecryptionFailed(f"data key {key_id} is not stored")
    if record.wrapped_by != source.source_id:
        raise crypto.DecryptionFailed(
            f"data key {key_id} was wrapped by {record.wrapped_by}, not by the configured {source.source_id}"
        )
    data_key = _using_source(lambda: source.unwrap(key_id, record.wrapped_key))
    _data_keys[key_id] = data_key
    return data_key


def _active_data_key(conn: db.Connection) -> tuple[str, bytes]:
    """The data key that seals writes: the newest of the configured source, made on first use."""
    source = _key_source()
    record = store.newest_data_key(conn, source.source_id)
    if record is None:
        return _new_data_key(conn, source)
    try:
        return record.key_id, _unwrapped(source, record.key_id, record)
    except crypto.DecryptionFailed as exc:
        raise SecretsUnavailable(f"secrets are unavailable: the active data key cannot be unwrapped ({exc})") from None


def _new_data_key(conn: db.Connection, source: keys.KeySource) -> tuple[str, bytes]:
    key_id = "dk-" + random_source.token_hex(16)
    plaintext, wrapped = _using_source(lambda: source.new_data_key(key_id))
    store.insert_data_key(conn, key_id, wrapped, source.source_id)
    _data_keys[key_id] = plaintext
    logger.info("secrets data key created", extra={"key_id": key_id, "key_source": source.source_id})
    return key_id, plaintext


def reset_key_cache() -> None:
    """Forget the key source and every unwrapped data key (tests that change keys under us)."""
    global _source
    with _lock:
        _source = None
        _data_keys.clear()


def _seal(
    conn: db.Connection, scope: SecretScope, workspace_id: UUID | None, key: str, plaintext: str
) -> crypto.SealedValue:
    key_id, data_key = _active_data_key(conn)
    return crypto.seal(data_key, key_id, plaintext, crypto.associated_data(scope, workspace_id, key, key_id))


def _open_all(conn: db.Connection, sealed: list[StoredSecret]) -> dict[str, str]:
    """`_unseal_all` of values read without their data keys: looks the keys up first."""
    if not sealed:
        return {}
    return _unseal_all(sealed, store.data_keys(conn, sorted({secret.key_id for secret in sealed})))


def _unseal_all(sealed: list[StoredSecret], records: dict[str, DataKeyRecord]) -> dict[str, str]:
    """Every value in `sealed` (later entries of the same key win), opened with the data keys in
    `records` (or cached), or SecretsUndecryptable naming each one that does not decrypt — never a
    partial map. Nothing to open needs no key source."""
    if not sealed:
        return {}
    source = _key_source()
    values: dict[str, str] = {}
    failed: list[str] = []
    for secret in sealed:
        try:
            data_key = _unwrapped(source, secret.key_id, records.get(secret.key_id))
            aad = crypto.associated_data(secret.scope, secret.workspace_id, secret.key, secret.key_id)
            values[secret.key] = crypto.unseal(
                data_key, crypto.SealedValue(secret.ciphertext, secret.nonce, secret.key_id), aad
            )
        except crypto.DecryptionFailed as exc:
            failed.append(secret.label)
            logger.error(
                "secret does not decrypt",
                extra={"secret": secret.label, "workspace_id": str(secret.workspace_id), "reason": str(exc)},
            )
    if failed:
        raise SecretsUndecryptable(failed)
    return values


def _effective(sealed: list[StoredSecret]) -> list[StoredSecret]:
    """What a workspace receives: its own values, and the globals it does not override (a global
    hidden by an override is not decrypted, so it cannot fail the workspace)."""
    own = {secret.key for secret in sealed if secret.scope == "workspace"}
    return [secret for secret in sealed if secret.scope == "workspace" or secret.key not in own]


# --- workspace secrets --------------------------------------------------------------------------


def _check_workspace(status: str | None, workspace_id: UUID) -> None:
    """404 for no such workspace, 410 for a removed one."""
    if status is None:
        raise WorkspaceNotFound()
    if status == "removed":
        raise Gone("workspace removed", id=str(workspace_id))


def _require_workspace(conn: db.Connection, workspace_id: UUID) -> None:
    """A write's check: the row stays share-locked (not purged) until the write commits."""
    _check_workspace(store.workspace_status(conn, workspace_id), workspace_id)


def _restart(workspace_ids: list[UUID]) -> None:
    lifecycle.request_lifecycle([LifecycleRequest("restart", wid, RESTART_REASON) for wid in workspace_ids])


def list_workspace_secrets(workspace_id: UUID) -> list[SecretEntry]:
    status, names = db.single_statement(lambda conn: store.workspace_names(conn, workspace_id))
    _check_workspace(status, workspace_id)
    return names


def set_workspace_secret(workspace_id: UUID, request: SetSecretRequest) -> SecretSaved:
    return _save_workspace_secret(workspace_id, check_writable_key(request.key), request.value, "value")


def _save_workspace_secret(workspace_id: UUID, key: str, value: SecretStr, field: str) -> SecretSaved:
    plaintext = check_value(value, field)
    with db.transaction() as conn:
        _require_workspace(conn, workspace_id)
        store.upsert_workspace_secret(conn, workspace_id, key, _seal(conn, "workspace", workspace_id, key, plaintext))
        events.record_event(conn, "SECRET_SAVED", workspace_id, {"key": key, "scope": "workspace"})
        restarts = lifecycle.record_restart_requests(conn, [workspace_id])
    _restart(restarts)
    return SecretSaved(key=key, scope="workspace", restarts_requested=len(restarts))


def delete_workspace_secret(workspace_id: UUID, key: str) -> SecretDeleted:
    check_key(key)
    with db.transaction() as conn:
        _require_workspace(conn, workspace_id)
        if not store.delete_workspace_secret(conn, workspace_id, key):
            raise NotFound("secret not found", key=key)
        events.record_event(conn, "SECRET_DELETED", workspace_id, {"key": key, "scope": "workspace"})
        restarts = lifecycle.record_restart_requests(conn, [workspace_id])
    _restart(restarts)
    return SecretDeleted(key=key, scope="workspace", restarts_requested=len(restarts))


def secret_values(workspace_id: UUID) -> dict[str, str]:
    """GET /workspaces/{id}/secrets/values: the flat map the agent receives (globals overlaid by
    the workspace's own). One statement reads the status, the values and their data keys."""
    status, sealed = db.single_statement(lambda conn: store.workspace_sealed(conn, workspace_id))
    _check_workspace(status, workspace_id)
    return _unseal_all(_effective(sealed.secrets), sealed.data_keys)


def agent_secrets(workspace_id: UUID) -> dict[str, str]:
    """The provision pipeline's view: the same map as `secret_values`. A workspace with no secrets
    needs no key source. Raises SecretsUndecryptable / SecretsUnavailable with operator messages."""
    sealed = db.single_statement(lambda conn: store.merged_sealed(conn, workspace_id))
    return _unseal_all(_effective(sealed.secrets), sealed.data_keys)


def get_model(workspace_id: UUID) -> ModelSetting:
    """The workspace's own MODEL_PROVIDER, else the global one, else the default: one statement."""
    status, sealed = db.single_statement(lambda conn: store.workspace_sealed(conn, workspace_id, MODEL_PROVIDER_KEY))
    _check_workspace(status, workspace_id)
    for secret in _effective(sealed.secrets):  # at most one: the workspace's own wins over the global
        model = _unseal_all([secret], sealed.data_keys)[MODEL_PROVIDER_KEY]
        return ModelSetting(
            model=model, source="workspace_secrets" if secret.scope == "workspace" else "global_secrets"
        )
    return ModelSetting(model="", source="default")


def set_model(workspace_id: UUID, request: SetModelRequest) -> SecretSaved:
    return _save_workspace_secret(workspace_id, MODEL_PROVIDER_KEY, request.model, "model")


# --- global secrets -----------------------------------------------------------------------------


def list_global_secrets() -> list[SecretEntry]:
    return db.single_statement(store.list_global_names)


def set_global_secret(request: SetSecretRequest) -> SecretSaved:
    key = check_writable_key(request.key)
    plaintext = check_value(request.value)
    with db.transaction() as conn:
        store.upsert_global_secret(conn, key, _seal(conn, "global", None, key, plaintext))
        events.record_event(conn, "SECRET_SAVED", None, {"key": key, "scope": "global"})
        restarts = lifecycle.record_restart_requests(conn, store.workspaces_inheriting(conn, key))
    _restart(restarts)
    return SecretSaved(key=key, scope="global", restarts_requested=len(restarts))


def delete_global_secret(key: str) -> SecretDeleted:
    check_key(key)
    with db.transaction() as conn:
        if not store.delete_global_secret(conn, key):
            raise NotFound("secret not found", key=key)
        events.record_event(conn, "SECRET_DELETED", None, {"key": key, "scope": "global"})
        restarts = lifecycle.record_restart_requests(conn, store.workspaces_inheriting(conn, key))
    _restart(restarts)
    return SecretDeleted(key=key, scope="global", restarts_requested=len(restarts))


# --- keys: the deploy-time check and rotation ----------------------------------------------------


def check_key_source() -> dict[str, str]:
    """Run by the migration on every deploy: a key source is configured, a data key exists (made on
    the first deploy), and the source unwraps it again — so a stack whose functions could not read
    their secrets fails its deploy instead of serving 503s. Raises SecretsUnavailable."""
    source = _key_source()
    with db.transaction() as conn:
        key_id, data_key = _active_data_key(conn)
        record = store.data_keys(conn, [key_id])[key_id]
    if _using_source(lambda: source.unwrap(key_id, record.wrapped_key)) != data_key:
        raise SecretsUnavailable(f"secrets are unavailable: data key {key_id} does not round-trip through {source!r}")
    return {"key_source": source.source_id, "active_data_key": key_id}


def rotate_data_key() -> str:
    """A new data key for the configured source; it seals every write from now on (other execution
    environments pick it up at their next write: the active key is looked up per write)."""
    with db.transaction() as conn:
        key_id, _ = _new_data_key(conn, _key_source())
    return key_id


def reencrypt_secrets(batch_size: int = 100) -> dict[str, int]:
    """Re-seal every value under the active data key (after a rotation, before an old key or key
    source is retired): read, decrypt, seal again, write — a batch per transaction, rows locked.
    Values that do not decrypt are left as they are and counted."""
    resealed = stuck = 0
    while True:
        with db.transaction() as conn:
            active_id, _ = _active_data_key(conn)
            # rows that did not decrypt stay under their old key: ask for that many more
            batch = store.sealed_not_under(conn, active_id, batch_size + stuck)
            progress = 0
            for secret in batch:
                try:
                    plaintext = _open_all(conn, [secret])[secret.key]
                except SecretsUndecryptable:
                    continue
                resealed_value = _seal(conn, secret.scope, secret.workspace_id, secret.key, plaintext)
                store.replace_sealed(conn, secret, resealed_value)
                progress += 1
        resealed += progress
        stuck = len(batch) - progress
        if progress == 0:
            return {"resealed": resealed, "undecryptable": stuck}


def run_key_operation(operation: str) -> dict[str, Any]:
    """The operator's key operations, for the migrate function (`{"action": "secrets_<operation>"}`)
    and `python -m molecule_local secrets <operation>`: check, rotate, reencrypt."""
    if operation == "check":
        return check_key_source()
    if operation == "rotate":
        return {"active_data_key": rotate_data_key()}
    if operation == "reencrypt":
        return reencrypt_secrets()
    raise ValueError(f"unknown secrets key operation {operation!r}; use check, rotate or reencrypt")
