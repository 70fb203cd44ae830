"""Register's token rule holds under concurrency, and register changes only what it owns (SPEC §5.2,
issue 12 items 3, 9, 11): of many concurrent first registers exactly one gets the token, the
inbound secret and its URL stored — every other one is 401 and changes nothing; register never
un-pauses a workspace; a workspace created with a URL already has its inbound secret."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from molecule_core.platform import db
from psycopg.rows import dict_row

from tests.conftest import ApiClient, create_workspace, live_workspace_tokens

CONCURRENT_REGISTERS = 30


def workspace_row(database: str, workspace_id: str) -> dict[str, Any]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM workspaces WHERE id = %s", (workspace_id,)).fetchone()
    assert row is not None
    return row


def test_of_concurrent_first_registers_exactly_one_is_accepted(api: ApiClient, dev: str, database: str) -> None:
    # Given: a workspace with no token yet (created with its URL)
    created = create_workspace(api, dev, name="raced", external=True, url="http://127.0.0.1:9/")
    assert live_workspace_tokens(database, created["id"]) == 0
    start = threading.Barrier(CONCURRENT_REGISTERS)

    def first_register(n: int) -> tuple[int, dict[str, Any], str]:
        url = f"http://127.0.0.1:{10000 + n}/"
        body = {"id": created["id"], "url": url, "agent_card": {"name": f"claimant-{n}"}, "delivery_mode": "push"}
        start.wait(10)
        result = api.post("/registry/register", json_body=body)
        return result.status, result.json(), url

    # When: many unauthenticated first registers race
    with db.pooled(database, max_size=8), ThreadPoolExecutor(max_workers=CONCURRENT_REGISTERS) as pool:
        outcomes = list(pool.map(first_register, range(CONCURRENT_REGISTERS)))

    # Then: one winner, with the token and the secret; the rest 401 with nothing; the winner's URL stored
    accepted = [(body, url) for status, body, url in outcomes if status == 200]
    refused = [body for status, body, _ in outcomes if status != 200]
    assert len(accepted) == 1, [status for status, _, _ in outcomes]
    (winner, winner_url), *_ = accepted
    assert winner["auth_token"] and winner["platform_inbound_secret"]
    assert all(body["error"] == "missing workspace auth token" for body in refused)
    assert not any("platform_inbound_secret" in body or "auth_token" in body for body in refused)
    row = workspace_row(database, created["id"])
    assert row["url"] == winner_url
    assert live_workspace_tokens(database, created["id"]) == 1


def test_a_register_that_comes_after_the_token_exists_changes_nothing(api: ApiClient, dev: str, database: str) -> None:
    created = create_workspace(api, dev, name="claimed", external=True, url="http://127.0.0.1:9/")
    first = api.post(
        "/registry/register", json_body={"id": created["id"], "url": "http://127.0.0.1:10001/", "agent_card": {}}
    )
    assert first.status == 200 and first.json()["auth_token"]

    late = api.post("/registry/register", json_body={"id": created["id"], "url": "http://127.0.0.1:6666/"})

    assert late.status == 401
    assert workspace_row(database, created["id"])["url"] == "http://127.0.0.1:10001/"


def test_register_does_not_unpause_a_workspace(api: ApiClient, dev: str, database: str) -> None:
    created = create_workspace(api, dev, name="paused", external=True)
    token = created["connection"]["auth_token"]
    assert api.post(f"/workspaces/{created['id']}/pause", token=dev).status == 200

    result = api.post(
        "/registry/register",
        json_body={"id": created["id"], "url": "http://127.0.0.1:10002/", "agent_card": {"name": "back"}},
        token=token,
    )

    assert result.status == 200, result.text
    row = workspace_row(database, created["id"])
    assert row["status"] == "paused"
    assert row["url"] == "http://127.0.0.1:10002/" and row["agent_card"] == {"name": "back"}
    state = api.get(f"/workspaces/{created['id']}/state", token=token).json()
    assert state["paused"] is True


def test_register_under_a_paused_parent_leaves_the_child_paused(api: ApiClient, dev: str, database: str) -> None:
    parent = create_workspace(api, dev, name="parent", external=True)
    child = create_workspace(api, dev, name="child", external=True, parent_id=parent["id"])
    assert api.post(f"/workspaces/{parent['id']}/pause", token=dev).status == 200
    assert workspace_row(database, child["id"])["status"] == "paused"

    result = api.post(
        "/registry/register", json_body={"id": child["id"], "agent_card": {}}, token=child["connection"]["auth_token"]
    )

    assert result.status == 200
    assert workspace_row(database, child["id"])["status"] == "paused"
    assert api.post(f"/workspaces/{child['id']}/resume", token=dev).status == 409  # the parent is still paused


def test_a_workspace_created_with_a_url_has_its_inbound_secret_at_once(api: ApiClient, dev: str, database: str) -> None:
    created = create_workspace(api, dev, name="with-url", external=True, url="http://127.0.0.1:9/")

    secret = workspace_row(database, created["id"])["platform_inbound_secret"]

    assert secret and len(secret) >= 32
    registered = api.post("/registry/register", json_body={"id": created["id"], "agent_card": {}})
    assert registered.status == 200 and registered.json()["platform_inbound_secret"] == secret
