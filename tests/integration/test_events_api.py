"""Structural events: fleet feed (Admin), per-workspace feed (Workspace), since_id cursor."""

from __future__ import annotations

import uuid

from tests.conftest import ApiClient, create_workspace


def test_fleet_feed_is_newest_first(api: ApiClient, admin: str) -> None:
    first = create_workspace(api, admin, name="a", external=True)["id"]
    second = create_workspace(api, admin, name="b", external=True)["id"]
    events = api.get("/events", token=admin).json()
    assert [(e["event_type"], e["workspace_id"]) for e in events] == [
        ("WORKSPACE_AWAITING_AGENT", second),
        ("WORKSPACE_PROVISIONING", second),
        ("WORKSPACE_AWAITING_AGENT", first),
        ("WORKSPACE_PROVISIONING", first),
    ]
    assert events[1]["payload"] == {"name": "b", "runtime": "external"}


def test_since_id_returns_strictly_newer_oldest_first(api: ApiClient, admin: str) -> None:
    create_workspace(api, admin, name="a", external=True)
    cursor = api.get("/events?limit=1", token=admin).json()[0]["id"]
    later = create_workspace(api, admin, name="b", external=True)["id"]
    newer = api.get(f"/events?since_id={cursor}", token=admin).json()
    assert [(e["event_type"], e["workspace_id"]) for e in newer] == [
        ("WORKSPACE_PROVISIONING", later),
        ("WORKSPACE_AWAITING_AGENT", later),
    ]
    assert api.get(f"/events?since_id={newer[-1]['id']}", token=admin).json() == []


def test_unknown_malformed_and_foreign_cursors_are_410_alike(api: ApiClient, admin: str) -> None:
    first = create_workspace(api, admin, name="a", external=True)
    second = create_workspace(api, admin, name="b", external=True)
    foreign = api.get(f"/events/{second['id']}", token=admin).json()[0]["id"]
    bodies = []
    for cursor in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", foreign):
        result = api.get(f"/events/{first['id']}?since_id={cursor}", token=admin)
        assert result.status == 410
        bodies.append(result.json())
    assert bodies[0] == bodies[1] == bodies[2]


def test_workspace_feed_is_scoped_and_authorised(api: ApiClient, admin: str) -> None:
    first = create_workspace(api, admin, name="a", external=True)
    second = create_workspace(api, admin, name="b", external=True)
    own = api.get(f"/events/{first['id']}", token=first["connection"]["auth_token"]).json()
    assert {e["workspace_id"] for e in own} == {first["id"]}
    assert api.get(f"/events/{second['id']}", token=first["connection"]["auth_token"]).status == 401
    assert api.get("/events", token=first["connection"]["auth_token"]).status == 401


def test_limit_bounds(api: ApiClient, admin: str) -> None:
    for i in range(3):
        create_workspace(api, admin, name=f"w{i}", external=True)
    assert len(api.get("/events?limit=2", token=admin).json()) == 2
    assert api.get("/events?limit=0", token=admin).status == 400
    assert api.get("/events?limit=501", token=admin).status == 400
    assert api.get("/events?limit=abc", token=admin).status == 400


def test_unknown_workspace_feed_is_404(api: ApiClient, admin: str) -> None:
    assert api.get(f"/events/{uuid.uuid4()}", token=admin).status == 404
