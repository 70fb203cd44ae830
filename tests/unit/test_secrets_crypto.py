"""The pure parts of secrets (SPEC §5.12): AES-256-GCM sealing with row-binding associated data, the
local key file, the choice of key source, and what a secret's name and value may be."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest
from molecule_core.platform.errors import InvalidInput, PayloadTooLarge
from molecule_core.platform.settings import Settings
from molecule_core.secrets import crypto, keys, limits
from molecule_core.secrets.models import SetSecretRequest
from pydantic import SecretStr
from reference_agent.cli import received_secret_names

KEY = bytes(range(32))
WORKSPACE = uuid.UUID("6f1c7a52-0000-4000-8000-000000000001")


def _aad(name: str = "OPENAI_API_KEY", workspace: uuid.UUID | None = WORKSPACE, key_id: str = "dk-1") -> bytes:
    return crypto.associated_data("workspace" if workspace else "global", workspace, name, key_id)


def test_a_sealed_value_unseals_to_the_same_text() -> None:
    sealed = crypto.seal(KEY, "dk-1", "sk-live-ünïcode", _aad())

    assert crypto.unseal(KEY, sealed, _aad()) == "sk-live-ünïcode"
    assert sealed.key_id == "dk-1"
    assert b"sk-live" not in sealed.ciphertext


def test_every_seal_uses_a_fresh_96_bit_nonce() -> None:
    first, second = crypto.seal(KEY, "dk-1", "same", _aad()), crypto.seal(KEY, "dk-1", "same", _aad())

    assert len(first.nonce) == 12
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


@pytest.mark.parametrize("where", ["ciphertext-first", "ciphertext-last (tag)", "nonce"])
def test_a_flipped_byte_fails_decryption(where: str) -> None:
    sealed = crypto.seal(KEY, "dk-1", "value", _aad())
    ciphertext, nonce = bytearray(sealed.ciphertext), bytearray(sealed.nonce)
    {"ciphertext-first": ciphertext, "ciphertext-last (tag)": ciphertext, "nonce": nonce}[where][
        -1 if "last" in where else 0
    ] ^= 0x01

    with pytest.raises(crypto.DecryptionFailed):
        crypto.unseal(KEY, crypto.SealedValue(bytes(ciphertext), bytes(nonce), "dk-1"), _aad())


@pytest.mark.parametrize(
    "elsewhere",
    [
        _aad(workspace=uuid.UUID("6f1c7a52-0000-4000-8000-000000000002")),
        _aad(name="GITHUB_TOKEN"),
        _aad(workspace=None),
        _aad(key_id="dk-2"),
    ],
    ids=["another workspace", "another name", "the global scope", "another key id"],
)
def test_a_ciphertext_moved_to_another_row_fails_decryption(elsewhere: bytes) -> None:
    sealed = crypto.seal(KEY, "dk-1", "value", _aad())

    with pytest.raises(crypto.DecryptionFailed):
        crypto.unseal(KEY, sealed, elsewhere)


def test_another_key_fails_decryption() -> None:
    sealed = crypto.seal(KEY, "dk-1", "value", _aad())

    with pytest.raises(crypto.DecryptionFailed):
        crypto.unseal(bytes(32), sealed, _aad())


def test_reprs_show_no_value_and_no_ciphertext() -> None:
    request = SetSecretRequest(key="API_KEY", value=SecretStr("planted-repr-value"))
    sealed = crypto.seal(KEY, "dk-1", "planted-repr-value", _aad())

    assert "planted-repr-value" not in repr(request) and "planted-repr-value" not in str(request)
    assert sealed.ciphertext.hex() not in repr(sealed)
    assert "planted" not in repr(keys.LocalKeyFile(KEY))


# --- key sources --------------------------------------------------------------------------------


def test_the_local_key_file_is_made_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.key"

    first = keys.LocalKeyFile.load(path, create=True)
    second = keys.LocalKeyFile.load(path, create=True)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32
    assert first.source_id == second.source_id
    plaintext, wrapped = first.new_data_key("dk-1")
    assert second.unwrap("dk-1", wrapped) == plaintext
    assert [p.name for p in path.parent.iterdir()] == ["secrets.key"]  # no temporary file left behind


def test_a_data_key_does_not_unwrap_under_another_id_or_another_key_file(tmp_path: Path) -> None:
    source = keys.LocalKeyFile.load(tmp_path / "a.key", create=True)
    other = keys.LocalKeyFile.load(tmp_path / "b.key", create=True)
    _, wrapped = source.new_data_key("dk-1")

    with pytest.raises(crypto.DecryptionFailed):
        source.unwrap("dk-2", wrapped)
    with pytest.raises(crypto.DecryptionFailed):
        other.unwrap("dk-1", wrapped)
    assert source.source_id != other.source_id


def test_production_never_makes_a_key_file(tmp_path: Path) -> None:
    settings = Settings.model_validate({"MOLECULE_ENV": "production", "SECRETS_KEY_FILE": str(tmp_path / "k")})

    with pytest.raises(keys.KeySourceFailed, match="never made in production"):
        keys.key_source_from_settings(settings)
    assert not (tmp_path / "k").exists()


def test_a_key_file_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(os.urandom(16))

    with pytest.raises(keys.KeySourceFailed, match="exactly 32 bytes"):
        keys.LocalKeyFile.load(path, create=True)


def test_without_kms_key_or_key_file_there_is_no_key_source_and_the_message_says_what_to_set() -> None:
    with pytest.raises(keys.KeySourceMissing) as missing:
        keys.key_source_from_settings(Settings.model_validate({"MOLECULE_ENV": "production"}))

    assert "SECRETS_KMS_KEY_ID" in str(missing.value) and "SECRETS_KEY_FILE" in str(missing.value)


def test_a_kms_key_wins_over_a_key_file(tmp_path: Path) -> None:
    settings = Settings.model_validate({"SECRETS_KMS_KEY_ID": "arn:aws:kms:eu-west-1:1:key/k", "SECRETS_KEY_FILE": "x"})

    source = keys.key_source_from_settings(settings)

    assert isinstance(source, keys.KmsKeySource)
    assert source.source_id == "kms:arn:aws:kms:eu-west-1:1:key/k"


# --- names and values ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "_", "OPENAI_API_KEY", "a1_b2", "K" * 128])
def test_environment_variable_names_are_accepted(name: str) -> None:
    assert limits.check_writable_key(name) == name


@pytest.mark.parametrize(
    "name", ["", "1A", "A-B", "A B", "K" * 129, "A\n", "É", "WORKSPACE_ID", "MOLECULE_SECRET_NAMES"]
)
def test_other_names_are_refused_naming_the_key_field(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        limits.check_writable_key(name)

    assert refused.value.extra["field"] == "key"


def test_a_value_over_64_kib_is_413_and_64_kib_passes() -> None:
    assert limits.check_value(SecretStr("x" * 65536)) == "x" * 65536
    with pytest.raises(PayloadTooLarge) as refused:
        limits.check_value(SecretStr("x" * 65537))

    assert refused.value.status_code == 413
    assert "xxxx" not in refused.value.message


@pytest.mark.parametrize("value", ["", "a\0b", "\ud800"], ids=["empty", "nul", "lone surrogate"])
def test_unusable_values_are_400(value: str) -> None:
    with pytest.raises(InvalidInput):
        limits.check_value(SecretStr(value))


def test_the_reference_agent_reports_only_listed_names_it_really_received() -> None:
    environ = {"MOLECULE_SECRET_NAMES": "B_KEY, A_KEY,MISSING,", "A_KEY": "a-value", "B_KEY": "b-value"}

    assert received_secret_names(environ) == ("A_KEY", "B_KEY")
    assert received_secret_names({}) == ()
