"""multipart/form-data read (RFC 7578): the parts of a chat upload the platform stages itself.
Pure: the body and its Content-Type in, parts out, InvalidInput for a body that is not a complete
multipart message. File names are returned as sent (raw UTF-8 as browsers send them, or RFC 2231
`filename*`); sanitising them is the caller's job."""

from __future__ import annotations

from email.message import Message
from typing import NamedTuple

from molecule_core.platform.errors import InvalidInput

MAX_PARTS = 100
MAX_PART_HEADER_BYTES = 8 * 1024
_HEADER_END = b"\r\n\r\n"


class FormPart(NamedTuple):
    field: str
    filename: str | None  # None: a plain form field, not a file
    content_type: str | None
    content: bytes


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"invalid multipart body: {reason}", field="files")


def multipart_boundary(content_type: str | None) -> str | None:
    """The boundary of a multipart/form-data Content-Type, or None when it is not one."""
    if not content_type:
        return None
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        return None
    boundary = header.get_param("boundary")
    return boundary if isinstance(boundary, str) and 0 < len(boundary) <= 70 else None


def _part_headers(raw: bytes) -> Message:
    headers = Message()
    # Browsers and httpx send UTF-8 file names raw (HTML5); anything else is read byte for byte.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    for line in text.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _invalid("malformed part header")
        headers[name.strip()] = value.strip()
    return headers


def _form_part(raw: bytes) -> FormPart:
    end = raw.find(_HEADER_END)
    if end < 0 or end > MAX_PART_HEADER_BYTES:
        raise _invalid("part without headers")
    headers = _part_headers(raw[:end])
    if headers.get_content_disposition() != "form-data":
        raise _invalid("part is not form-data")
    field = headers.get_param("name", header="content-disposition")
    if not isinstance(field, str) or not field:
        raise _invalid("part without a name")
    filename = headers.get_filename()
    return FormPart(
        field=field,
        filename=filename if isinstance(filename, str) else None,
        content_type=headers.get("content-type"),
        content=raw[end + len(_HEADER_END) :],
    )


def parse_form_parts(body: bytes, content_type: str | None) -> list[FormPart]:
    """Every part of a multipart/form-data body, in order."""
    boundary = multipart_boundary(content_type)
    if boundary is None:
        raise InvalidInput("upload must be multipart/form-data with a boundary and a 'files' field", field="files")
    # Every delimiter is CRLF "--" boundary; the first may open the body without the CRLF.
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    parts: list[FormPart] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return parts  # the close delimiter; what follows is the epilogue
        if len(parts) == MAX_PARTS:
            raise _invalid(f"more than {MAX_PARTS} parts")
        # transport padding (spaces, tabs) may follow a delimiter before its CRLF
        header_start = piece.find(b"\r\n")
        if header_start < 0 or piece[:header_start].strip(b" \t"):
            raise _invalid("malformed delimiter")
        parts.append(_form_part(piece[header_start + 2 :]))
    raise _invalid("no closing boundary (truncated body?)")
