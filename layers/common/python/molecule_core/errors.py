"""Domain exceptions. Each carries the HTTP status and the message a client sees; they are mapped
to responses in one place (molecule_core.api.install_error_handlers)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


class InvalidInput(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class AccessDenied(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class WorkspaceNotFound(NotFound):
    def __init__(self, message: str = "workspace not found", **extra: Any) -> None:
        super().__init__(message, **extra)


class Conflict(DomainError):
    status_code = 409


class Gone(DomainError):
    status_code = 410


class TooManyTokens(DomainError):
    status_code = 409


class DatastoreUnavailable(DomainError):
    """The database cannot be reached. Every route answers this the same way (SPEC §4)."""

    status_code = 503

    def __init__(self, cause: str = "") -> None:
        super().__init__("platform datastore unavailable — retry shortly", code="platform_unavailable")
        self.cause = cause
