"""The A2A proxy (SPEC §5.4) end to end through the function: real PostgreSQL, real agents on
127.0.0.1 (tests/agents.py), the a2a_receive row checked for every outcome."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from molecule_core.provisioning.backends.base import AgentSpec, NoBackendError, use_provisioner
from psycopg.rows import dict_row

from tests.agents import ScriptedAgent, closed_port_url
from tests.conftest import ApiClient, RecordingDispatcher, create_workspace, set_env


def send(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "req-1",
        "method": "message/send",
        "params": {
            "message": {"role": "user", "messageId": "msg-1", "parts": [{"kind": "text", "text": text}]},
            **extra,
        },
    }


class Backend:
    """A provisioner backend whose agent is running or not, as the test says."""

    name = "test"

    def __init__(self, running: bool) -> None:
        self.running = running

    def start(self, spec: AgentSpec) -> str:
        return "instance-1"

    def stop(self, workspace_id: uuid.UUID, instance_id: str | None) -> None:
        self.running = False

    def is_running(self, workspace_id: uuid.UUID, instance_id: str | None) -> bool:
        return self.running


def _external_push(api: ApiClient, admin: str, url: str, **fields: Any) -> dict:
    created = create_workspace(api, admin, name=fields.pop("name", "target"), external=True, url=url, **fields)
    api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=admin)
    return created


def _managed_push(database: str, api: ApiClient, admin: str, url: str) -> str:
    created = create_workspace(api, admin, name="managed", runtime="langgraph")  # no backend: failed
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE workspaces SET status = 'online', url = %s, delivery_mode = 'push',"
            " instance_id = 'instance-1' WHERE id = %s",
            (url, created["id"]),
        )
    return str(created["id"])


def _receipts(database: str, workspace_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM activity_logs WHERE workspace_id = %s AND activity_type = 'a2a_receive' ORDER BY seq",
            (workspace_id,),
        ).fetchall()


def _status(database: str, workspace_id: str) -> str:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT status::text FROM workspaces WHERE id = %s", (workspace_id,)).fetchone()
    return str(row[0]) if row else ""


# --- push: success ------------------------------------------------------------------------------------


def test_user_message_returns_the_agents_bytes_unchanged(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _external_push(api, dev, agent.url)
    with psycopg.connect(database) as conn:  # a row without an inbound secret (minted at create since)
        conn.execute("UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = %s", (target["id"],))
    agent.raw_body = b'{"jsonrpc":"2.0","id":"req-1",  "result":{"kind":"message","parts":[]}}'
    result = api.post(
        f"/workspaces/{target['id']}/a2a", json_body=send("hi"), token=dev, headers={"A2A-Version": "0.3"}
    )
    assert result.status == 200
    assert result.body == agent.raw_body  # byte for byte, spacing included
    forwarded = agent.received[0]
    assert forwarded.headers["a2a-version"] == "0.3"
    assert forwarded.json()["params"]["message"]["parts"] == [{"kind": "text", "text": "hi"}]
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET platform_inbound_secret = 'inbound-s3cret' WHERE id = %s", (target["id"],))
    api.post(f"/workspaces/{target['id']}/a2a", json_body=send("again"), token=dev)
    assert "authorization" not in forwarded.headers  # no secret yet: nothing to present
    assert agent.received[1].headers["authorization"] == "Bearer inbound-s3cret"
    receipt = _receipts(database, target["id"])[0]
    assert (receipt["status"], receipt["method"], receipt["source_id"]) == ("ok", "message/send", None)
    assert receipt["request_body"]["params"]["message"]["messageId"] == "msg-1"
    assert receipt["response_body"] == json.loads(agent.raw_body)
    assert receipt["duration_ms"] is not None


def test_workspace_caller_is_identified_by_its_token(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _external_push(api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller", external=True)
    result = api.post(
        f"/workspaces/{target['id']}/a2a", json_body=send("from a peer"), token=caller["connection"]["auth_token"]
    )
    assert result.status == 200
    assert result.json()["result"]["parts"][0]["text"] == "echo: from a peer"
    assert agent.received[0].headers["x-source-workspace-id"] == caller["id"]
    assert str(_receipts(database, target["id"])[-1]["source_id"]) == caller["id"]


def test_a_cookie_an_agent_sets_is_never_sent_back_on_anyones_call(
    api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    # The proxy's HTTP client is shared by every call of its execution environment: a cookie jar
    # in it would hand one caller's session cookie to the next caller, and to every agent on the
    # same host.
    target = _external_push(api, dev, agent.url)
    other = _external_push(api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller", external=True)
    agent.answer_headers = {"Set-Cookie": "session=for-the-first-caller; Path=/"}
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=send("one"), token=dev).status == 200
    agent.answer_headers = {}
    token = caller["connection"]["auth_token"]
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=send("two"), token=token).status == 200
    assert api.post(f"/workspaces/{other['id']}/a2a", json_body=send("three"), token=dev).status == 200
    assert len(agent.received) == 3
    assert [request.headers.get("cookie") for request in agent.received] == [None, None, None]


@pytest.mark.parametrize("header", ["X-Workspace-ID", "X-Source-Workspace-Id"])
def test_caller_header_must_match_the_token(api: ApiClient, dev: str, agent: ScriptedAgent, header: str) -> None:
    target = _external_push(api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller", external=True)
    other = create_workspace(api, dev, name="other", external=True)
    token = caller["connection"]["auth_token"]
    ok = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=token, headers={header: caller["id"]})
    assert ok.status == 200
    spoof = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=token, headers={header: other["id"]})
    assert spoof.status == 401
    assert len(agent.received) == 1


@pytest.mark.parametrize("prefix", ["system:", "webhook:", "test:", "channel:", "platform:", "admin:", "WEBHOOK:"])
def test_reserved_caller_prefix_is_403(api: ApiClient, dev: str, agent: ScriptedAgent, prefix: str) -> None:
    target = _external_push(api, dev, agent.url)
    result = api.post(
        f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev, headers={"X-Workspace-ID": f"{prefix}x"}
    )
    assert result.status == 403
    assert agent.received == []


@pytest.mark.parametrize("header", ["X-Workspace-ID", "X-Source-Workspace-Id"])
def test_caller_header_without_that_workspaces_token_is_401_in_dev_fail_open(
    api: ApiClient, platform_env: pytest.MonkeyPatch, agent: ScriptedAgent, header: str
) -> None:
    set_env(platform_env, MOLECULE_ENV="development")
    target = api.post("/workspaces", json_body={"name": "t", "external": True, "url": agent.url}).json()
    api.patch(f"/workspaces/{target['id']}", json_body={"delivery_mode": "push"})
    caller = api.post("/workspaces", json_body={"name": "c", "external": True}).json()
    path = f"/workspaces/{target['id']}/a2a"
    # no bearer is a user here — but a header alone must not speak for a workspace
    assert api.post(path, json_body=send()).status == 200
    assert api.post(path, json_body=send(), headers={header: caller["id"]}).status == 401
    proven = api.post(path, json_body=send(), headers={header: caller["id"]}, token=caller["connection"]["auth_token"])
    assert proven.status == 200
    assert len(agent.received) == 2


def test_caller_header_with_an_admin_or_org_token_is_401(api: ApiClient, dev: str, agent: ScriptedAgent) -> None:
    target = _external_push(api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller", external=True)
    org = api.post("/org/tokens", json_body={"name": "canvas"}, token=dev).json()["auth_token"]
    for token in (dev, org):
        result = api.post(
            f"/workspaces/{target['id']}/a2a", json_body=send(), token=token, headers={"X-Workspace-ID": caller["id"]}
        )
        assert result.status == 401
    assert agent.received == []


def test_missing_or_invalid_bearer_is_401(api: ApiClient, dev: str, agent: ScriptedAgent) -> None:
    target = _external_push(api, dev, agent.url)
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=send()).status == 401
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token="forged").status == 401
    assert agent.received == []


def test_dev_fail_open_treats_no_bearer_as_a_user(
    api: ApiClient, platform_env: pytest.MonkeyPatch, agent: ScriptedAgent
) -> None:
    set_env(platform_env, MOLECULE_ENV="development")
    created = api.post("/workspaces", json_body={"name": "t", "external": True, "url": agent.url}).json()
    api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"})
    assert api.post(f"/workspaces/{created['id']}/a2a", json_body=send()).status == 200
    assert api.post(f"/workspaces/{created['id']}/a2a", json_body=send(), token="forged").status == 401


def test_org_token_is_a_user_caller(api: ApiClient, dev: str, agent: ScriptedAgent, database: str) -> None:
    target = _external_push(api, dev, agent.url)
    org = api.post("/org/tokens", json_body={"name": "canvas"}, token=dev).json()["auth_token"]
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=org).status == 200
    assert _receipts(database, target["id"])[-1]["source_id"] is None


# --- access, budget, payload ----------------------------------------------------------------------------


def test_access_rule_denies_cousins(api: ApiClient, dev: str, agent: ScriptedAgent) -> None:
    root = create_workspace(api, dev, name="root", external=True)
    a = create_workspace(api, dev, name="a", external=True, parent_id=root["id"])
    b = create_workspace(api, dev, name="b", external=True, parent_id=root["id"])
    a1 = create_workspace(api, dev, name="a1", external=True, parent_id=a["id"])
    b1 = _external_push(api, dev, agent.url, name="b1", parent_id=b["id"])
    denied = api.post(f"/workspaces/{b1['id']}/a2a", json_body=send(), token=a1["connection"]["auth_token"])
    assert denied.status == 403
    allowed = api.post(f"/workspaces/{b1['id']}/a2a", json_body=send(), token=b["connection"]["auth_token"])
    assert allowed.status == 200
    assert len(agent.received) == 1


def test_budget_exhausted_is_402(api: ApiClient, dev: str, agent: ScriptedAgent, database: str) -> None:
    target = _external_push(api, dev, agent.url, budget_limit=100)
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET monthly_spend = 100 WHERE id = %s", (target["id"],))
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert result.status == 402
    assert result.json() == {"error": "workspace budget exhausted", "monthly_spend": 100, "budget_limit": 100}
    assert agent.received == []


def test_unknown_target_is_404(api: ApiClient, dev: str) -> None:
    assert api.post(f"/workspaces/{uuid.uuid4()}/a2a", json_body=send(), token=dev).status == 404
    assert api.post("/workspaces/nope/a2a", json_body=send(), token=dev).status == 404


def test_invalid_payload_is_a_json_rpc_error(api: ApiClient, dev: str, agent: ScriptedAgent) -> None:
    target = _external_push(api, dev, agent.url)
    bad = {"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {"role": "user", "content": 42}}}
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=bad, token=dev)
    assert result.status == 400
    body = result.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 7 and body["error"]["code"] == -32602
    malformed = api.post(
        f"/workspaces/{target['id']}/a2a", body="{oops", headers={"content-type": "application/json"}, token=dev
    )
    assert malformed.status == 400
    assert malformed.json()["error"]["code"] == -32700
    assert agent.received == []


def test_v02_content_reaches_the_agent_as_v03_parts(api: ApiClient, dev: str, agent: ScriptedAgent) -> None:
    target = _external_push(api, dev, agent.url)
    legacy = {"method": "tasks/send", "params": {"message": {"role": "assistant", "content": "old style"}}}
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=legacy, token=dev)
    assert result.status == 200
    forwarded = agent.received[0].json()
    assert forwarded["method"] == "message/send"
    assert forwarded["params"]["message"]["parts"] == [{"kind": "text", "text": "old style"}]
    assert forwarded["params"]["message"]["role"] == "agent"
    assert forwarded["params"]["message"]["messageId"]


# --- poll mode -------------------------------------------------------------------------------------------


def test_poll_mode_target_gets_the_message_in_its_inbox(api: ApiClient, dev: str, database: str) -> None:
    target = create_workspace(api, dev, name="laptop", external=True)
    caller = create_workspace(api, dev, name="peer", external=True)
    legacy = {"method": "message/send", "params": {"message": {"content": "for your inbox"}}}
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=legacy, token=caller["connection"]["auth_token"])
    assert result.status == 200
    answer = result.json()
    # Molecule's clients read the platform's keys at the top level; standard A2A clients read a
    # JSON-RPC response whose result is a submitted Task named by the inbox row's id.
    assert {k: answer[k] for k in ("status", "delivery_mode", "method")} == {
        "status": "queued",
        "delivery_mode": "poll",
        "method": "message/send",
    }
    receipt = _receipts(database, target["id"])[-1]
    assert answer["jsonrpc"] == "2.0" and answer["result"]["kind"] == "task"
    assert answer["result"]["id"] == str(receipt["id"]) and answer["result"]["status"] == {"state": "submitted"}
    assert receipt["status"] == "queued"
    assert receipt["request_body"] == legacy  # verbatim as received (SPEC §5.6)
    assert receipt["request_normalized"]["params"]["message"]["parts"] == [{"kind": "text", "text": "for your inbox"}]
    inbox = api.get(
        f"/workspaces/{target['id']}/activity?type=a2a_receive", token=target["connection"]["auth_token"]
    ).json()
    assert inbox[0]["data"]["text"] == "for your inbox"
    assert inbox[0]["data"]["peer_id"] == caller["id"]
    assert inbox[0]["request_body"] == legacy
    assert inbox[0]["request_normalized"]["method"] == "message/send"


def test_poll_inbox_keeps_type_parts_as_the_sender_wrote_them(api: ApiClient, dev: str) -> None:
    # The molecule CLI decodes request_body's parts by `type`: rewritten to `kind`, its prompt was empty.
    target = create_workspace(api, dev, name="cli", external=True)
    sent = {
        "jsonrpc": "2.0",
        "id": "cli-1",
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": "m-1", "parts": [{"type": "text", "text": "fix the bug"}]}},
    }
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=sent, token=dev).status == 200
    row = api.get(
        f"/workspaces/{target['id']}/activity?type=a2a_receive", token=target["connection"]["auth_token"]
    ).json()[0]
    assert row["request_body"] == sent
    assert row["request_body"]["params"]["message"]["parts"] == [{"type": "text", "text": "fix the bug"}]
    assert row["request_normalized"]["params"]["message"]["parts"] == [{"kind": "text", "text": "fix the bug"}]
    assert row["data"]["text"] == "fix the bug"


# --- push: trouble ---------------------------------------------------------------------------------------


def test_no_url_is_503(api: ApiClient, dev: str, database: str) -> None:
    target = create_workspace(api, dev, name="t", external=True)
    api.patch(f"/workspaces/{target['id']}", json_body={"delivery_mode": "push"}, token=dev)
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert result.status == 503
    assert result.json()["status"] == "awaiting_agent"
    assert _receipts(database, target["id"])[-1]["status"] == "error"


def test_hibernated_target_is_woken(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, dispatcher: RecordingDispatcher
) -> None:
    target = _external_push(api, dev, agent.url)
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET status = 'hibernated' WHERE id = %s", (target["id"],))
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert result.status == 503
    assert result.headers["retry-after"] == "15"
    assert result.json()["waking"] is True
    assert [(r.action, str(r.workspace_id)) for r in dispatcher.requests] == [("wake", target["id"])]
    assert agent.received == []
    assert _receipts(database, target["id"])[-1]["error_detail"] == "target hibernated"


@pytest.mark.parametrize("status", [502, 503, 504, 521, 522, 523, 524])
def test_dead_status_from_a_dead_managed_agent_restarts_it(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, dispatcher: RecordingDispatcher, status: int
) -> None:
    use_provisioner(Backend(running=False))
    workspace_id = _managed_push(database, api, dev, agent.url)
    agent.mode, agent.status = "status", status
    result = api.post(f"/workspaces/{workspace_id}/a2a", json_body=send(), token=dev)
    assert result.status == 503
    assert result.headers["retry-after"] == "15"
    assert result.json()["restarting"] is True
    assert _status(database, workspace_id) == "offline"
    assert [(r.action, str(r.workspace_id)) for r in dispatcher.requests] == [("restart", workspace_id)]
    assert _receipts(database, workspace_id)[-1]["error_detail"] == f"upstream {status}"


def test_dead_status_from_a_running_agent_passes_through(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, dispatcher: RecordingDispatcher
) -> None:
    use_provisioner(Backend(running=True))
    workspace_id = _managed_push(database, api, dev, agent.url)
    agent.mode, agent.status = "status", 502
    result = api.post(f"/workspaces/{workspace_id}/a2a", json_body=send(), token=dev)
    assert result.status == 502
    assert result.json() == {"error": "agent says 502"}
    assert _status(database, workspace_id) == "online"
    assert dispatcher.requests == []


@pytest.mark.parametrize("status", [520, 525, 500])
def test_not_dead_statuses_pass_through_even_when_the_agent_is_down(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, status: int
) -> None:
    use_provisioner(Backend(running=False))
    workspace_id = _managed_push(database, api, dev, agent.url)
    agent.mode, agent.status = "status", status
    assert api.post(f"/workspaces/{workspace_id}/a2a", json_body=send(), token=dev).status == status
    assert _status(database, workspace_id) == "online"


def test_external_agents_502_passes_through(api: ApiClient, dev: str, agent: ScriptedAgent, database: str) -> None:
    use_provisioner(Backend(running=False))  # would say dead — but an external agent has nobody to ask
    target = _external_push(api, dev, agent.url)
    agent.mode, agent.status = "status", 503
    assert api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev).status == 503
    assert _status(database, target["id"]) == "online"


def test_no_backend_means_nothing_to_ask(api: ApiClient, dev: str, agent: ScriptedAgent, database: str) -> None:
    workspace_id = _managed_push(database, api, dev, agent.url)  # default: NoBackendProvisioner
    agent.mode, agent.status = "status", 504
    assert api.post(f"/workspaces/{workspace_id}/a2a", json_body=send(), token=dev).status == 504
    assert _status(database, workspace_id) == "online"


def test_connection_refused_dead_managed_agent_restarts(
    api: ApiClient, dev: str, database: str, dispatcher: RecordingDispatcher
) -> None:
    use_provisioner(Backend(running=False))
    workspace_id = _managed_push(database, api, dev, closed_port_url())
    result = api.post(f"/workspaces/{workspace_id}/a2a", json_body=send(), token=dev)
    assert result.status == 503
    assert result.json()["restarting"] is True
    assert "connection failed" in _receipts(database, workspace_id)[-1]["error_detail"]


def test_connection_refused_external_is_502(api: ApiClient, dev: str, database: str) -> None:
    target = _external_push(api, dev, closed_port_url())
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert result.status == 502
    assert result.json()["error"] == "agent unreachable"
    assert _receipts(database, target["id"])[-1]["status"] == "error"


def _queue_rows(database: str, workspace_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, status, caller_id, method, body, expires_at - enqueued_at AS ttl FROM a2a_queue"
            " WHERE workspace_id = %s ORDER BY enqueued_at",
            (workspace_id,),
        ).fetchall()


def test_agent_closing_the_connection_queues_the_message(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _external_push(api, dev, agent.url)
    agent.mode = "close"
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert result.status == 202
    body = result.json()
    assert body["queued"] is True and body["queue_depth"] == 1
    (row,) = _queue_rows(database, target["id"])
    assert (str(row["id"]), row["status"], row["method"]) == (body["queue_id"], "queued", "message/send")
    assert row["body"]["params"]["message"]["messageId"] == "msg-1"
    assert len(agent.received) == 1  # it reached the agent once; the queue delivers it again later
    assert _receipts(database, target["id"])[-1]["status"] == "queued"
    # the caller retrying the same message finds the same queue row
    again = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert again.json()["queue_id"] == body["queue_id"]
    assert len(_queue_rows(database, target["id"])) == 1


def test_target_at_capacity_gets_the_message_queued_not_dispatched(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _external_push(api, dev, agent.url, max_concurrent_tasks=2)
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET active_tasks = 2 WHERE id = %s", (target["id"],))
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    assert result.status == 202
    assert "capacity" in result.json()["message"]
    assert agent.received == []
    assert len(_queue_rows(database, target["id"])) == 1


def test_prefer_respond_async_queues_with_the_callers_expiry(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _external_push(api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller", external=True)
    result = api.post(
        f"/workspaces/{target['id']}/a2a",
        json_body=send(expires_in_seconds=120),
        token=caller["connection"]["auth_token"],
        headers={"Prefer": "respond-async"},
    )
    assert result.status == 202
    (row,) = _queue_rows(database, target["id"])
    assert str(row["caller_id"]) == caller["id"]
    assert row["ttl"].total_seconds() == pytest.approx(120, abs=2)
    assert agent.received == []


@pytest.mark.parametrize("expiry", [-5, "soon", True])
def test_invalid_expiry_is_400_and_queues_nothing(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, expiry: Any
) -> None:
    target = _external_push(api, dev, agent.url)
    result = api.post(
        f"/workspaces/{target['id']}/a2a",
        json_body=send(expires_in_seconds=expiry),
        token=dev,
        headers={"Prefer": "respond-async"},
    )
    assert result.status == 400
    assert _queue_rows(database, target["id"]) == []


def test_silent_agent_is_504_timeout(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, A2A_PUSH_TIMEOUT_SECONDS="0.3")
    target = _external_push(api, dev, agent.url)
    agent.mode = "slow"
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=send(), token=dev)
    agent.release.set()
    assert result.status == 504
    assert result.json()["timeout"] is True
    assert len(agent.received) == 1  # delivered once, not re-sent
    assert _receipts(database, target["id"])[-1]["error_detail"] == "timeout"


def test_classifier_never_crashes_on_no_backend() -> None:
    from molecule_core.provisioning.backends.base import NoBackendProvisioner

    with pytest.raises(NoBackendError):
        NoBackendProvisioner().is_running(uuid.uuid4(), None)


# --- durability of what the proxy writes ----------------------------------------------------------


class _StatementLog(psycopg.Cursor[Any]):
    """Records the text of every statement this process sends."""

    sent: list[str] = []  # noqa: RUF012 - one log for the test, on purpose

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> _StatementLog:
        _StatementLog.sent.append(query.as_string(self) if hasattr(query, "as_string") else str(query))
        super().execute(query, params, **kwargs)
        return self


def _inserts_of_activity(dev: str, database: str, send_one: Any) -> list[str]:
    from molecule_core.platform import db

    db.configure(dsn=database, cursor_factory=_StatementLog)
    _StatementLog.sent.clear()
    try:
        send_one()
    finally:
        db.configure(dsn=database)
    return [text for text in _StatementLog.sent if "INSERT INTO activity_logs" in text]


def test_a_push_receipt_does_not_wait_for_the_disk_but_a_poll_inbox_row_does(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent
) -> None:
    # The receipt of a delivered message is a record (a crash may lose the last few of them); the
    # poll inbox row *is* the message and is committed durably before the caller hears "queued".
    push = _external_push(api, dev, agent.url)
    poll = create_workspace(api, dev, name="laptop", external=True)

    push_inserts = _inserts_of_activity(
        dev, database, lambda: api.post(f"/workspaces/{push['id']}/a2a", json_body=send(), token=dev)
    )
    poll_inserts = _inserts_of_activity(
        dev, database, lambda: api.post(f"/workspaces/{poll['id']}/a2a", json_body=send(), token=dev)
    )

    assert len(push_inserts) == 1 and "synchronous_commit" in push_inserts[0]
    assert len(poll_inserts) == 1 and "synchronous_commit" not in poll_inserts[0]
    assert [r["status"] for r in _receipts(database, push["id"])] == ["ok"]
    assert [r["status"] for r in _receipts(database, poll["id"])] == ["queued"]
