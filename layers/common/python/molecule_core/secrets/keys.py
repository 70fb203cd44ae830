"""Key sources: what wraps the data keys that encrypt secret values (envelope encryption, SPEC §5.12).
One interface, two sources, chosen by settings:

- `KmsKeySource` (AWS, SECRETS_KMS_KEY_ID): KMS GenerateDataKey makes a data key and returns it
  both in the clear and encrypted under the KMS key; only the encrypted copy is stored (in
  `secret_data_keys`), and KMS Decrypt turns it back into the data key once per execution
  environment (the service caches it). The encryption context names the data key, so a wrapped key
  cannot be swapped for another row's, and IAM can require it.
- `LocalKeyFile` (a laptop, SECRETS_KEY_FILE): a 32-byte random key in a file of mode 0600, made on
  first start (the local stack puts it under `.molecule/`); data keys are wrapped with AES-256-GCM
  under it. Production never makes one: a missing file there means the old key is lost, and a new
  one would silently orphan every stored value.

Neither configured: `KeySourceMissing`, whose message tells the operator what to set. Failures of a
configured source (KMS unreachable, access denied, an unreadable key file) are `KeySourceFailed`;
a wrapped key the source refuses as not its own is `crypto.DecryptionFailed`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Protocol

from molecule_core.platform import aws
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import Settings
from molecule_core.secrets.crypto import KEY_BYTES, DecryptionFailed, unwrap_key, wrap_key

MISSING_MESSAGE = (
    "secrets are unavailable: no encryption key source is configured. In AWS set SECRETS_KMS_KEY_ID "
    "(the template's SecretsKmsKeyArn parameter, or the key it creates); on a laptop set "
    "SECRETS_KEY_FILE (the local stack sets .molecule/secrets.key)"
)
# KMS answers that mean "this ciphertext is not one of mine", not "try again later".
_KMS_NOT_MINE = {"InvalidCiphertextException", "IncorrectKeyException"}


class KeySourceMissing(Exception):
    """No key source is configured; the message is written for the operator."""


class KeySourceFailed(Exception):
    """The configured key source could not be used (its message names the source and the reason)."""


class KeySource(Protocol):
    """Makes and unwraps data keys. `source_id` is stored with every data key it wrapped."""

    source_id: str

    def new_data_key(self, key_id: str) -> tuple[bytes, bytes]:
        """A fresh 32-byte data key: (plaintext, wrapped)."""

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """The plaintext of a data key this source wrapped."""


def encryption_context(key_id: str) -> dict[str, str]:
    return {"purpose": "molecule-secrets", "data_key_id": key_id}


class KmsKeySource:
    def __init__(self, kms_key_id: str, client: Any = None) -> None:
        self.kms_key_id = kms_key_id
        self.source_id = f"kms:{kms_key_id}"
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws.client("kms")

    def new_data_key(self, key_id: str) -> tuple[bytes, bytes]:
        answer = self._call(
            "GenerateDataKey",
            lambda: self.client.generate_data_key(
                KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext=encryption_context(key_id)
            ),
        )
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        answer = self._call(
            "Decrypt",
            lambda: self.client.decrypt(
                CiphertextBlob=wrapped, KeyId=self.kms_key_id, EncryptionContext=encryption_context(key_id)
            ),
            key_id=key_id,
        )
        return bytes(answer["Plaintext"])

    def _call(self, operation: str, call: Any, key_id: str | None = None) -> Any:
        try:
            return call()
        except Exception as exc:  # botocore's ClientError, connection and credential errors alike
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            if key_id is not None and code in _KMS_NOT_MINE:
                raise DecryptionFailed(f"KMS refuses data key {key_id} ({code})") from exc
            raise KeySourceFailed(f"KMS {operation} with key {self.kms_key_id} failed: {code}") from exc

    def __repr__(self) -> str:
        return f"KmsKeySource({self.kms_key_id!r})"


class LocalKeyFile:
    def __init__(self, key: bytes, path: Path | None = None) -> None:
        if len(key) != KEY_BYTES:
            raise KeySourceFailed(f"key file {path} must hold exactly {KEY_BYTES} bytes, not {len(key)}")
        self._key = key
        self.path = path
        # An id that tells key files apart without revealing anything about the key.
        self.source_id = "local:" + hashlib.sha256(b"molecule-secrets key file\0" + key).hexdigest()[:16]

    @classmethod
    def load(cls, path: Path, *, create: bool) -> LocalKeyFile:
        """The key in `path`; made (32 random bytes, mode 0600, its folder 0700) when missing and
        `create` is set. Two processes starting at once end up with the same key: the file appears
        under its name only complete, and only once (a hard link fails when the name exists)."""
        if create and not path.exists():
            _create_key_file(path)
        try:
            mode = path.stat().st_mode
            key = path.read_bytes()
        except FileNotFoundError:
            raise KeySourceFailed(
                f"key file {path} does not exist; it is never made in production (restore it, or set "
                "SECRETS_KMS_KEY_ID)"
            ) from None
        except OSError as exc:
            raise KeySourceFailed(f"key file {path} cannot be read: {exc.strerror}") from None
        if stat.S_IMODE(mode) & 0o077:
            logger.warning("secrets key file is readable by other users; chmod 600 it", extra={"path": str(path)})
        return cls(key, path)

    def new_data_key(self, key_id: str) -> tuple[bytes, bytes]:
        data_key = os.urandom(KEY_BYTES)
        return data_key, wrap_key(self._key, key_id, data_key)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return unwrap_key(self._key, key_id, wrapped)

    def __repr__(self) -> str:
        return f"LocalKeyFile({str(self.path)!r})"


def _create_key_file(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=".secrets-key-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as partial_file:
                partial_file.write(os.urandom(KEY_BYTES))
                partial_file.flush()
                os.fsync(partial_file.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
                os.link(partial, path)
        finally:
            os.unlink(partial)
    except OSError as exc:
        raise KeySourceFailed(f"key file {path} cannot be created: {exc.strerror}") from None
    logger.info("secrets key file created", extra={"path": str(path)})


def key_source_from_settings(settings: Settings) -> KeySource:
    """KMS when SECRETS_KMS_KEY_ID is set, else the local key file; neither is KeySourceMissing."""
    if settings.secrets_kms_key_id:
        return KmsKeySource(settings.secrets_kms_key_id)
    if settings.secrets_key_file:
        return LocalKeyFile.load(Path(settings.secrets_key_file).expanduser(), create=not settings.is_production)
    raise KeySourceMissing(MISSING_MESSAGE)
