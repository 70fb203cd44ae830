"""Chat files on the wire: where a forwarded request goes and what the agent answered; the files the
platform stages itself (SPEC §5.13) — their rows, the `{"files":[…]}` entries, the presigned-upload
exchange and the `platform:/files/<id>/<name>` URI; and the rules for file names and types that the
platform and agents share (the reference agent may import only models)."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from datetime import datetime
from typing import Literal, NamedTuple
from urllib.parse import quote
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from molecule_core.platform.models import WireModel


class ForwardTarget(NamedTuple):
    url: str  # the agent's base URL, without a trailing slash
    secret: str


class RelayedAnswer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")


# --- staged files -----------------------------------------------------------------------------------

STAGED_URI_PREFIX = "platform:/files/"


class FileEntry(WireModel):
    """One uploaded file as both the agent-side ingest and the platform's stage answer it."""

    model_config = ConfigDict(extra="ignore")

    uri: str
    name: str
    mimeType: str
    size: int


class UploadedFiles(WireModel):
    files: list[FileEntry]


class UploadUrlRequest(WireModel):
    """POST /workspaces/{id}/files/upload-url. The type and the SHA-256 (hex, optional) are signed
    into the URL, so they are checked here rather than replaced."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)  # the limit is a setting, checked by the service to name it
    mimeType: str | None = Field(None, max_length=255)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    @field_validator("mimeType")
    @classmethod
    def _mime_type(cls, value: str | None) -> str | None:
        if value is not None and not is_mime_type(value):
            raise ValueError("must be a media type such as application/pdf")
        return value

    @field_validator("sha256")
    @classmethod
    def _lower_hex(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


class UploadUrl(WireModel):
    """The answer to upload-url: PUT the bytes to `upload_url` with exactly `upload_headers` (they
    are signed into the URL, Content-Length included, so a different size or type is refused)."""

    file_id: UUID
    upload_url: str
    expires_in: int
    uri: str
    name: str  # as sanitised, the name in `uri`
    mimeType: str
    size: int
    method: Literal["PUT"] = "PUT"
    upload_headers: dict[str, str]

    def entry(self) -> FileEntry:
        return FileEntry(uri=self.uri, name=self.name, mimeType=self.mimeType, size=self.size)


class StagedFile(WireModel):
    """A row of `staged_files`."""

    id: UUID
    workspace_id: UUID
    name: str
    size: int
    mime_type: str
    sha256: str | None
    object_key: str
    stored_at: datetime | None
    created_at: datetime
    expires_at: datetime

    @property
    def uri(self) -> str:
        return staged_file_uri(self.id, self.name)

    def entry(self) -> FileEntry:
        return FileEntry(uri=self.uri, name=self.name, mimeType=self.mime_type, size=self.size)


def staged_file_uri(file_id: UUID, name: str) -> str:
    """`platform:/files/<id>/<name>`; the name is a sanitised basename (no slash), kept readable
    as the agent-side ingest keeps its paths."""
    return f"{STAGED_URI_PREFIX}{file_id}/{name}"


def is_staged_file_uri(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith("platform:")


def staged_file_id(uri: str) -> UUID | None:
    """The file id in `platform:/files/<id>/<name>`, or None when `uri` does not have that shape.
    (Whoever resolves it checks the whole URI against the file's record.)"""
    if not uri.startswith(STAGED_URI_PREFIX):
        return None
    file_id, slash, name = uri[len(STAGED_URI_PREFIX) :].partition("/")
    if not slash or not name or "/" in name:
        return None
    try:
        return UUID(file_id)
    except ValueError:
        return None


# --- file names and types (shared with agents) ---------------------------------------------------

UPLOAD_FALLBACK_NAME = "upload"
MAX_NAME_BYTES = 200  # leaves room under NAME_MAX (255) for a collision suffix
OCTET_STREAM = "application/octet-stream"
_MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


def _truncate_utf8(text: str, limit: int) -> str:
    while len(text.encode("utf-8")) > limit:
        text = text[:-1]
    return text


def sanitize_filename(raw: str | None) -> str:
    """A safe basename for a client-supplied upload name: the last path segment (either slash),
    NFC-normalised, without NUL/control/format characters, without leading dots or surrounding
    whitespace (no hidden files, no `.`/`..`), at most MAX_NAME_BYTES of UTF-8 (the extension is
    kept when short); empty → "upload"."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    name = name.strip().lstrip(".").strip()
    if not name:
        return UPLOAD_FALLBACK_NAME
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension.encode("utf-8")) <= 16:
            name = _truncate_utf8(stem, MAX_NAME_BYTES - len(extension.encode("utf-8")) - 1).rstrip() + "." + extension
        else:
            name = _truncate_utf8(name, MAX_NAME_BYTES).rstrip()
    return name or UPLOAD_FALLBACK_NAME


def guess_mime_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or OCTET_STREAM


def is_mime_type(value: str | None) -> bool:
    return bool(value) and _MIME_TYPE.match(str(value)) is not None


def upload_mime_type(name: str, declared: str | None) -> str:
    """The type recorded for an upload: what the name says, else the client's declared type when it
    is a well-formed `type/subtype`, else application/octet-stream."""
    guessed = mimetypes.guess_type(name, strict=False)[0]
    if guessed:
        return guessed
    declared = (declared or "").split(";", 1)[0].strip()
    return declared if is_mime_type(declared) else OCTET_STREAM


def content_disposition(name: str) -> str:
    """`attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266)."""
    fallback = "".join(
        char if " " <= char <= "~" else "_"
        for char in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(char)
    )
    fallback = fallback.replace("\\", "\\\\").replace('"', '\\"')
    encoded = quote(name.encode("utf-8", "surrogatepass"), safe="!#$&+^`|")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
