"""Serving the app with uvicorn, plus the one thing plain ASGI cannot express: closing a connection
without answering.

ASGI has no "drop this connection" message — an app that raises or returns before starting a
response gets a 500 from uvicorn. The `close` behaviour must look like an agent that accepted the
request and hung up (the platform reads that as "busy" and queues the message, SPEC §5.4), so our
h11 protocol puts a callable in each request's scope under `extensions[DROP_CONNECTION]` that
closes the socket. The app calls it, then waits for uvicorn to notice the disconnect, after which
uvicorn writes nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

DROP_CONNECTION = "reference_agent.drop_connection"


class ConnectionDropUnsupported(RuntimeError):
    """The server running the app offers no way to drop a connection (e.g. an in-process test
    transport): raising is the closest thing, and such a transport hands the error to the client."""


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the DROP_CONNECTION scope extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def app_with_drop(scope: Any, receive: Any, send: Any) -> None:
            # transport.close() sends FIN once buffered bytes (none yet) are flushed: the client
            # sees "server disconnected without sending a response".
            scope.setdefault("extensions", {})[DROP_CONNECTION] = transport.close
            await app(scope, receive, send)

        # Per connection: uvicorn reads self.app for every request it dispatches.
        self.app = app_with_drop


async def drop_connection(request: Request) -> None:
    """Close the request's connection without a response; returns once the server has seen it go."""
    close = request.scope.get("extensions", {}).get(DROP_CONNECTION)
    if close is None:
        raise ConnectionDropUnsupported("this server cannot drop a connection without answering")
    close()
    # Until uvicorn has processed the close, returning would make it send a 500 "returned without
    # starting a response" onto the closing socket; once it has, receive() says http.disconnect and
    # anything the app sends is discarded.
    while (await request.receive())["type"] != "http.disconnect":
        pass


class AgentServer(uvicorn.Server):
    """uvicorn without its own signal handling: the agent owns SIGTERM/SIGINT. (uvicorn re-raises a
    captured signal after shutting down, which would turn a clean stop into exit status -15.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def server_config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=DroppableH11Protocol,
        lifespan="off",
        log_config=None,  # the CLI configures logging; uvicorn's own config would override it
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,  # a `slow` request must not hold up SIGTERM for its delay
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket bound before the server starts, so that with port 0 the agent knows its
    URL before it registers, and connections made meanwhile wait in the backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104 — an unspecified bind address is not reachable
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
