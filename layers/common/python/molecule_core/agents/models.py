"""An agent's answer as the platform relays it."""

from __future__ import annotations

from typing import NamedTuple


class AgentResponse(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
