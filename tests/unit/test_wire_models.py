"""platform/models.py: wire models are built on first use, and all at once before a SnapStart
snapshot — where one that cannot be built is logged and the others still are."""

from __future__ import annotations

import logging

import pytest
from molecule_core.platform.models import WireModel, build_loaded_models


def test_a_wire_model_is_built_on_first_use_not_when_defined() -> None:
    class Note(WireModel):
        text: str

    assert not Note.__pydantic_complete__
    assert Note.model_validate({"text": "hi"}).text == "hi"
    assert Note.__pydantic_complete__


def test_before_the_snapshot_every_loaded_model_is_built_and_a_broken_one_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Reply(WireModel):
        text: str

    class Broken(WireModel):
        part: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821

    with caplog.at_level(logging.WARNING):
        build_loaded_models()

    assert Reply.__pydantic_complete__
    assert not Broken.__pydantic_complete__
    assert "wire model not built before the snapshot" in caplog.text
