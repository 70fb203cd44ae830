"""Activity (SPEC §5.6): feed, inbox cursor, filters, self-reports, notify, retention — and the
cursor guarantee under concurrent writers, against real PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from molecule_core.activity import store as activity_store
from molecule_core.activity.store import NewActivity
from molecule_local.lambdas import FunctionRegistry
from psycopg.rows import dict_row

from tests.conftest import ApiClient, create_workspace
from tests.round_trips import counted

ZERO = "00000000-0000-0000-0000-000000000000"


def _message(text: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "message/send",
        "params": {
            "message": {"role": "user", "messageId": str(uuid.uuid4()), "parts": [{"kind": "text", "text": text}]}
        },
    }


def _insert(database: str, workspace_id: str, **fields: Any) -> str:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return str(activity_store.insert_activity(conn, NewActivity(workspace_id=uuid.UUID(workspace_id), **fields)))


@pytest.fixture
def pair(api: ApiClient, admin: str) -> tuple[dict, dict]:
    return (
        create_workspace(api, admin, name="alice", role="writer", external=True),
        create_workspace(api, admin, name="bob", role="reviewer", external=True),
    )


def _get(api: ApiClient, workspace: dict, query: str = "") -> Any:
    return api.get(f"/workspaces/{workspace['id']}/activity{query}", token=workspace["connection"]["auth_token"])


# --- feed, fields and ordering ----------------------------------------------------------------------


def test_row_fields_and_inbox_data(api: ApiClient, database: str, pair: tuple[dict, dict]) -> None:
    alice, bob = pair
    _insert(
        database,
        alice["id"],
        activity_type="a2a_receive",
        source_id=uuid.UUID(bob["id"]),
        method="message/send",
        request_body=_message("hello alice"),
        status="ok",
        duration_ms=12,
    )
    rows = _get(api, alice).json()
    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= {
        "id",
        "workspace_id",
        "activity_type",
        "type",
        "source_id",
        "target_id",
        "method",
        "summary",
        "request_body",
        "response_body",
        "tool_trace",
        "duration_ms",
        "status",
        "error_detail",
        "created_at",
        "ts",
        "data",
    }
    assert row["type"] == row["activity_type"] == "a2a_receive"
    assert row["ts"] == row["created_at"]
    assert row["data"] == {
        "source": "peer_agent",
        "kind": "message/send",
        "text": "hello alice",
        "peer_id": bob["id"],
        "activity_id": row["id"],
        "peer_name": "bob",
        "peer_role": "reviewer",
        "agent_card_url": f"http://127.0.0.1:8080/registry/discover/{bob['id']}",
    }


def test_plain_feed_is_newest_first_and_cursor_reads_oldest_first(
    api: ApiClient, database: str, pair: tuple[dict, dict]
) -> None:
    alice, _ = pair
    ids = [_insert(database, alice["id"], activity_type="agent_log", summary=f"n{i}") for i in range(4)]
    assert [r["id"] for r in _get(api, alice).json()] == ids[::-1]
    assert [r["id"] for r in _get(api, alice, f"?since_id={ids[0]}").json()] == ids[1:]
    assert [r["id"] for r in _get(api, alice, "?since_secs=60").json()] == ids
    assert [r["id"] for r in _get(api, alice, "?order=asc").json()] == ids
    assert [r["id"] for r in _get(api, alice, f"?since_id={ids[0]}&order=desc").json()] == ids[:0:-1]
    assert _get(api, alice, f"?since_id={ids[-1]}").json() == []
    assert [r["id"] for r in _get(api, alice, "?limit=2").json()] == ids[:1:-1]


@pytest.mark.parametrize("cursor", [ZERO, "not-a-uuid", "foreign"])
def test_unknown_malformed_and_foreign_cursors_are_410_alike(
    api: ApiClient, database: str, pair: tuple[dict, dict], cursor: str
) -> None:
    alice, bob = pair
    foreign = _insert(database, bob["id"], activity_type="agent_log")
    result = _get(api, alice, f"?since_id={foreign if cursor == 'foreign' else cursor}")
    assert result.status == 410
    assert result.json() == {"error": "cursor not found; restart without since_id", "code": "cursor_gone"}


def test_filters_combine(api: ApiClient, database: str, pair: tuple[dict, dict]) -> None:
    alice, bob = pair
    from_bob = _insert(database, alice["id"], activity_type="a2a_receive", source_id=uuid.UUID(bob["id"]))
    from_user = _insert(database, alice["id"], activity_type="a2a_receive")
    log = _insert(database, alice["id"], activity_type="agent_log")
    assert {r["id"] for r in _get(api, alice, "?type=a2a_receive").json()} == {from_bob, from_user}
    assert [r["id"] for r in _get(api, alice, "?source=agent").json()] == [from_bob]
    assert {r["id"] for r in _get(api, alice, "?source=canvas").json()} == {from_user, log}
    assert [r["id"] for r in _get(api, alice, f"?peer_id={bob['id']}&type=a2a_receive").json()] == [from_bob]
    assert [r["id"] for r in _get(api, alice, "?source=canvas&type=agent_log").json()] == [log]


def test_before_ts(api: ApiClient, database: str, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    old = _insert(database, alice["id"], activity_type="agent_log")
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE activity_logs SET created_at = now() - interval '1 hour' WHERE id = %s", (old,))
    _insert(database, alice["id"], activity_type="agent_log")
    rows = _get(api, alice, "?before_ts=" + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))).json()
    assert [r["id"] for r in rows] == [old]
    assert [r["id"] for r in _get(api, alice, "?since_secs=600").json()] != [old]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?since_secs=0", "since_secs"),
        ("?since_secs=-5", "since_secs"),
        ("?since_secs=1.5", "since_secs"),
        ("?since_secs=abc", "since_secs"),
        ("?source=robot", "source"),
        ("?type=gossip", "activity_type"),
        ("?order=sideways", "order"),
        ("?limit=0", "limit"),
        ("?peer_id=nope", "peer_id"),
    ],
)
def test_bad_query_is_400(api: ApiClient, pair: tuple[dict, dict], query: str, field: str) -> None:
    result = _get(api, pair[0], query)
    assert result.status == 400
    assert result.json()["field"] == field


def test_since_secs_above_30_days_is_clamped(api: ApiClient, database: str, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    ancient = _insert(database, alice["id"], activity_type="agent_log")
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE activity_logs SET created_at = now() - interval '40 days' WHERE id = %s", (ancient,))
    recent = _insert(database, alice["id"], activity_type="agent_log")
    assert [r["id"] for r in _get(api, alice, "?since_secs=999999999").json()] == [recent]


def test_limit_is_capped_at_500(api: ApiClient, database: str, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO activity_logs (workspace_id, activity_type)"
            " SELECT %s, 'agent_log' FROM generate_series(1, 510)",
            (alice["id"],),
        )
    assert len(_get(api, alice, "?limit=1000").json()) == 500
    assert len(_get(api, alice).json()) == 100


def test_feed_of_another_workspace_needs_its_token(api: ApiClient, pair: tuple[dict, dict]) -> None:
    alice, bob = pair
    assert api.get(f"/workspaces/{alice['id']}/activity", token=bob["connection"]["auth_token"]).status == 401
    assert api.get(f"/workspaces/{uuid.uuid4()}/activity", token=alice["connection"]["auth_token"]).status == 401


def test_a_feed_read_or_an_inbox_poll_is_one_round_trip_with_the_bearer_looked_up_in_it(
    api: ApiClient, database: str, pair: tuple[dict, dict]
) -> None:
    alice, _ = pair
    first = _insert(database, alice["id"], activity_type="a2a_receive", request_body=_message("one"))
    _insert(database, alice["id"], activity_type="a2a_receive", request_body=_message("two"))

    feed = counted(database, lambda: _get(api, alice))
    poll = counted(database, lambda: _get(api, alice, f"?since_id={first}"))

    assert [r.answer.status for r in (feed, poll)] == [200, 200]
    assert [row["data"]["text"] for row in poll.answer.json()] == ["two"]
    assert (feed.round_trips, feed.transactions) == (1, 0), feed.statements
    assert (poll.round_trips, poll.transactions) == (1, 0), poll.statements
    assert "live_bearer(" in poll.statements[0]


def test_the_feed_takes_admin_and_org_tokens_and_refuses_others_401_before_anything_else(
    api: ApiClient, admin: str, database: str, pair: tuple[dict, dict]
) -> None:
    alice, bob = pair
    _insert(database, alice["id"], activity_type="a2a_receive", request_body=_message("hi"))
    org = api.post("/org/tokens", json_body={"name": "ops"}, token=admin).json()["auth_token"]
    bobs = bob["connection"]["auth_token"]
    base = f"/workspaces/{alice['id']}/activity"

    assert [len(api.get(base, token=token).json()) for token in (admin, org)] == [1, 1]
    refused = {
        "another workspace's token": api.get(base, token=bobs),
        "an unknown token": api.get(base, token="not-a-token"),
        "no token": api.get(base),
        "an unknown token and a bad type": api.get(f"{base}?type=nonsense", token="not-a-token"),
        "an unknown token and a bad since_secs": api.get(f"{base}?since_secs=-1", token="not-a-token"),
        "an unknown token and an unknown cursor": api.get(f"{base}?since_id={uuid.uuid4()}", token="not-a-token"),
        "an unknown token and an unknown workspace": api.get(f"/workspaces/{uuid.uuid4()}/activity", token="x"),
    }
    assert {name: r.status for name, r in refused.items()} == dict.fromkeys(refused, 401)
    assert api.get(f"{base}?type=nonsense", token=alice["connection"]["auth_token"]).status == 400
    assert api.get(f"/workspaces/{uuid.uuid4()}/activity", token=admin).status == 404


def test_a_removed_workspaces_feed_is_410_to_an_admin_and_401_to_its_revoked_token(
    api: ApiClient, admin: str, pair: tuple[dict, dict]
) -> None:
    alice, _ = pair
    assert api.delete(f"/workspaces/{alice['id']}", token=admin).status == 200

    assert _get(api, alice).status == 401
    assert api.get(f"/workspaces/{alice['id']}/activity", token=admin).status == 410


# --- self-report and notify ---------------------------------------------------------------------------


def test_agent_self_report(api: ApiClient, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    result = api.post(
        f"/workspaces/{alice['id']}/activity",
        json_body={
            "activity_type": "task_update",
            "summary": "halfway",
            "tool_trace": [{"tool": "grep"}],
            "source_id": alice["id"],
        },
        token=alice["connection"]["auth_token"],
    )
    assert result.json() == {"status": "logged"}
    row = _get(api, alice).json()[0]
    assert (row["activity_type"], row["summary"], row["tool_trace"]) == ("task_update", "halfway", [{"tool": "grep"}])


@pytest.mark.parametrize("report", [{}, {"source_id": "", "status": ""}, {"source_id": "  ", "status": None}])
def test_self_report_without_source_is_the_caller_and_without_status_ok(
    api: ApiClient, pair: tuple[dict, dict], report: dict
) -> None:
    alice, _ = pair
    token = alice["connection"]["auth_token"]
    result = api.post(
        f"/workspaces/{alice['id']}/activity", json_body={"activity_type": "agent_log", **report}, token=token
    )
    assert result.json() == {"status": "logged"}
    row = _get(api, alice).json()[0]
    assert (row["source_id"], row["status"]) == (alice["id"], "ok")
    # ?source=agent lists rows with a source, ?source=canvas those without
    assert [r["id"] for r in _get(api, alice, "?source=agent").json()] == [row["id"]]
    assert _get(api, alice, "?source=canvas").json() == []


def test_self_report_by_a_user_has_no_source(api: ApiClient, admin: str, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    api.post(f"/workspaces/{alice['id']}/activity", json_body={"activity_type": "agent_log"}, token=admin)
    row = _get(api, alice, "?source=canvas").json()[0]
    assert (row["source_id"], row["status"]) == (None, "ok")
    assert _get(api, alice, "?source=agent").json() == []


def test_self_report_validation(api: ApiClient, pair: tuple[dict, dict]) -> None:
    alice, bob = pair
    token = alice["connection"]["auth_token"]
    bad_type = api.post(f"/workspaces/{alice['id']}/activity", json_body={"activity_type": "gossip"}, token=token)
    assert bad_type.status == 400
    assert bad_type.json()["error"] == (
        "invalid activity_type, must be one of: a2a_send, a2a_receive, task_update, agent_log, "
        "skill_promotion, memory_write, error, delegation"
    )
    spoof = api.post(
        f"/workspaces/{alice['id']}/activity",
        json_body={"activity_type": "agent_log", "source_id": bob["id"]},
        token=token,
    )
    assert spoof.status == 403
    assert _get(api, alice).json() == []


def test_notify_is_an_outbound_a2a_send_row(api: ApiClient, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    result = api.post(
        f"/workspaces/{alice['id']}/notify",
        json_body={"message": "report ready", "attachments": [{"uri": "/workspace/r.pdf", "name": "r.pdf", "size": 3}]},
        token=alice["connection"]["auth_token"],
    )
    assert result.json() == {"status": "sent"}
    row = _get(api, alice).json()[0]
    assert (row["activity_type"], row["method"]) == ("a2a_send", "notify")
    assert (row["source_id"], row["target_id"]) == (None, None)
    assert row["response_body"] == {
        "result": "report ready",
        "parts": [{"kind": "file", "file": {"uri": "/workspace/r.pdf", "name": "r.pdf", "size": 3}}],
    }
    assert row["data"]["text"] == "report ready"


def test_notify_without_attachments_has_no_parts(api: ApiClient, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    api.post(
        f"/workspaces/{alice['id']}/notify", json_body={"message": "done"}, token=alice["connection"]["auth_token"]
    )
    assert _get(api, alice).json()[0]["response_body"] == {"result": "done"}


def test_notify_never_shows_in_the_agents_own_inbox(api: ApiClient, pair: tuple[dict, dict]) -> None:
    alice, _ = pair
    token = alice["connection"]["auth_token"]
    api.post(f"/workspaces/{alice['id']}/notify", json_body={"message": "my answer"}, token=token)
    assert [row["method"] for row in _get(api, alice).json()] == ["notify"]  # the feed shows it
    assert _get(api, alice, "?type=a2a_receive").json() == []
    assert _get(api, alice, f"?type=a2a_receive&since_id={ZERO}").status == 410  # the cursor probe still works
    assert _get(api, alice, "?type=a2a_receive&since_secs=60").json() == []


@pytest.mark.parametrize("attachment", [{"name": "x"}, {"uri": "/workspace/x"}, {"uri": "", "name": "x"}])
def test_notify_attachment_needs_uri_and_name(api: ApiClient, pair: tuple[dict, dict], attachment: dict) -> None:
    alice, _ = pair
    result = api.post(
        f"/workspaces/{alice['id']}/notify",
        json_body={"message": "m", "attachments": [{"uri": "/workspace/ok", "name": "ok"}, attachment]},
        token=alice["connection"]["auth_token"],
    )
    assert result.status == 400
    assert result.json()["error"] == "attachment[1]: uri and name are required"
    assert _get(api, alice).json() == []


def test_retention_deletes_old_rows(
    api: ApiClient, database: str, pair: tuple[dict, dict], functions: FunctionRegistry
) -> None:
    alice, _ = pair
    old = _insert(database, alice["id"], activity_type="agent_log")
    kept = _insert(database, alice["id"], activity_type="agent_log")
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE activity_logs SET created_at = now() - interval '8 days' WHERE id = %s", (old,))
    assert functions.invoke("ActivityRetentionFunction", {"sweep": "activity_retention"})["deleted"] == 1
    assert [r["id"] for r in _get(api, alice).json()] == [kept]


# --- the cursor guarantee under concurrent writers ---------------------------------------------------


def _follow(api: ApiClient, workspace: dict, cursor: str) -> tuple[str, list[str]]:
    rows = _get(api, workspace, f"?since_id={cursor}&limit=500").json()
    return (rows[-1]["id"] if rows else cursor), [r["id"] for r in rows]


def test_a_row_committed_late_is_not_skipped_by_the_cursor(
    api: ApiClient, database: str, pair: tuple[dict, dict]
) -> None:
    """The deterministic case: T1 inserts first but commits last. Ordering by insert sequence alone
    would hand the poller T2's row, move the cursor past T1's and lose it when T1 commits."""
    alice, _ = pair
    cursor = _insert(database, alice["id"], activity_type="agent_log", summary="seed")
    workspace_id = uuid.UUID(alice["id"])
    slow = psycopg.connect(database, row_factory=dict_row)
    try:
        slow.execute("BEGIN")
        late = activity_store.insert_activity(slow, NewActivity(workspace_id=workspace_id, activity_type="agent_log"))
        early = _insert(database, alice["id"], activity_type="agent_log")  # commits while T1 is open
        cursor, seen = _follow(api, alice, cursor)
        assert str(late) not in seen and early not in seen  # T1 in flight holds later rows back
        slow.execute("COMMIT")
    finally:
        slow.close()
    cursor, seen = _follow(api, alice, cursor)
    assert seen == [str(late), early]


def test_poller_never_misses_or_repeats_under_concurrent_writers(
    api: ApiClient, database: str, pair: tuple[dict, dict]
) -> None:
    """Several writers with overlapping transactions of random length; a poller follows the cursor
    meanwhile. Every committed row must be delivered exactly once."""
    alice, _ = pair
    workspace_id = uuid.UUID(alice["id"])
    cursor = _insert(database, alice["id"], activity_type="agent_log", summary="seed")
    written: list[str] = []
    written_lock = threading.Lock()
    writers_done = threading.Event()
    rng = random.Random(7)
    holds = [[rng.random() * 0.02 for _ in range(25)] for _ in range(4)]

    def writer(plan: list[float]) -> None:
        with psycopg.connect(database, row_factory=dict_row) as conn:
            for hold in plan:
                with conn.transaction():
                    row_id = activity_store.insert_activity(
                        conn, NewActivity(workspace_id=workspace_id, activity_type="agent_log")
                    )
                    threading.Event().wait(hold)  # keep the transaction open: overlap with others
                with written_lock:
                    written.append(str(row_id))

    threads = [threading.Thread(target=writer, args=(plan,)) for plan in holds]
    for thread in threads:
        thread.start()
    delivered: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = writers_done.is_set()
        cursor, batch = _follow(api, alice, cursor)
        delivered.extend(batch)
        if finished and not batch:
            break
        if all(not t.is_alive() for t in threads):
            writers_done.set()
    for thread in threads:
        thread.join()
    assert len(delivered) == len(set(delivered)), "a row was delivered twice"
    assert sorted(delivered) == sorted(written), "a committed row was never delivered"
    assert len(written) == 100
