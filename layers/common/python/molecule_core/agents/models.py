"""An agent's answer as the platform relays it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentResponse:
    status: int
    headers: dict[str, str]
    body: bytes
