"""The multipart/form-data reader of staged chat uploads (files.multipart): what real clients send
is read byte for byte; what is not a complete multipart message is a 400 naming `files`."""

from __future__ import annotations

import httpx
import pytest
from molecule_core.files.multipart import MAX_PARTS, multipart_boundary, parse_form_parts
from molecule_core.platform.errors import InvalidInput

EVERY_BYTE = bytes(range(256)) * 8 + b"\r\n\r\n--\r\n--x--\r\n"


def httpx_body(
    files: list[tuple[str, tuple[str, bytes, str]]], data: dict[str, str] | None = None
) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://platform.test", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_files_and_fields_from_httpx_are_read_byte_for_byte_in_order() -> None:
    body, content_type = httpx_body(
        [("files", ("Résumé 2026.pdf", EVERY_BYTE, "application/pdf")), ("files", ("empty.txt", b"", "text/plain"))],
        data={"note": "hé"},
    )

    parts = parse_form_parts(body, content_type)

    assert [(p.field, p.filename, p.content_type) for p in parts] == [
        ("note", None, None),
        ("files", "Résumé 2026.pdf", "application/pdf"),
        ("files", "empty.txt", "text/plain"),
    ]
    assert parts[0].content == "hé".encode()
    assert parts[1].content == EVERY_BYTE
    assert parts[2].content == b""


def test_rfc_2231_file_names_preamble_epilogue_and_transport_padding_are_understood() -> None:
    body = (
        b"a preamble to ignore\r\n"
        b"--b  \r\n"
        b"Content-Disposition: form-data; name=\"files\"; filename*=UTF-8''R%C3%A9sum%C3%A9.txt\r\n\r\n"
        b"hi\r\n"
        b"--b--\r\nan epilogue to ignore"
    )

    (part,) = parse_form_parts(body, 'multipart/form-data; boundary="b"')

    assert (part.field, part.filename, part.content) == ("files", "Résumé.txt", b"hi")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nno end', "no closing boundary"),
        (b'--b\r\nContent-Disposition: form-data; name="files"\r\nno blank line\r\n--b--', "part without headers"),
        (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "part is not form-data"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "part without a name"),
        (b"--b\r\nnot a header\r\n\r\nx\r\n--b--", "malformed part header"),
        (b"--bx\r\n--b--", "malformed delimiter"),
        (b"", "no closing boundary"),
    ],
)
def test_a_body_that_is_not_a_complete_multipart_message_is_400(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_form_parts(body, "multipart/form-data; boundary=b")

    assert reason in refused.value.message
    assert refused.value.extra["field"] == "files"


def test_more_parts_than_the_limit_are_refused() -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nx\r\n'

    with pytest.raises(InvalidInput, match=f"more than {MAX_PARTS} parts"):
        parse_form_parts(part * (MAX_PARTS + 1) + b"--b--", "multipart/form-data; boundary=b")
    assert len(parse_form_parts(part * MAX_PARTS + b"--b--", "multipart/form-data; boundary=b")) == MAX_PARTS


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", "abc"),
        ('Multipart/Form-Data; charset=utf-8; boundary="a b:c"', "a b:c"),
        ("multipart/form-data", None),
        ("multipart/mixed; boundary=abc", None),
        ("application/json", None),
        (None, None),
        ("multipart/form-data; boundary=" + "x" * 71, None),  # RFC 2046: at most 70 characters
    ],
)
def test_the_boundary_is_read_only_from_a_multipart_form_data_type(
    content_type: str | None, boundary: str | None
) -> None:
    assert multipart_boundary(content_type) == boundary
