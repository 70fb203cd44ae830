"""The round-trip target of `bench statements` (issue 19): every read route (GET) within 2 round
trips, counted per route, with each request over it named; writes are figures only."""

from __future__ import annotations

from bench.statements import Row, read_target_summary


def row(route: str, request: str, statements: int, transactions: int = 0) -> Row:
    return Row(route, request, ["SELECT 1"] * statements, transactions, 200, 200, "")


def test_read_routes_within_two_round_trips_pass_and_writes_are_not_counted() -> None:
    rows = [
        row("GET /workspaces", "admin bearer", 1),
        row("GET /workspaces/{workspace_id}/activity", "inbox, since_id cursor", 2),
        row("POST /workspaces", "external", 5, transactions=1),
    ]

    assert read_target_summary(rows) == "read routes within 2 round trips: 2 of 2 — PASS"
    assert [r.is_read for r in rows] == [True, True, False]


def test_a_transaction_block_counts_two_round_trips_towards_a_miss() -> None:
    assert not row("GET /settings/secrets", "2 globals", 1, transactions=1).within_target
    assert row("GET /settings/secrets", "2 globals", 2).within_target


def test_a_route_misses_when_any_of_its_read_requests_does_and_each_miss_is_named() -> None:
    rows = [
        row("GET /workspaces/{workspace_id}/files/{file_id}", "first read", 3),
        row("GET /workspaces/{workspace_id}/files/{file_id}", "own bearer", 2),
        row("GET /workspaces/{workspace_id}/model", "own model", 3, transactions=1),
        row("GET /events", "fleet", 1),
    ]

    assert read_target_summary(rows) == (
        "read routes within 2 round trips: 1 of 3 — MISS: "
        "GET /workspaces/{workspace_id}/files/{file_id} [first read], GET /workspaces/{workspace_id}/model [own model]"
    )
