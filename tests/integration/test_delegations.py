"""Delegations (SPEC §5.10, issue 13) in process: the routes through the template's route table,
real PostgreSQL, the template's A2A FIFO queue on moto with the drain function driven by real SQS
events, scripted agents and a2a-sdk agents (0.3 and 1.0) on 127.0.0.1. Each path that closes a
delegation has its test: the drain's answer (message, artifacts, JSON-RPC error, a task still
under way, never delivered), a poll target's reply through the proxy (and anyone else's, which
changes nothing), and the agent's own record and update."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from molecule_local.lambdas import FunctionRegistry
from psycopg.rows import dict_row

from tests.a2a_sdk_agents import sdk_agent
from tests.agents import ScriptedAgent, closed_port_url
from tests.conftest import ApiClient, create_workspace, emf_metrics, set_env
from tests.integration import test_a2a_queue as queue_tests

sqs = queue_tests.sqs  # the template's queues on moto (a fixture)
drain_until_empty = queue_tests.drain_until_empty


# --- helpers -----------------------------------------------------------------------------------------


def _rows(database: str, statement: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return conn.execute(statement, args).fetchall()


def _workspace(api: ApiClient, admin: str, name: str, **fields: Any) -> dict[str, Any]:
    """An external workspace with its own token (`token`); without a URL it is a poll target."""
    created = create_workspace(api, admin, name=name, external=True, **fields)
    return {**created, "token": created["connection"]["auth_token"]}


def _push(
    api: ApiClient, admin: str, url: str, name: str = "target", card: dict[str, Any] | None = None, **fields: Any
):
    """A push-mode workspace whose agent is at `url` (registered with `card`)."""
    created = _workspace(api, admin, name)
    registered = api.post(
        "/registry/register",
        json_body={"id": created["id"], "url": url, "agent_card": card or {"name": name}, "delivery_mode": "push"},
        token=created["token"],
    )
    assert registered.status == 200, registered.text
    return created


def _delegate(api: ApiClient, delegator: dict[str, Any], target: dict[str, Any], task: str, **extra: Any):
    return api.post(
        f"/workspaces/{delegator['id']}/delegate",
        json_body={"target_id": target["id"], "task": task, **extra},
        token=delegator["token"],
    )


def _get(api: ApiClient, delegator: dict[str, Any], delegation_id: str) -> dict[str, Any]:
    found = api.get(f"/workspaces/{delegator['id']}/delegations/{delegation_id}", token=delegator["token"])
    assert found.status == 200, found.text
    return dict(found.json())


def _pairs(database: str, select: str, workspace_id: str) -> list[tuple[str, str]]:
    """`select` names two columns, `a` and `b`, of rows `WHERE workspace_id = %s`, oldest first."""
    return [(row["a"], row["b"]) for row in _rows(database, select + " ORDER BY xid, seq", workspace_id)]


def _events(database: str, workspace_id: str) -> list[tuple[str, str]]:
    """The delegator's DELEGATION_* events: (type, the status they report)."""
    return _pairs(
        database,
        "SELECT event_type AS a, payload->>'status' AS b FROM structure_events "
        "WHERE workspace_id = %s AND event_type LIKE 'DELEGATION%%'",
        workspace_id,
    )


def _feed(database: str, workspace_id: str) -> list[tuple[str, str]]:
    """The delegator's `delegation` activity rows: (method, status)."""
    return _pairs(
        database,
        "SELECT method AS a, status AS b FROM activity_logs WHERE workspace_id = %s AND activity_type = 'delegation'",
        workspace_id,
    )


def _reply(task_text: str, delegation_id: str, version: str = "0.3") -> dict[str, Any]:
    """A poll target's answer through the proxy, carrying the delegation_id in its metadata."""
    if version == "1.0":
        message = {"messageId": str(uuid.uuid4()), "role": "ROLE_AGENT", "parts": [{"text": task_text}]}
        return {"jsonrpc": "2.0", "id": "r", "method": "SendMessage",
                "params": {"message": {**message, "metadata": {"delegation_id": delegation_id}}}}  # fmt: skip
    message = {
        "role": "agent",
        "parts": [{"kind": "text", "text": task_text}],
        "metadata": {"delegation_id": delegation_id},
    }
    return {"jsonrpc": "2.0", "id": "r", "method": "message/send", "params": {"message": message}}


