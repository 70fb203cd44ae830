"""Server-Sent Events as A2A streams use them (SPEC §5.4 step 8): one JSON-RPC response per event,
in `data:` lines; a2a-sdk 1.x marks an error event with `event: error`. An incremental reader for
what an agent sends (chunks may split events anywhere) and the writer for what the proxy sends.
Pure."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

CONTENT_TYPE = "text/event-stream"


class SseEvent(NamedTuple):
    data: str
    event: str | None = None
    raw: bytes = b""  # the event as received (relayed unchanged when nothing is translated)

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class SseReader:
    """Feed chunks, get complete events. Comments and `id:`/`retry:` fields are kept in `raw` only."""

    def __init__(self) -> None:
        self._buffer = b""
        self._carriage_return = b""  # a CR ending a chunk: its LF may start the next one

    def feed(self, chunk: bytes) -> list[SseEvent]:
        data, self._carriage_return = self._carriage_return + chunk, b""
        if data.endswith(b"\r"):
            data, self._carriage_return = data[:-1], b"\r"
        # SSE ends a line with CRLF, LF or CR alike.
        self._buffer += data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SseEvent]:
        """An event the agent did not terminate with a blank line before closing."""
        block, self._buffer = self._buffer + self._carriage_return.replace(b"\r", b"\n"), b""
        self._carriage_return = b""
        event = _parse_block(block) if block.strip() else None
        return [event] if event is not None else []


def _parse_block(block: bytes) -> SseEvent | None:
    data: list[str] = []
    name: str | None = None
    for line in block.decode("utf-8", errors="replace").split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    if not data:
        return None  # a comment or keep-alive: nothing to relay as an event
    return SseEvent("\n".join(data), name, block + b"\n\n")


def format_event(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
