"""Where a chat file request goes, and what the agent answered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ForwardTarget:
    url: str  # the agent's base URL, without a trailing slash
    secret: str


@dataclass(frozen=True)
class RelayedAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")