# --- validation and refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("target_id", [None, "", "not-a-uuid", 42, ["x"]], ids=repr)
def test_a_missing_or_malformed_target_id_is_400_naming_it(api: ApiClient, dev: str, target_id: Any) -> None:
    delegator = _workspace(api, dev, "delegator")
    body = {"task": "do it"} if target_id is None else {"target_id": target_id, "task": "do it"}

    answer = api.post(f"/workspaces/{delegator['id']}/delegate", json_body=body, token=delegator["token"])

    assert answer.status == 400
    assert answer.json() == {"error": "target_id must be a valid UUID", "field": "target_id"}


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (None, "task is required"),
        ("   ", "task must not be empty"),
        ("a\x00b", "task: NUL characters are not allowed"),
    ],
    ids=["missing", "blank", "nul"],
)
def test_a_missing_or_unusable_task_is_400_naming_it(api: ApiClient, dev: str, task: Any, message: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")
    body = {"target_id": target["id"]} if task is None else {"target_id": target["id"], "task": task}

    answer = api.post(f"/workspaces/{delegator['id']}/delegate", json_body=body, token=delegator["token"])

    assert answer.status == 400
    assert answer.json()["error"] == message and answer.json()["field"] == "task"


def test_self_delegation_is_400(api: ApiClient, dev: str) -> None:
    delegator = _workspace(api, dev, "delegator")

    answer = _delegate(api, delegator, delegator, "talk to myself")

    assert answer.status == 400
    assert answer.json()["error"] == "self-delegation not permitted"


def test_an_unknown_or_removed_target_is_404(api: ApiClient, dev: str) -> None:
    delegator, removed = _workspace(api, dev, "delegator"), _workspace(api, dev, "gone")
    assert api.delete(f"/workspaces/{removed['id']}", token=dev).status == 200

    unknown = _delegate(api, delegator, {"id": str(uuid.uuid4())}, "anyone there?")
    gone = _delegate(api, delegator, removed, "anyone there?")

    assert (unknown.status, gone.status) == (404, 404)
    assert unknown.json() == {"error": "target workspace not found"}


def test_the_access_rule_forbids_delegating_to_a_cousin(api: ApiClient, dev: str, database: str) -> None:
    a, b = _workspace(api, dev, "a"), _workspace(api, dev, "b")
    a1, b1 = _workspace(api, dev, "a1", parent_id=a["id"]), _workspace(api, dev, "b1", parent_id=b["id"])

    cousin = _delegate(api, a1, b1, "not yours")
    parent = _delegate(api, a1, a, "ask the parent")

    assert cousin.status == 403 and "access rule" in cousin.json()["error"]
    assert parent.status == 202
    assert len(_rows(database, "SELECT id FROM delegations")) == 1  # nothing recorded for the refusal


def test_another_workspaces_token_on_the_delegators_path_is_401(api: ApiClient, dev: str) -> None:
    delegator, target, other = (_workspace(api, dev, name) for name in ("delegator", "target", "other"))

    answer = api.post(
        f"/workspaces/{delegator['id']}/delegate",
        json_body={"target_id": target["id"], "task": "x"},
        token=other["token"],
    )

    assert answer.status == 401


def test_a_caller_header_needs_that_workspaces_own_token(api: ApiClient, dev: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")

    with_admin = api.post(
        f"/workspaces/{target['id']}/delegate",
        json_body={"task": "x"},
        headers={"X-Workspace-ID": delegator["id"]},
        token=dev,
    )
    reserved = api.post(
        f"/workspaces/{target['id']}/delegate",
        json_body={"task": "x"},
        headers={"X-Workspace-ID": "system:scheduler"},
        token=delegator["token"],
    )

    assert with_admin.status == 401
    assert reserved.status == 403


# --- the three clients' forms --------------------------------------------------------------------------


def test_each_client_form_delegates_from_the_right_workspace_to_the_right_target(
    api: ApiClient, dev: str, database: str
) -> None:
    """The channel plugin: `{target_id, task, idempotency_key}` to its own path with its own token.
    The SDK: `POST /workspaces/{target}/delegate`, `X-Workspace-ID: <self>`, its own token, no
    target_id. The CLI: `{target_id, task}` to the delegator's path with the operator's token."""
    plugin, sdk, target = _workspace(api, dev, "plugin"), _workspace(api, dev, "sdk"), _workspace(api, dev, "target")

    by_plugin = api.post(
        f"/workspaces/{plugin['id']}/delegate",
        json_body={"target_id": target["id"], "task": "from the plugin", "idempotency_key": "plugin-1"},
        token=plugin["token"],
    )
    by_sdk = api.post(
        f"/workspaces/{target['id']}/delegate",
        json_body={"task": "from the sdk"},
        headers={"X-Workspace-ID": sdk["id"]},
        token=sdk["token"],
    )
    by_cli = api.post(
        f"/workspaces/{plugin['id']}/delegate", json_body={"target_id": target["id"], "task": "from the cli"}, token=dev
    )

    for answer in (by_plugin, by_sdk, by_cli):
        assert answer.status == 202, answer.text
        assert set(answer.json()) == {"delegation_id", "status", "target_id"}
        assert answer.json()["status"] == "delegated" and answer.json()["target_id"] == target["id"]
    stored = {
        row["task"]: (str(row["source_id"]), str(row["target_id"]))
        for row in _rows(database, "SELECT task, source_id, target_id FROM delegations")
    }
    assert stored == {
        "from the plugin": (plugin["id"], target["id"]),
        "from the sdk": (sdk["id"], target["id"]),
        "from the cli": (plugin["id"], target["id"]),
    }
    # the plugin reads its delegations back by delegation_id (its check_task_status)
    listed = api.get(f"/workspaces/{plugin['id']}/delegations", token=plugin["token"]).json()
    assert by_plugin.json()["delegation_id"] in {row["delegation_id"] for row in listed}
    # the SDK's delegation is the SDK workspace's, not the target's
    assert [row["summary"] for row in api.get(f"/workspaces/{sdk['id']}/delegations", token=sdk["token"]).json()] == [
        "from the sdk"
    ]
    assert api.get(f"/workspaces/{target['id']}/delegations", token=target["token"]).json() == []


def test_the_sdk_form_with_a_target_id_other_than_the_path_is_refused(api: ApiClient, dev: str) -> None:
    sdk, target, elsewhere = (_workspace(api, dev, name) for name in ("sdk", "target", "elsewhere"))

    answer = api.post(
        f"/workspaces/{target['id']}/delegate",
        json_body={"target_id": elsewhere["id"], "task": "x"},
        headers={"X-Workspace-ID": sdk["id"]},
        token=sdk["token"],
    )

    assert answer.status == 401


# --- idempotency ---------------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_answers_the_existing_delegation(api: ApiClient, dev: str, database: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")

    first = _delegate(api, delegator, target, "once", idempotency_key="k-1")
    again = _delegate(api, delegator, target, "once", idempotency_key="k-1")

    assert first.status == 202 and again.status == 200
    assert again.json() == {
        "delegation_id": first.json()["delegation_id"],
        "status": "queued",  # the target is in poll mode: the task waits in its inbox
        "target_id": target["id"],
        "idempotent_hit": True,
    }
    assert len(_rows(database, "SELECT id FROM delegations")) == 1
    inbox = _rows(database, "SELECT id FROM activity_logs WHERE workspace_id = %s", target["id"])
    assert len(inbox) == 1  # handed over once


def test_the_same_key_of_another_delegator_is_another_delegation(api: ApiClient, dev: str) -> None:
    one, two, target = (_workspace(api, dev, name) for name in ("one", "two", "target"))

    first = _delegate(api, one, target, "x", idempotency_key="shared")
    second = _delegate(api, two, target, "x", idempotency_key="shared")

    assert (first.status, second.status) == (202, 202)
    assert first.json()["delegation_id"] != second.json()["delegation_id"]


def test_a_failed_delegation_is_replaced_by_the_next_request_with_its_key(
    api: ApiClient, dev: str, database: str
) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")
    first = _delegate(api, delegator, target, "try", idempotency_key="k-f").json()["delegation_id"]
    failed = api.post(
        f"/workspaces/{delegator['id']}/delegations/{first}/update",
        json_body={"status": "failed", "error": "gave up"},
        token=delegator["token"],
    )
    assert failed.status == 200

    retried = _delegate(api, delegator, target, "try again", idempotency_key="k-f")

    assert retried.status == 202 and retried.json()["delegation_id"] != first
    statuses = {row["delegation_id"]: row["status"] for row in _rows(database, "SELECT * FROM delegations")}
    assert statuses == {first: "failed", retried.json()["delegation_id"]: "queued"}


def test_concurrent_requests_with_one_key_make_one_delegation(api: ApiClient, dev: str, database: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")
    answers: list[Any] = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        answers.append(_delegate(api, delegator, target, "race", idempotency_key="k-race"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer.status for answer in answers) == [200, 200, 200, 202]
    assert len({answer.json()["delegation_id"] for answer in answers}) == 1
    assert len(_rows(database, "SELECT id FROM delegations")) == 1


# --- push targets: the A2A queue and its drain ------------------------------------------------------------


def test_a_push_targets_task_rides_the_a2a_queue_and_the_drains_answer_completes_it(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    delegator = _workspace(api, dev, "delegator")
    target = _push(api, dev, agent.url, card={"name": "t", "url": agent.url, "protocolVersion": "0.3.0"})

    answer = _delegate(api, delegator, target, "summarise the report")

    assert answer.status == 202
    delegation_id = answer.json()["delegation_id"]
    assert agent.received == []  # never dispatched inside the request
    (queued,) = _rows(database, "SELECT * FROM a2a_queue")
    message = queued["body"]["params"]["message"]
    assert (queued["method"], str(queued["workspace_id"]), str(queued["caller_id"])) == (
        "message/send",
        target["id"],
        delegator["id"],
    )
    assert message["role"] == "user" and message["messageId"] == delegation_id
    assert message["parts"] == [{"kind": "text", "text": "summarise the report"}]
    assert message["metadata"] == {"delegation_id": delegation_id}
    pending = _get(api, delegator, delegation_id)
    assert pending["status"] == "dispatched" and pending["queue_id"] == str(queued["id"])

    drain_until_empty(sqs)

    done = _get(api, delegator, delegation_id)
    assert done["status"] == "completed" and done["result"] == "echo: summarise the report"
    assert done["response_preview"] == "echo: summarise the report"
    assert done["created_at"] <= done["dispatched_at"] <= done["finished_at"]
    assert agent.received[0].headers["x-source-workspace-id"] == delegator["id"]
    assert _events(database, delegator["id"]) == [
        ("DELEGATION_SENT", "pending"),
        ("DELEGATION_STATUS", "dispatched"),
        ("DELEGATION_COMPLETE", "completed"),
    ]
    assert _feed(database, delegator["id"]) == [
        ("delegate", "pending"),
        ("delegate_status", "dispatched"),
        ("delegate_result", "completed"),
    ]


def test_a_1_0_agent_gets_send_message_and_its_answer_completes_the_delegation(
    api: ApiClient, dev: str, database: str, sqs: Any
) -> None:
    delegator = _workspace(api, dev, "delegator")
    with sdk_agent(("1.0",), "message") as agent:
        target = _push(api, dev, agent.url, card=agent.card())
        delegation_id = _delegate(api, delegator, target, "in one oh").json()["delegation_id"]
        (queued,) = _rows(database, "SELECT * FROM a2a_queue")

        drain_until_empty(sqs)

        seen = agent.received(delegation_id)
    assert queued["method"] == "SendMessage" and queued["protocol_version"] == "1.0"
    assert queued["body"]["params"]["message"]["role"] == "ROLE_USER"
    assert queued["body"]["params"]["message"]["parts"] == [{"text": "in one oh"}]
    assert [(s.method, s.version) for s in seen] == [("SendMessage", "1.0")]
    done = _get(api, delegator, delegation_id)
    assert (done["status"], done["result"]) == ("completed", "echo: in one oh")


def test_a_task_answer_completes_the_delegation_with_its_artifacts_text(api: ApiClient, dev: str, sqs: Any) -> None:
    delegator = _workspace(api, dev, "delegator")
    with sdk_agent(("0.3",), "task") as agent:
        target = _push(api, dev, agent.url, card=agent.card())
        delegation_id = _delegate(api, delegator, target, "make a thing").json()["delegation_id"]
        drain_until_empty(sqs)
        assert [s.method for s in agent.received(delegation_id)] == ["message/send"]

    done = _get(api, delegator, delegation_id)
    assert (done["status"], done["result"]) == ("completed", "echo: make a thing")


def test_a_json_rpc_error_answer_fails_the_delegation(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    agent.raw_body = b'{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"no such method"}}'
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, agent.url)
    delegation_id = _delegate(api, delegator, target, "impossible").json()["delegation_id"]

    drain_until_empty(sqs)

    failed = _get(api, delegator, delegation_id)
    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["error"] == "agent answered JSON-RPC error -32601: no such method"
    listed = api.get(f"/workspaces/{delegator['id']}/delegations", token=delegator["token"]).json()
    assert listed[0]["error"] == failed["error"] and "response_preview" not in listed[0]
    assert _events(database, delegator["id"])[-1] == ("DELEGATION_FAILED", "failed")


def test_a_target_that_never_answers_fails_the_delegation_once_the_queue_gives_up(
    api: ApiClient, dev: str, database: str, sqs: Any, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, A2A_QUEUE_MAX_ATTEMPTS="2")
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, closed_port_url())
    delegation_id = _delegate(api, delegator, target, "hello?").json()["delegation_id"]

    drain_until_empty(sqs)

    failed = _get(api, delegator, delegation_id)
    assert failed["status"] == "failed" and failed["error"].startswith("not delivered: unreachable")
    assert [event for event, _ in _events(database, delegator["id"])].count("DELEGATION_FAILED") == 1


def test_a_target_that_is_down_then_back_gets_the_task_once_and_completes_it(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    agent.mode, agent.status = "status", 503  # the target's agent answers 503: down
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, agent.url)
    delegation_id = _delegate(api, delegator, target, "when you are back").json()["delegation_id"]

    refused = queue_tests.drain_round(sqs, queue_tests.receive(sqs, 1))

    assert len(refused) == 1  # SQS brings it back after its back-off
    assert _get(api, delegator, delegation_id)["status"] == "dispatched"
    agent.mode = "echo"  # back
    client = sqs.client()
    client.change_message_visibility(
        QueueUrl=sqs.queue_urls["A2aQueue"], ReceiptHandle=refused[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    drain_until_empty(sqs)

    done = _get(api, delegator, delegation_id)
    assert (done["status"], done["result"]) == ("completed", "echo: when you are back")
    assert len(agent.received) == 2 and agent.received[0].body == agent.received[1].body  # the same message again
    receipts = _rows(database, "SELECT status FROM activity_logs WHERE workspace_id = %s", target["id"])
    assert [row["status"] for row in receipts] == ["ok"]  # delivered once
    assert [event for event, _ in _events(database, delegator["id"])].count("DELEGATION_COMPLETE") == 1


def test_a_target_removed_before_delivery_fails_the_delegation(
    api: ApiClient, dev: str, agent: ScriptedAgent, sqs: Any
) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, agent.url)
    delegation_id = _delegate(api, delegator, target, "too late").json()["delegation_id"]
    assert api.delete(f"/workspaces/{target['id']}", token=dev).status == 200

    drain_until_empty(sqs)

    failed = _get(api, delegator, delegation_id)
    assert (failed["status"], failed["error"]) == ("failed", "target workspace removed")
    assert agent.received == []


def test_a_task_still_under_way_is_not_a_result_and_the_targets_later_reply_completes_it(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    agent.raw_body = (
        b'{"jsonrpc":"2.0","id":"x","result":{"kind":"task","id":"t-1","contextId":"c-1","status":{"state":"working"}}}'
    )
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, agent.url)
    delegation_id = _delegate(api, delegator, target, "long job").json()["delegation_id"]

    drain_until_empty(sqs)

    assert _get(api, delegator, delegation_id)["status"] == "queued"
    reply = api.post(
        f"/workspaces/{delegator['id']}/a2a", json_body=_reply("long job done", delegation_id), token=target["token"]
    )
    assert reply.status == 200  # the delegator is in poll mode: the reply is in its inbox
    done = _get(api, delegator, delegation_id)
    assert (done["status"], done["result"]) == ("completed", "long job done")


# --- poll targets: the inbox and the reply through the proxy ------------------------------------------------


@pytest.mark.parametrize("version", ["0.3", "1.0"])
def test_a_poll_targets_reply_through_the_proxy_completes_the_delegation(
    api: ApiClient, dev: str, database: str, version: str
) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "poller")

    answer = _delegate(api, delegator, target, "look into it")

    delegation_id = answer.json()["delegation_id"]
    assert answer.status == 202
    assert _get(api, delegator, delegation_id)["status"] == "queued"
    inbox = api.get(f"/workspaces/{target['id']}/activity?type=a2a_receive", token=target["token"])
    (row,) = inbox.json()
    assert row["source_id"] == delegator["id"] and row["data"]["text"] == "look into it"
    assert row["request_body"]["params"]["message"]["metadata"] == {"delegation_id": delegation_id}
    assert row["request_body"]["params"]["message"]["messageId"] == delegation_id

    reply = api.post(
        f"/workspaces/{delegator['id']}/a2a",
        json_body=_reply("found it", delegation_id, version),
        token=target["token"],
    )

    assert reply.status == 200
    done = _get(api, delegator, delegation_id)
    assert (done["status"], done["result"]) == ("completed", "found it")
    assert _events(database, delegator["id"]) == [
        ("DELEGATION_SENT", "pending"),
        ("DELEGATION_STATUS", "queued"),
        ("DELEGATION_COMPLETE", "completed"),
    ]


def test_a_reply_from_anyone_but_the_target_is_delivered_and_changes_nothing(
    api: ApiClient, dev: str, database: str
) -> None:
    delegator, target, bystander = (_workspace(api, dev, name) for name in ("delegator", "poller", "bystander"))
    delegation_id = _delegate(api, delegator, target, "only you").json()["delegation_id"]

    forged = api.post(
        f"/workspaces/{delegator['id']}/a2a", json_body=_reply("not me", delegation_id), token=bystander["token"]
    )
    elsewhere = api.post(
        f"/workspaces/{bystander['id']}/a2a", json_body=_reply("wrong way", delegation_id), token=target["token"]
    )

    assert (forged.status, elsewhere.status) == (200, 200)  # both delivered as messages
    assert _get(api, delegator, delegation_id)["status"] == "queued"
    assert [event for event, _ in _events(database, delegator["id"])] == ["DELEGATION_SENT", "DELEGATION_STATUS"]


def test_a_second_reply_changes_nothing(api: ApiClient, dev: str, database: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "poller")
    delegation_id = _delegate(api, delegator, target, "once").json()["delegation_id"]

    for text in ("first answer", "second answer"):
        assert (
            api.post(
                f"/workspaces/{delegator['id']}/a2a", json_body=_reply(text, delegation_id), token=target["token"]
            ).status
            == 200
        )

    assert _get(api, delegator, delegation_id)["result"] == "first answer"
    assert [event for event, _ in _events(database, delegator["id"])].count("DELEGATION_COMPLETE") == 1


# --- record and update ------------------------------------------------------------------------------------


def test_a_recorded_delegation_is_idempotent_and_the_agent_closes_it(api: ApiClient, dev: str, database: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")
    body = {"target_id": target["id"], "task": "I sent this myself", "delegation_id": "task-7f3"}
    base = f"/workspaces/{delegator['id']}/delegations"

    first = api.post(f"{base}/record", json_body=body, token=delegator["token"])
    again = api.post(f"{base}/record", json_body=body, token=delegator["token"])

    assert (first.status, again.status) == (202, 202)
    assert first.json() == again.json() == {"delegation_id": "task-7f3", "status": "recorded"}
    assert _get(api, delegator, "task-7f3")["status"] == "dispatched"
    assert _get(api, delegator, "task-7f3")["origin"] == "agent"

    closed = api.post(
        f"{base}/task-7f3/update",
        json_body={"status": "completed", "response_preview": "it worked"},
        token=delegator["token"],
    )

    assert closed.status == 200 and closed.json() == {"status": "completed", "delegation_id": "task-7f3"}
    assert _get(api, delegator, "task-7f3")["result"] == "it worked"
    assert _events(database, delegator["id"]) == [
        ("DELEGATION_SENT", "dispatched"),
        ("DELEGATION_COMPLETE", "completed"),
    ]


def test_update_answers_404_for_an_unknown_delegation_and_409_for_another_final_status(
    api: ApiClient, dev: str
) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "target")
    base = f"/workspaces/{delegator['id']}/delegations"
    body = {"target_id": target["id"], "task": "t", "delegation_id": "d-1"}
    assert api.post(f"{base}/record", json_body=body, token=delegator["token"]).status == 202
    failed = {"status": "failed", "error": "no"}
    assert api.post(f"{base}/d-1/update", json_body=failed, token=delegator["token"]).status == 200

    unknown = api.post(f"{base}/nope/update", json_body=failed, token=delegator["token"])
    same = api.post(f"{base}/d-1/update", json_body=failed, token=delegator["token"])
    other = api.post(f"{base}/d-1/update", json_body={"status": "completed"}, token=delegator["token"])
    invalid = api.post(f"{base}/d-1/update", json_body={"status": "done"}, token=delegator["token"])

    assert unknown.status == 404 and unknown.json() == {"error": "delegation not found"}
    assert same.status == 200
    assert other.status == 409 and other.json()["status"] == "failed"
    assert invalid.status == 400 and invalid.json()["field"] == "status"


def test_record_validates_its_body(api: ApiClient, dev: str) -> None:
    delegator = _workspace(api, dev, "delegator")
    base = f"/workspaces/{delegator['id']}/delegations/record"

    bad_target = api.post(base, json_body={"target_id": "x", "task": "t", "delegation_id": "d"}, token=dev)
    no_id = api.post(base, json_body={"target_id": str(uuid.uuid4()), "task": "t"}, token=dev)
    no_task = api.post(base, json_body={"target_id": str(uuid.uuid4()), "delegation_id": "d"}, token=dev)
    unknown = api.post(
        f"/workspaces/{uuid.uuid4()}/delegations/record",
        json_body={"target_id": str(uuid.uuid4()), "task": "t", "delegation_id": "d"},
        token=dev,
    )

    assert bad_target.status == 400 and bad_target.json()["error"] == "target_id must be a valid UUID"
    assert no_id.status == 400 and no_id.json()["field"] == "delegation_id"
    assert no_task.status == 400 and no_task.json()["field"] == "task"
    assert unknown.status == 404


# --- reading ---------------------------------------------------------------------------------------------


def test_the_list_is_newest_first_in_the_channel_plugins_shape_and_filters_by_status(api: ApiClient, dev: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "poller")
    first = _delegate(api, delegator, target, "first task").json()["delegation_id"]
    second = _delegate(api, delegator, target, "second task").json()["delegation_id"]
    api.post(f"/workspaces/{delegator['id']}/a2a", json_body=_reply("x" * 400, first), token=target["token"])
    path = f"/workspaces/{delegator['id']}/delegations"

    listed = api.get(path, token=delegator["token"]).json()
    completed = api.get(f"{path}?status=completed", token=delegator["token"]).json()
    bogus = api.get(f"{path}?status=done", token=delegator["token"])
    unknown = api.get(f"/workspaces/{uuid.uuid4()}/delegations", token=dev)

    assert [row["delegation_id"] for row in listed] == [second, first]
    assert set(listed[0]) == {
        "id",
        "type",
        "delegation_id",
        "source_id",
        "target_id",
        "summary",
        "status",
        "created_at",
    }
    assert listed[0]["type"] == "delegation" and listed[0]["summary"] == "second task"
    assert listed[1]["response_preview"] == "x" * 300
    assert [row["delegation_id"] for row in completed] == [first]
    assert bogus.status == 400 and bogus.json()["field"] == "status"
    assert unknown.status == 404


def test_a_delegation_is_read_only_by_its_delegators_path(api: ApiClient, dev: str) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _workspace(api, dev, "poller")
    delegation_id = _delegate(api, delegator, target, "mine").json()["delegation_id"]

    by_target_path = api.get(f"/workspaces/{target['id']}/delegations/{delegation_id}", token=target["token"])
    by_other_token = api.get(f"/workspaces/{delegator['id']}/delegations/{delegation_id}", token=target["token"])

    assert by_target_path.status == 404
    assert by_other_token.status == 401


# --- metrics ------------------------------------------------------------------------------------------


def test_delegations_are_counted_as_emf_metrics(
    api: ApiClient, dev: str, agent: ScriptedAgent, sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, agent.url)
    capsys.readouterr()

    _delegate(api, delegator, target, "count me", idempotency_key="k")
    _delegate(api, delegator, target, "count me", idempotency_key="k")
    drain_until_empty(sqs)

    counted = emf_metrics(capsys.readouterr().out)
    assert sorted(name for name in counted if name.startswith("Delegations")) == [
        "DelegationsCompleted",
        "DelegationsCreated",
        "DelegationsIdempotentHits",
    ]


# --- tasks whose queue message ended unanswered ---------------------------------------------------------


def _outbox_sweep() -> dict[str, int]:
    return dict(FunctionRegistry().invoke("A2aOutboxSweepFunction", {}))


def _dispatched(api: ApiClient, dev: str, agent: ScriptedAgent, database: str) -> tuple[dict[str, Any], str, str]:
    """A delegation on the A2A queue, not yet drained: (delegator, delegation id, queue row id)."""
    delegator, target = _workspace(api, dev, "delegator"), _push(api, dev, agent.url)
    delegation_id = _delegate(api, delegator, target, "do it").json()["delegation_id"]
    (row,) = _rows(database, "SELECT id FROM a2a_queue")
    return delegator, delegation_id, str(row["id"])


def _set_queue_row(database: str, queue_id: str, assignment: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"UPDATE a2a_queue SET {assignment} WHERE id = %s", (queue_id,))


def test_a_task_whose_queue_message_expired_fails_its_delegation_at_the_next_sweep(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    delegator, delegation_id, queue_id = _dispatched(api, dev, agent, database)
    _set_queue_row(database, queue_id, "expires_at = now() - interval '1 second'")

    swept = _outbox_sweep()
    drain_until_empty(sqs)  # the message's final row is acknowledged, never delivered

    failed = _get(api, delegator, delegation_id)
    assert swept["expired"] == 1 and swept["delegations_failed"] == 1
    assert failed["status"] == "failed" and failed["finished_at"]
    assert failed["error"] == "never answered: its A2A queue message expired: expired before delivery"
    assert agent.received == []
    assert _events(database, delegator["id"])[-1] == ("DELEGATION_FAILED", "failed")
    assert _feed(database, delegator["id"])[-1] == ("delegate_result", "failed")


def test_a_task_an_operator_dropped_fails_its_delegation(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    delegator, delegation_id, queue_id = _dispatched(api, dev, agent, database)
    _set_queue_row(database, queue_id, "enqueued_at = now() - interval '2 hours'")
    assert api.post("/admin/a2a-queue/drop-stale?max_age_minutes=60", token=dev).json() == {"dropped": 1}

    assert _outbox_sweep()["delegations_failed"] == 1

    failed = _get(api, delegator, delegation_id)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("never answered: its A2A queue message dropped: dropped by an operator")


def test_a_failed_message_whose_drain_died_before_closing_the_delegation_fails_it(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    delegator, delegation_id, queue_id = _dispatched(api, dev, agent, database)
    _set_queue_row(database, queue_id, "status = 'failed', last_error = 'HTTP 500'")  # the drain's write, then it died

    assert _outbox_sweep()["delegations_failed"] == 1
    assert _outbox_sweep()["delegations_failed"] == 0  # a final status is never left again

    failed = _get(api, delegator, delegation_id)
    assert (failed["status"], failed["error"]) == ("failed", "never answered: its A2A queue message failed: HTTP 500")
    assert [event for event, _ in _events(database, delegator["id"])].count("DELEGATION_FAILED") == 1


def test_the_sweep_leaves_delegations_whose_message_is_still_on_its_way_or_answered(
    api: ApiClient, dev: str, database: str, agent: ScriptedAgent, sqs: Any
) -> None:
    delegator, waiting, _ = _dispatched(api, dev, agent, database)

    assert _outbox_sweep()["delegations_failed"] == 0
    assert _get(api, delegator, waiting)["status"] == "dispatched"

    drain_until_empty(sqs)
    assert _outbox_sweep()["delegations_failed"] == 0
    assert _get(api, delegator, waiting)["status"] == "completed"
