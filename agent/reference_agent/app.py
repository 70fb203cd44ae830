"""The agent's HTTP surface: A2A JSON-RPC on `POST /` (and `POST /a2a`), the agent card, a health
probe, `POST /control`, which switches the behaviour at run time for tests, and the chat-file
endpoints of `files.py`. Control and the file endpoints require
`Authorization: Bearer <platform_inbound_secret>` and fail closed while no secret is stored."""

from __future__ import annotations

import asyncio
import hmac

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_agent import a2a
from reference_agent import files as chat_files
from reference_agent.config import Behaviour, FileSettings
from reference_agent.server import drop_connection
from reference_agent.state import AgentState


def create_app(state: AgentState, files: FileSettings | None = None) -> Starlette:
    """`files` configures the chat-file endpoints (default: root `<config dir>/files`, 25 MiB per
    file)."""

    async def receive_a2a(request: Request) -> Response:
        body = await request.body()
        # A switch made while this request waits applies to the next request, not this one.
        behaviour = state.behaviour
        with state.track_task() as task:
            if behaviour.behaviour == "close":
                state.record_outcome(False)
                await drop_connection(request)
                return Response()  # discarded: the connection is already gone
            if behaviour.behaviour == "status":
                state.record_outcome(False)
                return JSONResponse(
                    {"error": f"reference agent answers {behaviour.status_code} (behaviour switch)"},
                    status_code=behaviour.status_code,
                )
            try:
                rpc = a2a.parse_request(body)
            except a2a.JsonRpcError as exc:
                return JSONResponse(exc.response())
            task.summary = a2a.message_text(a2a.request_message(rpc))
            if behaviour.behaviour == "slow":
                await asyncio.sleep(behaviour.delay)
            if behaviour.behaviour == "fail":
                state.record_outcome(False)
                return JSONResponse(
                    a2a.error_response(rpc.get("id"), a2a.INTERNAL_ERROR, "reference agent told to fail")
                )
            state.record_outcome(True)
            return JSONResponse(a2a.answer(rpc))

    async def agent_card(request: Request) -> Response:
        url = state.card_url or str(request.base_url).rstrip("/")
        return JSONResponse(a2a.agent_card(state.name, url))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "active_tasks": state.active_tasks, **state.behaviour.model_dump()})

    async def control(request: Request) -> Response:
        if not is_inbound_bearer(request, state.credentials.inbound_secret):
            return JSONResponse({"error": "invalid or missing inbound secret"}, status_code=401)
        try:
            state.behaviour = Behaviour.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return JSONResponse({"error": f"invalid behaviour: {problems}"}, status_code=400)
        return JSONResponse(state.behaviour.model_dump())

    return Starlette(
        routes=[
            Route("/", receive_a2a, methods=["POST"]),
            Route("/a2a", receive_a2a, methods=["POST"]),
            Route("/.well-known/agent.json", agent_card, methods=["GET"]),
            Route("/.well-known/agent-card.json", agent_card, methods=["GET"]),  # A2A ≥ 0.3 name
            Route("/health", health, methods=["GET"]),
            Route("/control", control, methods=["POST"]),
            *chat_files.routes(
                files or FileSettings(),
                state.credentials.config_dir / "files",
                lambda request: is_inbound_bearer(request, state.credentials.inbound_secret),
            ),
        ]
    )


def is_inbound_bearer(request: Request, inbound_secret: str | None) -> bool:
    """Whether the request carries the platform's inbound secret. No stored secret → False (fail
    closed: an agent that never registered must not be steerable by anyone)."""
    if not inbound_secret:
        return False
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), inbound_secret.encode())
