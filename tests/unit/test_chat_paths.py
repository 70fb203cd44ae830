"""check_chat_path: the platform's own path check for chat downloads (defence in depth: the agent
checks again). Every hostile path of the corpus is refused with its reason; every legitimate one
passes through unchanged."""

from __future__ import annotations

import pytest
from molecule_core.files.service import check_chat_path, is_multipart
from molecule_core.platform.errors import InvalidInput

from tests.platform_path_corpus import HOSTILE, LEGITIMATE


def test_the_corpus_is_big_enough_to_mean_something() -> None:
    assert len(HOSTILE) >= 25
    assert len({path for path, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(("path", "reason"), HOSTILE, ids=[repr(p)[:40] for p, _ in HOSTILE])
def test_hostile_path_is_refused_with_its_reason(path: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_chat_path(path)
    assert reason in refused.value.message
    assert refused.value.status_code == 400
    assert refused.value.body()["field"] == "path"


@pytest.mark.parametrize("path", LEGITIMATE, ids=[p[:40] for p in LEGITIMATE])
def test_legitimate_path_passes_unchanged(path: str) -> None:
    assert check_chat_path(path) == path


def test_missing_path_is_refused() -> None:
    with pytest.raises(InvalidInput, match="required"):
        check_chat_path(None)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("multipart/form-data; boundary=abc", True),
        ("Multipart/Form-Data;boundary=abc", True),
        ("application/json", False),
        ("multipart/mixed; boundary=abc", False),
        (None, False),
        ("", False),
    ],
)
def test_only_multipart_form_data_is_an_upload(content_type: str | None, expected: bool) -> None:
    assert is_multipart(content_type) is expected
