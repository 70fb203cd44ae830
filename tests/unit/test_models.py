"""Wire models for create and patch (SPEC §5.1, §4): what a client may send and what it means."""

from __future__ import annotations

from typing import Any

import pytest
from molecule_core.workspaces.models import CreateWorkspaceRequest, PatchWorkspaceRequest
from pydantic import ValidationError


def _errors(model: type[CreateWorkspaceRequest | PatchWorkspaceRequest], body: dict[str, Any]) -> str:
    """The validation error text for `body`; fails the test if the body is accepted."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return str(caught.value)


def _error_locations(model: type[CreateWorkspaceRequest | PatchWorkspaceRequest], body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}


# --- CreateWorkspaceRequest: name ------------------------------------------------------------


def test_create_requires_name() -> None:
    assert _error_locations(CreateWorkspaceRequest, {"role": "writer"}) == {"name"}


def test_create_accepts_name_of_255_chars() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "n" * 255}).name == "n" * 255


def test_create_rejects_name_over_255_chars() -> None:
    assert _error_locations(CreateWorkspaceRequest, {"name": "n" * 256}) == {"name"}


@pytest.mark.parametrize("name", ["", " ", "   \u3000"], ids=["empty", "space", "spaces"])
def test_create_rejects_blank_name(name: str) -> None:
    assert _error_locations(CreateWorkspaceRequest, {"name": name}) == {"name"}


@pytest.mark.parametrize(
    "name",
    ["line\nbreak", "nul\x00byte", "del\x7fchar", "tab\there", "cr\rhere", "esc\x1b[31m", "c1\x85next"],
    ids=["newline", "nul", "del", "tab", "carriage-return", "escape", "c1-control"],
)
def test_create_rejects_control_characters_in_name(name: str) -> None:
    assert "control characters" in _errors(CreateWorkspaceRequest, {"name": name})


def test_create_accepts_unicode_name() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "Équipe 🚀 研究"}).name == "Équipe 🚀 研究"


# --- CreateWorkspaceRequest: tier ------------------------------------------------------------


def test_create_tier_defaults_to_3() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws"}).tier == 3


def test_create_tier_0_means_default_3() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws", "tier": 0}).tier == 3


@pytest.mark.parametrize("tier", [1, 2, 3, 4])
def test_create_tier_in_range_is_kept(tier: int) -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws", "tier": tier}).tier == tier


@pytest.mark.parametrize("tier", [5, -1, 100])
def test_create_rejects_tier_out_of_range(tier: int) -> None:
    assert _error_locations(CreateWorkspaceRequest, {"name": "ws", "tier": tier}) == {"tier"}


# --- CreateWorkspaceRequest: runtime and external --------------------------------------------


def test_create_default_runtime_is_langgraph_and_not_external() -> None:
    request = CreateWorkspaceRequest.model_validate({"name": "ws"})
    assert request.runtime == "langgraph"
    assert request.external is False


def test_create_runtime_external_implies_external() -> None:
    request = CreateWorkspaceRequest.model_validate({"name": "ws", "runtime": "external"})
    assert request.external is True
    assert request.runtime == "external"


def test_create_runtime_external_overrides_external_false() -> None:
    request = CreateWorkspaceRequest.model_validate({"name": "ws", "runtime": "external", "external": False})
    assert request.external is True


def test_create_external_without_runtime_gets_runtime_external() -> None:
    request = CreateWorkspaceRequest.model_validate({"name": "ws", "external": True})
    assert request.runtime == "external"
    assert request.external is True


def test_create_keeps_explicit_runtime() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws", "runtime": "crewai"}).runtime == "crewai"


@pytest.mark.parametrize("runtime", ["LangGraph", "has space", "-leading", "x" * 65, ""])
def test_create_rejects_malformed_runtime(runtime: str) -> None:
    assert "runtime" in _error_locations(CreateWorkspaceRequest, {"name": "ws", "runtime": runtime})


# --- CreateWorkspaceRequest: other fields ----------------------------------------------------


def test_create_max_concurrent_tasks_defaults_to_1() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws"}).max_concurrent_tasks == 1


def test_create_accepts_max_concurrent_tasks_of_1() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws", "max_concurrent_tasks": 1}).max_concurrent_tasks == 1


@pytest.mark.parametrize("value", [0, -1])
def test_create_rejects_max_concurrent_tasks_below_1(value: int) -> None:
    body = {"name": "ws", "max_concurrent_tasks": value}
    assert _error_locations(CreateWorkspaceRequest, body) == {"max_concurrent_tasks"}


@pytest.mark.parametrize("mode", ["push", "poll"])
def test_create_accepts_delivery_mode(mode: str) -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws", "delivery_mode": mode}).delivery_mode == mode


def test_create_delivery_mode_defaults_to_unset() -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws"}).delivery_mode is None


@pytest.mark.parametrize("mode", ["PUSH", "webhook", "", "pull"])
def test_create_rejects_other_delivery_mode(mode: str) -> None:
    assert _error_locations(CreateWorkspaceRequest, {"name": "ws", "delivery_mode": mode}) == {"delivery_mode"}


def test_create_ignores_unknown_fields() -> None:
    request = CreateWorkspaceRequest.model_validate({"name": "ws", "bogus": 1, "template": "x"})
    dumped = request.model_dump()
    assert "bogus" not in dumped
    assert "template" not in dumped
    assert request.name == "ws"


@pytest.mark.parametrize("url", ["", "   "], ids=["empty", "blank"])
def test_create_blank_url_means_no_url(url: str) -> None:
    assert CreateWorkspaceRequest.model_validate({"name": "ws", "url": url}).url is None


def test_create_url_is_trimmed() -> None:
    request = CreateWorkspaceRequest.model_validate({"name": "ws", "url": "  https://agent.example/  "})
    assert request.url == "https://agent.example/"


# --- PatchWorkspaceRequest -------------------------------------------------------------------


def test_patch_rejects_empty_body() -> None:
    assert "no updatable field given" in _errors(PatchWorkspaceRequest, {})


def test_patch_rejects_unknown_field() -> None:
    assert _error_locations(PatchWorkspaceRequest, {"name": "ws", "bogus": 1}) == {"bogus"}


def test_patch_rejects_unknown_field_alone() -> None:
    assert "bogus" in _error_locations(PatchWorkspaceRequest, {"bogus": 1})


@pytest.mark.parametrize("field", ["name", "tier", "x", "y", "collapsed", "max_concurrent_tasks"])
def test_patch_rejects_null_for_not_nullable_field(field: str) -> None:
    assert f"{field} must not be null" in _errors(PatchWorkspaceRequest, {field: None})


@pytest.mark.parametrize("field", ["budget_limit", "hibernation_idle_minutes", "role", "delivery_mode"])
def test_patch_accepts_null_for_nullable_field_and_reports_it(field: str) -> None:
    request = PatchWorkspaceRequest.model_validate({field: None})
    assert request.changes() == {field: None}


def test_patch_budget_limit_null_appears_in_changes() -> None:
    changes = PatchWorkspaceRequest.model_validate({"budget_limit": None}).changes()
    assert "budget_limit" in changes
    assert changes["budget_limit"] is None


def test_patch_changes_contain_only_sent_fields() -> None:
    request = PatchWorkspaceRequest.model_validate({"name": "renamed", "x": 1.5, "budget_limit": 500})
    assert request.changes() == {"name": "renamed", "x": 1.5, "budget_limit": 500}


def test_patch_changes_do_not_include_defaults() -> None:
    changes = PatchWorkspaceRequest.model_validate({"collapsed": True}).changes()
    assert changes == {"collapsed": True}


def test_patch_tier_0_means_default_3() -> None:
    assert PatchWorkspaceRequest.model_validate({"tier": 0}).changes() == {"tier": 3}


def test_patch_rejects_tier_5() -> None:
    assert _error_locations(PatchWorkspaceRequest, {"tier": 5}) == {"tier"}


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "a\x00b", "n" * 256], ids=["empty", "blank", "nl", "nul", "long"])
def test_patch_validates_name_like_create(name: str) -> None:
    assert _error_locations(PatchWorkspaceRequest, {"name": name}) == {"name"}


def test_patch_rejects_max_concurrent_tasks_0() -> None:
    assert _error_locations(PatchWorkspaceRequest, {"max_concurrent_tasks": 0}) == {"max_concurrent_tasks"}


def test_patch_rejects_other_delivery_mode() -> None:
    assert _error_locations(PatchWorkspaceRequest, {"delivery_mode": "webhook"}) == {"delivery_mode"}
