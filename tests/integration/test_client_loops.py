"""The loops the original server's clients run, replayed against this platform (SPEC §4.3, §5.6,
§5.8): the Molecule Python SDK's poll-mode agent loop (`molecule_agent`: PollDelivery +
RemoteAgentClient.reply + poll_state), step for step over the same routes and fields. Each test
is one of the client bugs of issue 11, and fails if the behaviour that fixed it is removed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import ApiClient, create_workspace

SDK_ITERATIONS = 10


@dataclass
class SdkPollAgent:
    """What `molecule_agent` does on each loop iteration: fetch `type=a2a_receive` rows after the
    cursor (no cursor on the first fetch), hand every row that has `data.text` to the handler,
    reply to a `canvas_user` row through POST /notify `{"message": reply}`, and move the cursor to
    each row it saw; a 410 resets the cursor. Then it polls /state and stops on paused/deleted."""

    api: ApiClient
    workspace_id: str
    token: str
    handler: Callable[[str], str | None]
    cursor: str | None = None
    handled: list[str] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)

    def run_once(self) -> None:
        query = "?type=a2a_receive&limit=100" + (f"&since_id={self.cursor}" if self.cursor else "")
        answer = self.api.get(f"/workspaces/{self.workspace_id}/activity{query}", token=self.token)
        if answer.status == 410:
            self.cursor = None
            return
        if answer.status != 200:
            raise PlatformRefused(answer.status)
        for row in answer.json():
            data = row.get("data") or {}
            text = str(data.get("text") or data.get("message") or "")
            source = data.get("source") or ("peer_agent" if row.get("source_id") else "canvas_user")
            self.handled.append(text)
            reply = self.handler(text)
            if reply and source == "canvas_user":
                sent = self.api.post(
                    f"/workspaces/{self.workspace_id}/notify", json_body={"message": reply}, token=self.token
                )
                assert sent.status == 200, sent.text
            self.cursor = row["id"]

    def should_stop(self) -> bool:
        """RemoteAgentClient.poll_state: a 404 means deleted; otherwise `paused` or `deleted`."""
        answer = self.api.get(f"/workspaces/{self.workspace_id}/state", token=self.token)
        if answer.status == 404:
            return True
        if answer.status != 200:
            raise PlatformRefused(answer.status)
        state: dict[str, Any] = answer.json()
        return bool(state.get("paused") or state.get("deleted"))

    def run_agent_loop(self, max_iterations: int) -> str:
        """Errors of the inbox fetch and of the state poll are logged and the loop goes on (a
        transient hiccup must not stop an agent) — which is why a 401 from /state never ends it."""
        for _ in range(max_iterations):
            try:
                self.run_once()
            except PlatformRefused as refused:
                self.errors.append(refused.status)
            try:
                if self.should_stop():
                    return "stopped"
            except PlatformRefused as refused:
                self.errors.append(refused.status)
        return "max_iterations"


class PlatformRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _user_says(api: ApiClient, admin: str, workspace_id: str, text: str) -> None:
    """The canvas user (an admin/org caller, no source) sends the poll-mode agent a message."""
    message = {"role": "user", "messageId": f"user-{text}", "parts": [{"kind": "text", "text": text}]}
    sent = api.post(
        f"/workspaces/{workspace_id}/a2a",
        json_body={"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {"message": message}},
        token=admin,
    )
    assert sent.json()["status"] == "queued"


def _notify_rows(api: ApiClient, admin: str, workspace_id: str) -> list[dict[str, Any]]:
    feed = api.get(f"/workspaces/{workspace_id}/activity", token=admin).json()
    return [row for row in feed if row["method"] == "notify"]


def test_sdk_poll_loop_answers_one_user_message_exactly_once(api: ApiClient, admin: str) -> None:
    # Given a poll-mode agent whose handler answers every inbox row that has text
    workspace = create_workspace(api, admin, name="sdk agent", external=True)
    agent = SdkPollAgent(
        api, workspace["id"], workspace["connection"]["auth_token"], handler=lambda text: f"you said: {text}"
    )
    # When the user sends one message and the SDK loop runs ten iterations
    _user_says(api, admin, workspace["id"], "hello")
    assert agent.run_agent_loop(SDK_ITERATIONS) == "max_iterations"
    # Then the handler ran once and exactly one reply reached the user: the agent's own notify is
    # outbound (a2a_send) and never comes back through its inbox as a new user message
    assert agent.handled == ["hello"]
    replies = _notify_rows(api, admin, workspace["id"])
    assert [row["response_body"] for row in replies] == [{"result": "you said: hello"}]
    assert replies[0]["activity_type"] == "a2a_send"


def test_sdk_poll_loop_answers_each_of_several_messages_once(api: ApiClient, admin: str) -> None:
    workspace = create_workspace(api, admin, name="sdk agent", external=True)
    agent = SdkPollAgent(api, workspace["id"], workspace["connection"]["auth_token"], handler=lambda t: f"re: {t}")
    _user_says(api, admin, workspace["id"], "one")
    agent.run_agent_loop(3)
    _user_says(api, admin, workspace["id"], "two")
    agent.run_agent_loop(SDK_ITERATIONS)
    assert agent.handled == ["one", "two"]
    assert sorted(row["response_body"]["result"] for row in _notify_rows(api, admin, workspace["id"])) == [
        "re: one",
        "re: two",
    ]


def test_sdk_loop_stops_when_its_workspace_is_deleted(api: ApiClient, admin: str) -> None:
    # Given a running SDK agent
    workspace = create_workspace(api, admin, name="doomed", external=True)
    token = workspace["connection"]["auth_token"]
    agent = SdkPollAgent(api, workspace["id"], token, handler=lambda text: None)
    assert agent.run_agent_loop(2) == "max_iterations"
    # When an operator deletes the workspace (which revokes the agent's token)
    assert api.delete(f"/workspaces/{workspace['id']}", token=admin).status == 200
    # Then /state tells the agent's own token the truth, and its loop ends
    state = api.get(f"/workspaces/{workspace['id']}/state", token=token)
    assert (state.status, state.json()) == (404, {"error": "workspace not found", "deleted": True})
    assert agent.run_agent_loop(SDK_ITERATIONS) == "stopped"
    assert agent.errors == [401]  # the inbox fetch of its one last iteration


def test_a_deleted_workspaces_token_is_still_refused_everywhere_else(api: ApiClient, admin: str) -> None:
    workspace = create_workspace(api, admin, name="doomed", external=True)
    workspace_id, token = workspace["id"], workspace["connection"]["auth_token"]
    api.delete(f"/workspaces/{workspace_id}", token=admin)
    assert api.get(f"/workspaces/{workspace_id}", token=token).status == 401
    assert api.get(f"/workspaces/{workspace_id}/activity", token=token).status == 401
    assert api.post(f"/workspaces/{workspace_id}/notify", json_body={"message": "x"}, token=token).status == 401
    assert api.get(f"/workspaces/{workspace_id}/tokens", token=token).status == 401
    assert api.post("/registry/heartbeat", json_body={"workspace_id": workspace_id}, token=token).status == 410
    assert api.post("/registry/register", json_body={"id": workspace_id}, token=token).status == 410


def test_only_the_deleted_workspaces_own_token_learns_it_was_deleted(api: ApiClient, admin: str) -> None:
    deleted = create_workspace(api, admin, name="doomed", external=True)
    live = create_workspace(api, admin, name="still here", external=True)
    other_deleted = create_workspace(api, admin, name="also doomed", external=True)
    for workspace in (deleted, other_deleted):
        api.delete(f"/workspaces/{workspace['id']}", token=admin)
    state = f"/workspaces/{deleted['id']}/state"
    # another workspace's token — live, or itself deleted — learns nothing
    assert api.get(state, token=live["connection"]["auth_token"]).status == 401
    assert api.get(state, token=other_deleted["connection"]["auth_token"]).status == 401
    assert api.get(state, token="never-issued").status == 401
    assert api.get(state).status == 401
    # a token revoked while its workspace lives is just revoked
    tokens = api.get(f"/workspaces/{live['id']}/tokens", token=admin).json()["tokens"]
    api.delete(f"/workspaces/{live['id']}/tokens/{tokens[0]['id']}", token=admin)
    assert api.get(f"/workspaces/{live['id']}/state", token=live["connection"]["auth_token"]).status == 401
