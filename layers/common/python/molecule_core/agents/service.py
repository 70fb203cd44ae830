"""HTTP to agents: the only place the platform calls an agent. Explicit timeouts (connect 10 s;
reads bounded by the caller's budget — never unbounded), one client per execution environment so
warm invocations reuse connections, and failures classified by what they mean for the message:

Pinned resolution (SPEC §5.4 step 6): the agent's URL was checked at register, but a name can
resolve elsewhere later (DNS rebinding: public at register, 127.0.0.1 or the metadata address at
delivery). So every new connection resolves the host once through the registry's URL-safety rule,
checks every address, and connects to the checked address itself — the client never resolves the
name again. Two clients keep this rule: `keepalive` (the standard library's, for `post_json`: every
push delivery) and httpx in `transport` (streams and file forwarding). The URL is untouched, so
the Host header, TLS SNI and certificate verification still use the host name. Proxies from the
environment are ignored: a proxy would resolve the name on its own.

- `AgentAddressRefused`: the host resolves (now) to an address the platform must not call.
- `AgentUnreachable`: the connection was never made (refused, DNS, connect timeout): not delivered.
- `AgentBusy`: the agent accepted the request, then reset or closed the connection without
  answering: it is alive but will not take this message now.
- `AgentTimeout`: delivered, and no answer within the budget; it must not be re-sent.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from molecule_core.agents.models import AgentResponse
from molecule_core.platform.validation import storable_json

if TYPE_CHECKING:
    import httpx


def load_client() -> None:
    """Load the client of `post_json` now (`agents.keepalive`); a function that calls an agent
    on every invocation calls this at init, so the import is part of its init (and of its SnapStart
    snapshot), not of its first request. httpx (`agents.transport`, ~90 ms of a cold start) is
    loaded by the first stream or file forwarded, which few invocations carry."""
    from molecule_core.agents import keepalive  # noqa: F401


class AgentCallError(Exception):
    pass


class AgentUnreachable(AgentCallError):
    pass


class AgentBusy(AgentCallError):
    pass


class AgentTimeout(AgentCallError):
    pass


class AgentAddressRefused(AgentCallError):
    """The agent's host resolves to a blocked address (checked at connect time); nothing was sent."""


# An agent's answer is kept in the activity log as JSON; text that is not JSON is kept capped.
MAX_STORED_BODY = 256 * 1024


def response_json(raw: bytes) -> Any:
    """An agent's answer as a record reads it: its JSON when it is JSON, else its text (capped),
    as sent — `storable_json` repairs it where it is stored."""
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return {"raw": raw[:MAX_STORED_BODY].decode("utf-8", errors="replace")}


def stored_response_body(raw: bytes) -> Any:
    """What goes into response_body: `response_json`, storable (the agent's bytes reach the caller
    unchanged; only the record is repaired), because a record that fails after delivery must not
    turn into a redelivery."""
    return storable_json(response_json(raw))


def post_json(url: str, body: bytes, headers: Mapping[str, str], *, budget_seconds: float) -> AgentResponse:
    """POST `body` to the agent; answers its status, headers and bytes unchanged (`keepalive`:
    the standard library's client on kept connections — this is every push delivery's call)."""
    from molecule_core.agents import keepalive

    return keepalive.post(url, body, headers, budget_seconds=budget_seconds)


class AgentAnswerTooLarge(AgentCallError):
    """The agent's answer is bigger than the caller can relay (a Lambda response is capped)."""


def forward(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None = None,
    relay_headers: tuple[str, ...],
    max_body_bytes: int,
    budget_seconds: float,
) -> AgentResponse:
    """Send one request to the agent and read its answer for relaying: status unchanged, only the
    `relay_headers` (lower-cased names), and the body — read as a stream and abandoned as soon as
    it passes `max_body_bytes` (AgentAnswerTooLarge), so an oversized file is never buffered."""
    from molecule_core.agents import transport

    timeout = transport.timeout(budget_seconds, write_seconds=budget_seconds)  # an upload may take its time
    with (
        transport.classified_failures(),
        transport.client().stream(method, url, content=body, headers=dict(headers), timeout=timeout) as response,
    ):
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body_bytes:
            raise AgentAnswerTooLarge(f"agent announced {declared} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_body_bytes:
                raise AgentAnswerTooLarge(f"agent sent more than {max_body_bytes} bytes")
            chunks.append(chunk)
        relayed = {name: response.headers[name] for name in relay_headers if name in response.headers}
        return AgentResponse(status=response.status_code, headers=relayed, body=b"".join(chunks))


class AgentStream:
    """An agent's answer read as it arrives (an SSE stream), within a deadline. The body is read by
    a helper thread into a queue, so the reader waits on the deadline itself: httpx's read timeout
    restarts with every chunk and could not bound the whole stream."""

    def __init__(self, response: httpx.Response, deadline: float) -> None:
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._response = response
        self._deadline = deadline
        self._chunks: queue.Queue[bytes | AgentCallError | None] = queue.Queue()
        threading.Thread(target=self._pump, name="agent-stream", daemon=True).start()

    def _pump(self) -> None:
        try:
            from molecule_core.agents import transport

            with transport.classified_failures():
                for chunk in self._response.iter_bytes():
                    self._chunks.put(chunk)
        except AgentCallError as exc:  # handed to the reader
            self._chunks.put(exc)
            return
        except Exception as exc:  # anything else broke the stream off as well
            self._chunks.put(AgentBusy(str(exc) or type(exc).__name__))
            return
        self._chunks.put(None)

    def chunks(self) -> Iterator[bytes]:
        """The body as it comes; AgentTimeout once the deadline passes before the agent ends it,
        AgentBusy when the agent breaks the connection."""
        try:
            while True:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise AgentTimeout("the stream outlived its budget")
                try:
                    item = self._chunks.get(timeout=remaining)
                except queue.Empty:
                    raise AgentTimeout("the stream outlived its budget") from None
                if item is None:
                    return
                if isinstance(item, AgentCallError):
                    raise item
                yield item
        finally:
            self.close()

    def read(self, max_body_bytes: int = MAX_STORED_BODY * 4) -> bytes:
        """The whole body (an answer that is not a stream), within the deadline."""
        body = b""
        for chunk in self.chunks():
            body += chunk
            if len(body) > max_body_bytes:
                raise AgentAnswerTooLarge(f"agent sent more than {max_body_bytes} bytes")
        return body

    def close(self) -> None:
        self._response.close()


def open_stream(url: str, body: bytes, headers: Mapping[str, str], *, budget_seconds: float) -> AgentStream:
    """POST `body` and return as soon as the agent's status and headers arrived; the body is read
    from the returned stream. The same failures as `post_json` until the headers arrive."""
    deadline = time.monotonic() + budget_seconds
    from molecule_core.agents import transport

    client = transport.client()
    timeout = transport.timeout(budget_seconds)
    request = client.build_request("POST", url, content=body, headers=dict(headers), timeout=timeout)
    with transport.classified_failures():
        response = client.send(request, stream=True)
    return AgentStream(response, deadline)
