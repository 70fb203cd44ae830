"""AES-256-GCM for secret values (SPEC §5.12): a fresh random 96-bit nonce per value, and associated
data that binds a ciphertext to the row it belongs to.

The associated data names the scope (workspace or global), the workspace id, the secret's name and
the data key id. GCM authenticates it with the ciphertext, so a ciphertext copied into another row
— another workspace's secret, another name, or a row claiming another key id — fails to decrypt
instead of quietly handing workspace A's API key to workspace B's agent. Whoever can write the
database still cannot move values between rows; they can only destroy them, which shows as an
undecryptable secret.

Nothing here logs, and no exception carries a value: InvalidTag says only "this did not decrypt".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from molecule_core.secrets.models import SecretScope

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's native nonce size: never reused, because it is random per value
_AAD_VERSION = b"molecule-secret/v1"


class DecryptionFailed(Exception):
    """A ciphertext did not authenticate (tampered, moved to another row, or the wrong key)."""


@dataclass(frozen=True)
class SealedValue:
    """What is stored for one secret: the ciphertext (with GCM's 16-byte tag at its end), its nonce,
    and the id of the data key that sealed it."""

    ciphertext: bytes
    nonce: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"SealedValue(key_id={self.key_id!r}, ciphertext=<{len(self.ciphertext)} bytes>)"


def associated_data(scope: SecretScope, workspace_id: UUID | None, name: str, key_id: str) -> bytes:
    """The row a ciphertext belongs to, as bytes GCM authenticates. Fields are joined with NUL, which
    none of them can contain (names match ^[A-Za-z_][A-Za-z0-9_]*$, key ids ^dk-[0-9a-f]+$)."""
    owner = str(workspace_id) if workspace_id is not None else "-"
    return b"\0".join([_AAD_VERSION, scope.encode(), owner.encode(), name.encode(), key_id.encode()])


def seal(data_key: bytes, key_id: str, plaintext: str, aad: bytes) -> SealedValue:
    nonce = os.urandom(NONCE_BYTES)
    return SealedValue(AESGCM(data_key).encrypt(nonce, plaintext.encode("utf-8"), aad), nonce, key_id)


def unseal(data_key: bytes, sealed: SealedValue, aad: bytes) -> str:
    try:
        plaintext = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except (InvalidTag, ValueError) as exc:  # ValueError: a nonce of the wrong size
        raise DecryptionFailed(f"value sealed with {sealed.key_id} does not authenticate") from exc
    return plaintext.decode("utf-8")


def wrap_key(wrapping_key: bytes, key_id: str, data_key: bytes) -> bytes:
    """A data key encrypted under the local key file's key: nonce || ciphertext, bound to its id."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(wrapping_key).encrypt(nonce, data_key, _AAD_VERSION + b"\0data-key\0" + key_id.encode())


def unwrap_key(wrapping_key: bytes, key_id: str, wrapped: bytes) -> bytes:
    nonce, ciphertext = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    try:
        return AESGCM(wrapping_key).decrypt(nonce, ciphertext, _AAD_VERSION + b"\0data-key\0" + key_id.encode())
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed(f"data key {key_id} does not unwrap with this key file") from exc
