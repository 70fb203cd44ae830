"""A scriptable agent for tests: a real HTTP server on 127.0.0.1 that records what it receives and
answers as told (echo, a status code, slowly, or by closing the connection without a word)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedAgent:
    url: str = ""
    mode: str = "echo"  # echo | status | close | slow
    status: int = 200
    raw_body: bytes | None = None
    content_type: str = "application/json"
    answer_headers: dict[str, str] = field(default_factory=dict)  # sent with every answer
    release: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)

    def answer(self, request: Received) -> tuple[int, bytes] | None:
        if self.mode == "close":
            return None
        if self.mode == "slow":
            self.release.wait(30)
        if self.raw_body is not None:
            return self.status, self.raw_body
        if self.mode == "status":
            return self.status, json.dumps({"error": f"agent says {self.status}"}).encode()
        payload = request.json()
        parts = payload.get("params", {}).get("message", {}).get("parts", [])
        text = " ".join(p.get("text", "") for p in parts if p.get("kind") == "text")
        return 200, json.dumps(
            {
                "jsonrpc": "2.0",
                "id": payload.get("id"),
                "result": {
                    "kind": "message",
                    "messageId": "m-1",
                    "role": "agent",
                    "parts": [{"kind": "text", "text": f"echo: {text}"}],
                },
            },
            separators=(",", ":"),
        ).encode()


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller that left before the answer (the proxy timed out on a slow agent, then the test
        # released it) is what the test wanted, not a failure: no traceback in the test's output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextmanager
def scripted_agent() -> Iterator[ScriptedAgent]:
    agent = ScriptedAgent()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            agent.received.append(request)
            answer = agent.answer(request)
            if answer is None:
                # Accept the request, then drop the connection without answering: "busy".
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            status, payload = answer
            self.send_response(status)
            self.send_header("Content-Type", agent.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in agent.answer_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = AgentServer(("127.0.0.1", 0), Handler)
    agent.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.release.set()
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@contextmanager
def serve_agent_app(app: Any) -> Iterator[str]:
    """The reference agent's ASGI app under uvicorn on 127.0.0.1 (its own socket options), in a
    thread; yields its URL. The socket listens before uvicorn starts, so requests made right away
    wait in the backlog: no readiness polling needed."""
    import asyncio

    from reference_agent.server import AgentServer, bind_socket, listen_url, server_config

    sock = bind_socket("127.0.0.1", 0)
    server = AgentServer(server_config(app))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    try:
        yield listen_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "agent server did not stop"
