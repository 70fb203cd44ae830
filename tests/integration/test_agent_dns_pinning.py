"""DNS rebinding cannot turn the platform against its own network (SPEC §5.4 step 6, issue 12 item
2): the agent's host is resolved once per connection, every address is checked with the URL-safety
rule, and the connection goes to the checked address — for the proxy, the queue's drain and chat
files. The resolver is the test's own (socket.getaddrinfo answers for invented names; no real DNS,
and no traffic leaves 127.0.0.1: a refused address is never connected to)."""

from __future__ import annotations

import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from molecule_core.a2a import queue

from tests.agents import ScriptedAgent
from tests.conftest import ApiClient, create_workspace, set_env

PUBLIC = "93.184.216.34"  # what the name says at register; never connected to


class ControlledResolver:
    """getaddrinfo for invented names: each lookup takes the next answer (the last one repeats)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name not in self.answers:
                return real(host, port, *args, **kwargs)
            self.lookups[name] += 1
            queue_of_answers = self.answers[name]
            addresses = queue_of_answers.pop(0) if len(queue_of_answers) > 1 else queue_of_answers[0]
            number = int(port) if port else 0
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (a, number, 0, 0) if ":" in a else (a, number),
                )
                for a in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[ControlledResolver]:
    yield ControlledResolver(monkeypatch)


def send(text: str, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "req-1",
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": message_id, "parts": [{"kind": "text", "text": text}]}},
    }


def port_of(agent: ScriptedAgent) -> int:
    return int(agent.url.rstrip("/").rsplit(":", 1)[1])


def rebinding_target(api: ApiClient, admin: str, resolver: ControlledResolver, agent: ScriptedAgent) -> str:
    """A workspace whose host is public when it is checked, and loopback ever after."""
    name = f"rebind-{uuid.uuid4().hex[:8]}.test"
    resolver.answer(name, [PUBLIC], ["127.0.0.1"])
    created = create_workspace(api, admin, name="rebinding", external=True, url=f"http://{name}:{port_of(agent)}/")
    assert api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=admin).status == 200
    return str(created["id"])


def test_the_proxy_never_calls_a_name_that_rebinds_to_loopback(
    api: ApiClient, admin: str, resolver: ControlledResolver, agent: ScriptedAgent
) -> None:
    target = rebinding_target(api, admin, resolver, agent)

    result = api.post(f"/workspaces/{target}/a2a", json_body=send("what is on your loopback?"), token=admin)

    assert result.status == 502
    assert result.json()["error"] == "agent unreachable: its host resolves to an address the platform does not call"
    assert "127.0.0.1" not in result.text
    assert agent.received == []


def test_the_drain_never_calls_a_name_that_rebinds_to_loopback(
    api: ApiClient, admin: str, resolver: ControlledResolver, agent: ScriptedAgent
) -> None:
    target = rebinding_target(api, admin, resolver, agent)
    queued = queue.enqueue(uuid.UUID(target), None, send("later"), "message/send", "m-q", None)

    with pytest.raises(queue.DrainRetry, match="addressrefused"):
        queue.drain_record(queued.queue_id)

    assert agent.received == []


def test_chat_file_forwarding_never_calls_a_name_that_rebinds_to_loopback(
    api: ApiClient, admin: str, resolver: ControlledResolver, agent: ScriptedAgent
) -> None:
    target = rebinding_target(api, admin, resolver, agent)
    boundary = "pin"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    )

    result = api.post(
        f"/workspaces/{target}/chat/uploads",
        body=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        token=admin,
    )

    assert result.status == 502
    assert agent.received == []


def test_every_resolved_address_is_checked_not_only_the_first(
    api: ApiClient, dev: str, platform_env: pytest.MonkeyPatch, resolver: ControlledResolver, agent: ScriptedAgent
) -> None:
    # development mode: loopback is allowed, the metadata address never is
    name = "mixed.test"
    resolver.answer(name, ["127.0.0.1"], ["127.0.0.1", "169.254.169.254"])
    created = create_workspace(api, dev, name="mixed", external=True, url=f"http://{name}:{port_of(agent)}/")
    assert api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=dev).status == 200

    result = api.post(f"/workspaces/{created['id']}/a2a", json_body=send("hi"), token=dev)

    assert result.status == 502
    assert agent.received == []


def test_a_pinned_connection_keeps_the_host_name_and_resolves_once(
    api: ApiClient, dev: str, platform_env: pytest.MonkeyPatch, resolver: ControlledResolver, agent: ScriptedAgent
) -> None:
    name = f"pinned-{uuid.uuid4().hex[:8]}.test"
    resolver.answer(name, ["127.0.0.1"])
    created = create_workspace(api, dev, name="pinned", external=True, url=f"http://{name}:{port_of(agent)}/")
    assert api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=dev).status == 200
    checked_at_create = resolver.lookups[name]

    result = api.post(f"/workspaces/{created['id']}/a2a", json_body=send("hello"), token=dev)

    assert result.status == 200, result.text
    (received,) = agent.received
    assert received.headers["host"] == f"{name}:{port_of(agent)}"  # the name, not the address
    assert resolver.lookups[name] == checked_at_create + 1  # one lookup for the connection, none after


@pytest.fixture
def admin(platform_env: pytest.MonkeyPatch) -> str:
    """Not development mode: loopback is a blocked address here, as in production."""
    set_env(platform_env, ADMIN_TOKEN="admin-token-for-pinning")
    return "admin-token-for-pinning"
