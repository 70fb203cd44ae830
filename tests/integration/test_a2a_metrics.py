"""What an on-call engineer graphs (SPEC §5.15, issue 18): every proxied message counts its
outcome once as an EMF metric, the A2A queue counts its depth, its drain's outcomes and the time a
message waited, and the sweeps count what they did. Read from what the functions flush to stdout,
as CloudWatch would."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from molecule_core.platform import deferred, observability
from molecule_local.lambdas import FunctionRegistry

from tests.agents import ScriptedAgent, closed_port_url
from tests.conftest import ApiClient, RecordingDispatcher, create_workspace, emf_metrics, set_env
from tests.integration import test_a2a_queue as queue_tests

sqs = queue_tests.sqs  # the template's queues on moto (a fixture)
OUTCOMES = {"A2ADelivered", "A2AInbox", "A2AQueued", "A2ABusy", "A2ARestarting", "A2ATimeout", "A2AFailed"}


def send(message_id: str = "m-1") -> dict[str, Any]:
    message = {"role": "user", "messageId": message_id, "parts": [{"kind": "text", "text": "count me"}]}
    return {"jsonrpc": "2.0", "id": "r-1", "method": "message/send", "params": {"message": message}}


def push_target(api: ApiClient, token: str, url: str) -> str:
    created = create_workspace(api, token, name="target", external=True, url=url)
    api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=token)
    return str(created["id"])


def outcomes(output: str) -> dict[str, list[float]]:
    return {name: values for name, values in emf_metrics(output).items() if name in OUTCOMES}


def test_a_delivered_message_counts_as_delivered(
    api: ApiClient, dev: str, agent: ScriptedAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    target = push_target(api, dev, agent.url)
    capsys.readouterr()

    assert api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev).status == 200

    assert outcomes(capsys.readouterr().out) == {"A2ADelivered": [1.0]}


def test_a_message_is_counted_in_its_own_invocations_metrics_when_they_are_published_after_the_answer(
    api: ApiClient, dev: str, agent: ScriptedAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the local HTTP server and the streaming runtime answer: the metrics are published once the
    # answer is sent (a streamed one relayed to its end), with what its receipt counted.
    target = push_target(api, dev, agent.url)
    agent.content_type = "text/event-stream"
    agent.raw_body = b'data: {"jsonrpc":"2.0","id":"r-1","result":{"kind":"status-update","final":true}}\n\n'
    capsys.readouterr()
    body = json.dumps({**send(), "method": "message/stream"}).encode()
    headers = {"authorization": f"Bearer {dev}", "content-type": "application/json"}

    with deferred.after_answer():
        streamed = api.gateway.handle("POST", f"/workspaces/{target}/a2a", headers, body, stream=True)
        assert streamed.status == 200 and streamed.chunks is not None
        relayed = b"".join(streamed.chunks)
        answered = outcomes(capsys.readouterr().out)

    assert relayed == agent.raw_body and answered == {}  # nothing published before the answer ended
    assert outcomes(capsys.readouterr().out) == {"A2ADelivered": [1.0]}
    assert observability.metrics.metric_set == {}  # nothing left for the next invocation


def test_a_poll_targets_message_counts_as_inbox(api: ApiClient, dev: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = create_workspace(api, dev, name="poller", external=True)["id"]
    capsys.readouterr()

    assert api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev).status == 200

    assert outcomes(capsys.readouterr().out) == {"A2AInbox": [1.0]}


def test_respond_async_counts_as_queued_and_the_queue_depth_is_recorded(
    api: ApiClient, dev: str, agent: ScriptedAgent, sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    target = push_target(api, dev, agent.url)
    capsys.readouterr()

    for n in (1, 2):
        result = api.post(
            f"/workspaces/{target}/a2a", json_body=send(f"m-{n}"), token=dev, headers={"Prefer": "respond-async"}
        )
        assert result.status == 202

    counted = emf_metrics(capsys.readouterr().out)
    assert counted["A2AQueued"] == [1.0, 1.0]
    assert counted["A2AQueueDepth"] == [1.0, 2.0]  # the target's active rows after each


def test_an_agent_that_hangs_up_counts_as_busy(
    api: ApiClient, dev: str, agent: ScriptedAgent, sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    target = push_target(api, dev, agent.url)
    agent.mode = "close"
    capsys.readouterr()

    assert api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev).status == 202

    assert outcomes(capsys.readouterr().out) == {"A2ABusy": [1.0]}


def test_a_hibernated_target_counts_as_restarting(
    api: ApiClient,
    dev: str,
    agent: ScriptedAgent,
    database: str,
    dispatcher: RecordingDispatcher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = push_target(api, dev, agent.url)
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET status = 'hibernated' WHERE id = %s", (target,))
    capsys.readouterr()

    assert api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev).status == 503

    assert outcomes(capsys.readouterr().out) == {"A2ARestarting": [1.0]}


def test_a_silent_agent_counts_as_timeout(
    api: ApiClient,
    dev: str,
    agent: ScriptedAgent,
    platform_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_env(platform_env, A2A_PUSH_TIMEOUT_SECONDS="0.3")
    target = push_target(api, dev, agent.url)
    agent.mode = "slow"
    capsys.readouterr()

    status = api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev).status
    agent.release.set()

    assert status == 504
    assert outcomes(capsys.readouterr().out) == {"A2ATimeout": [1.0]}


def test_an_unreachable_agent_counts_as_failed(api: ApiClient, dev: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = push_target(api, dev, closed_port_url())
    capsys.readouterr()

    assert api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev).status == 502

    assert outcomes(capsys.readouterr().out) == {"A2AFailed": [1.0]}


def test_the_drain_counts_deliveries_and_how_long_each_message_waited(
    api: ApiClient, dev: str, agent: ScriptedAgent, sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    target = push_target(api, dev, agent.url)
    for n in (1, 2):
        api.post(f"/workspaces/{target}/a2a", json_body=send(f"m-{n}"), token=dev, headers={"Prefer": "respond-async"})
    capsys.readouterr()

    queue_tests.drain_until_empty(sqs)

    counted = emf_metrics(capsys.readouterr().out)
    assert sum(counted["A2AQueueDelivered"]) == 2
    assert len(counted["A2AQueueLatency"]) == 2 and all(ms > 0 for ms in counted["A2AQueueLatency"])
    assert "A2AQueueFailed" not in counted and "A2AQueueRetried" not in counted


def test_the_drain_counts_a_retry_and_a_failure_for_good(
    api: ApiClient,
    dev: str,
    agent: ScriptedAgent,
    sqs: Any,
    platform_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_env(platform_env, A2A_QUEUE_MAX_ATTEMPTS="2")
    target = push_target(api, dev, agent.url)
    api.post(f"/workspaces/{target}/a2a", json_body=send(), token=dev, headers={"Prefer": "respond-async"})
    agent.mode, agent.status = "status", 503  # the agent keeps failing
    capsys.readouterr()

    queue_tests.drain_until_empty(sqs)

    counted = emf_metrics(capsys.readouterr().out)
    assert sum(counted["A2AQueueRetried"]) == 1
    assert sum(counted["A2AQueueFailed"]) == 1
    assert "A2AQueueDelivered" not in counted


def test_each_sweep_counts_what_it_did(capsys: pytest.CaptureFixture[str], database: str) -> None:
    functions = FunctionRegistry()
    capsys.readouterr()

    for name in (
        "LivenessSweepFunction",
        "HibernationSweepFunction",
        "A2aOutboxSweepFunction",
        "ActivityRetentionFunction",
    ):
        functions.invoke(name, {})

    counted = set(emf_metrics(capsys.readouterr().out))
    assert {"LivenessSweepOffline", "LivenessSweepAwaitingAgent", "HibernationSweepHibernating"} <= counted
    assert {"A2AOutboxSweepExpired", "A2AOutboxSweepRescued", "A2AOutboxSweepRepublished"} <= counted
    assert {"RetentionSweepDeleted", "RetentionSweepExpiredMemory"} <= counted


def test_with_metrics_disabled_nothing_is_kept_between_invocations(
    api: ApiClient, dev: str, platform_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """`make run` disables metrics: Powertools then prints nothing yet keeps every value, and would
    dump a hundred of them in one line at the hundredth. Each invocation forgets its own."""
    set_env(platform_env, POWERTOOLS_METRICS_DISABLED="true")
    functions = FunctionRegistry()
    capsys.readouterr()

    for _ in range(3):
        create_workspace(api, dev, name="counted", external=True)
        functions.invoke("LivenessSweepFunction", {})

    assert observability.metrics.metric_set == {}
    assert emf_metrics(capsys.readouterr().out) == {}
