"""The pure rules of delegations (SPEC §5.10): what an agent's answer means for a delegation in
A2A 0.3 and 1.0, who delegates to whom in each client's form, the send request a delegated task
becomes in each version, how a delegation_id is found in a message — and that neither the drain
nor the proxy loads the delegations domain before a message needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from molecule_core.a2a.normalize import normalize_a2a_request
from molecule_core.a2a.queue import delegation_id
from molecule_core.a2a.versions import message_send, preferred_version
from molecule_core.auth.models import Caller
from molecule_core.delegations.intake import require_task, resolve_parties
from molecule_core.delegations.replies import Reading, read_answer
from molecule_core.platform.errors import InvalidInput, Unauthorized

REPO = Path(__file__).resolve().parents[2]


def _rpc(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": "d-1", "result": result}


ANSWERS: list[tuple[str, Any, Reading]] = [
    ("0.3 message", _rpc({"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "done"}]}),
     Reading("completed", text="done")),
    ("0.3 message, two text parts and a file", _rpc({"kind": "message", "parts": [
        {"kind": "text", "text": "a"}, {"kind": "file", "file": {"uri": "x"}}, {"type": "text", "text": "b"}]}),
     Reading("completed", text="a\nb")),
    ("1.0 message", _rpc({"message": {"role": "ROLE_AGENT", "parts": [{"text": "done"}]}}),
     Reading("completed", text="done")),
    ("0.3 completed task: artifacts", _rpc({"kind": "task", "status": {"state": "completed"},
        "artifacts": [{"parts": [{"kind": "text", "text": "one"}]}, {"parts": [{"kind": "text", "text": "two"}]}]}),
     Reading("completed", text="one\ntwo")),
    ("1.0 completed task: artifacts", _rpc({"task": {"status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"parts": [{"text": "made"}]}]}}),
     Reading("completed", text="made")),
    ("completed task without artifacts: its status message", _rpc({"kind": "task", "status": {
        "state": "completed", "message": {"parts": [{"kind": "text", "text": "said so"}]}}}),
     Reading("completed", text="said so")),
    ("0.3 failed task", _rpc({"kind": "task", "status": {"state": "failed",
        "message": {"parts": [{"kind": "text", "text": "disk full"}]}}}),
     Reading("failed", error="disk full")),
    ("1.0 rejected task", _rpc({"task": {"status": {"state": "TASK_STATE_REJECTED"}}}),
     Reading("failed", error="the agent's task ended TASK_STATE_REJECTED")),
    ("0.3 working task: not a result", _rpc({"kind": "task", "status": {"state": "working"}}), Reading("queued")),
    ("1.0 input required: not a result", _rpc({"task": {"status": {"state": "TASK_STATE_INPUT_REQUIRED"}}}),
     Reading("queued")),
    ("the platform's own queued answer: not a result", {"status": "queued", "delivery_mode": "poll",
        **_rpc({"kind": "task", "id": "i", "contextId": "i", "status": {"state": "submitted"}})},
     Reading("queued")),
    ("JSON-RPC error", {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "boom"}},
     Reading("failed", error="agent answered JSON-RPC error -32603: boom")),
    ("NUL in the text is dropped", _rpc({"kind": "message", "parts": [{"kind": "text", "text": "a\x00b"}]}),
     Reading("completed", text="ab")),
    ("not JSON", None, Reading("completed", text="")),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "expected"), [(a, e) for _, a, e in ANSWERS], ids=[n for n, _, _ in ANSWERS])
def test_an_answer_reads_as_a_delegation_outcome(answer: Any, expected: Reading) -> None:
    assert read_answer(answer) == expected


# --- who delegates to whom ---------------------------------------------------------------------------

PATH, SELF, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def test_the_delegators_own_path_with_a_target_id_delegates_from_the_path() -> None:
    for caller in (Caller("workspace", workspace_id=PATH), Caller("admin"), Caller("org"), Caller("anonymous")):
        parties = resolve_parties(PATH, caller, str(OTHER))
        assert (parties.delegator_id, parties.target_id) == (PATH, OTHER)


def test_the_sdks_form_makes_the_path_the_target_and_the_caller_the_delegator() -> None:
    caller = Caller("workspace", workspace_id=SELF)
    for target_id in (None, "", str(PATH)):
        parties = resolve_parties(PATH, caller, target_id)
        assert (parties.delegator_id, parties.target_id) == (SELF, PATH)


def test_another_workspaces_caller_naming_a_third_target_is_refused() -> None:
    with pytest.raises(Unauthorized):
        resolve_parties(PATH, Caller("workspace", workspace_id=SELF), str(OTHER))


@pytest.mark.parametrize("target_id", [None, "", "nope", 7, str(PATH)], ids=repr)
def test_a_target_that_is_not_another_workspace_is_refused(target_id: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_parties(PATH, Caller("admin"), target_id)
    assert refused.value.extra["field"] == "target_id"
    expected = "self-delegation not permitted" if target_id == str(PATH) else "target_id must be a valid UUID"
    assert refused.value.message == expected


def test_a_task_must_say_something() -> None:
    assert require_task(" do it ") == " do it "
    for task in (None, "", " \n"):
        with pytest.raises(InvalidInput):
            require_task(task)


# --- the send request a task becomes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "version", "method"),
    [
        ({"name": "a", "url": "http://a", "protocolVersion": "0.3.0"}, "0.3", "message/send"),
        ({"supportedInterfaces": [{"protocolBinding": "JSONRPC", "protocolVersion": "1.0", "url": "u"}]}, "1.0",
         "SendMessage"),
        ({"supportedInterfaces": [{"protocolVersion": "0.3", "url": "u"}, {"protocolVersion": "1.0", "url": "u"}]},
         "1.0", "SendMessage"),
        (None, "0.3", "message/send"),
    ],
    ids=["0.3 card", "1.0 card", "both", "no card"],
)  # fmt: skip
def test_a_task_becomes_a_send_in_the_agents_version_that_its_own_normaliser_accepts(
    card: Any, version: str, method: str
) -> None:
    from molecule_core.a2a.versions import agent_versions

    chosen = preferred_version(agent_versions(card))
    request = message_send(chosen, "do it", "d-7", {"delegation_id": "d-7"})

    normalized = normalize_a2a_request(request, chosen)
    assert (chosen, normalized.method, normalized.message_id, normalized.text) == (version, method, "d-7", "do it")
    assert normalized.payload == request  # written exactly as the version wants it: nothing to rewrite
    assert delegation_id(request) == "d-7"
    assert request["params"]["message"]["role"] == ("ROLE_USER" if version == "1.0" else "user")


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ({"params": {"message": {"metadata": {"delegation_id": "a"}}}}, "a"),
        ({"params": {"message": {}, "metadata": {"delegation_id": "b"}}}, "b"),
        ({"params": {"message": {"metadata": {"delegation_id": 12}}}}, "12"),
        ({"params": {"message": {"metadata": {"delegation_id": True}}}}, None),
        ({"params": {"message": {"metadata": {"delegation_id": ""}}}}, None),
        ({"params": {"message": {"metadata": "x"}}}, None),
        ({"params": []}, None),
        ([], None),
    ],
)
def test_a_delegation_id_is_read_from_the_message_or_params_metadata(body: Any, found: str | None) -> None:
    assert delegation_id(body) == found


# --- cold starts ------------------------------------------------------------------------------------------

PROBE = """
import importlib.util, json, sys
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("app_" + str(abs(hash(path))), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(json.dumps(sorted(name for name in sys.modules if name.startswith("molecule_core.delegations"))))
"""


def test_the_drain_and_the_proxy_do_not_load_delegations_until_a_message_needs_it() -> None:
    apps = [str(REPO / "functions" / name / "app.py") for name in ("a2a_drain", "a2a_proxy")]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *apps],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "MOLECULE_ENV": "test", "POWERTOOLS_METRICS_NAMESPACE": "Test"},
        cwd=REPO,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
