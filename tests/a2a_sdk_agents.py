"""Agents built with the official A2A SDK (a2a-sdk 1.3.0) for tests: real SDK servers on
127.0.0.1 that speak A2A 1.0, or only 0.3 (the SDK's own 0.3 JSON-RPC adapter, so a bridged call
provably arrives as 0.3). Each records the requests it received (method, A2A-Version header,
messageId), answers with a Message or with a Task (task, working, artifact, completed when streamed),
and can hold its Task open until the test releases it (to see a stream relayed as it comes)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_artifact, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# The SDK warns on every version mismatch and logs refused requests; tests look at the answers.
for _name in ("a2a", "uvicorn", "uvicorn.error", "uvicorn.access", "sse_starlette"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


HOLD_SECONDS = 8


@dataclass(frozen=True)
class Seen:
    method: str
    version: str | None
    message_id: str | None
    accept: str | None


@dataclass
class SdkAgent:
    url: str
    versions: tuple[str, ...]
    answer: str  # "message" | "task"
    seen: list[Seen] = field(default_factory=list)
    hold: threading.Event | None = None  # a Task agent waits for it after its first update …
    held: list[bool] = field(default_factory=list)  # … and notes whether it came (False: timed out)

    def card(self) -> dict[str, Any]:
        """The card the agent serves (what it registers with the platform)."""
        return agent_card_to_dict(_card(self.url, self.versions))

    def received(self, message_id: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.message_id == message_id]


class _Executor(AgentExecutor):
    def __init__(self, agent: SdkAgent) -> None:
        self.agent = agent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = f"echo: {context.get_user_input()}"
        if self.agent.answer == "message":
            await event_queue.enqueue_event(new_text_message(text, context_id=context.context_id))
            return
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        if self.agent.hold is not None:
            self.agent.held.append(await asyncio.to_thread(self.agent.hold.wait, HOLD_SECONDS))
        await updater.add_artifact([new_text_artifact("out", text).parts[0]], name="out")
        await updater.complete(new_text_message(text, context_id=task.context_id, task_id=task.id))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


def _card(url: str, versions: tuple[str, ...]) -> AgentCard:
    return AgentCard(
        name="sdk echo",
        description="an a2a-sdk agent",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=v) for v in versions
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="echoes", tags=["echo"])],
    )


def _app(agent: SdkAgent) -> Any:
    card = _card(agent.url, agent.versions)
    handler = DefaultRequestHandler(agent_executor=_Executor(agent), task_store=InMemoryTaskStore(), agent_card=card)
    if agent.versions == ("0.3",):
        # 0.3 only: the SDK's own 0.3 adapter; 1.0 methods are unknown here (-32601). Imported here:
        # imported first, the adapter's module meets an import cycle inside the SDK.
        from a2a.compat.v0_3.jsonrpc_adapter import JSONRPC03Adapter

        adapter = JSONRPC03Adapter(handler)

        async def rpc(request: Request) -> Response:
            body = await request.json()
            if adapter.supports_method(body.get("method", "")):
                return await adapter.handle_request(body.get("id"), body["method"], body, request)  # type: ignore[no-any-return]
            error = {"code": -32601, "message": "Method not found"}
            return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "error": error})

        routes = [*create_agent_card_routes(card), Route("/", rpc, methods=["POST"])]
    else:
        routes = create_agent_card_routes(card) + create_jsonrpc_routes(handler, rpc_url="/")
    return _recording(Starlette(routes=routes), agent)


def _recording(app: Starlette, agent: SdkAgent) -> Any:
    """ASGI middleware: note each POST (method, A2A-Version, messageId) before the SDK reads it."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        body = json.loads(raw) if raw else {}
        params = body.get("params") if isinstance(body, dict) else None
        message = params.get("message") if isinstance(params, dict) else None
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        agent.seen.append(
            Seen(
                body.get("method", "") if isinstance(body, dict) else "",
                headers.get("a2a-version"),
                message.get("messageId") if isinstance(message, dict) else None,
                headers.get("accept"),
            )
        )
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()  # type: ignore[no-any-return]

        await app(scope, replay, send)

    return asgi


@contextmanager
def sdk_agent(versions: tuple[str, ...], answer: str) -> Iterator[SdkAgent]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    agent = SdkAgent(f"http://127.0.0.1:{sock.getsockname()[1]}/", versions, answer)
    server = uvicorn.Server(uvicorn.Config(_app(agent), log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()  # the socket already listens: requests made at once wait in its backlog
    try:
        yield agent
    finally:
        if agent.hold is not None:
            agent.hold.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
