"""Domain exceptions: the one way out. Each carries the HTTP status, the body and the headers a
client sees (`Retry-After` included); `platform.http.install_error_handlers` maps every one of them
to a response in one place, so logic never builds an HTTP response."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> Any:
        return {"error": self.message, **self.extra}


class InvalidInput(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class PaymentRequired(DomainError):
    status_code = 402


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


class PayloadTooLarge(DomainError):
    status_code = 413


class TooManyRequests(DomainError):
    """429; `retry_after` seconds become the Retry-After header (SPEC §5.8)."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int | None = None, **extra: Any) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(message, headers=headers, **extra)


class UpstreamError(DomainError):
    """502: the agent behind the workspace could not be reached or answered unusably."""

    status_code = 502


class ServiceUnavailable(DomainError):
    """503 for a reason the caller can wait out; `retry_after` seconds become Retry-After."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int | None = None, **extra: Any) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(message, headers=headers, **extra)
        self.retry_after = retry_after


class GatewayTimeout(DomainError):
    status_code = 504


class DatastoreUnavailable(ServiceUnavailable):
    """The database cannot be reached. Every route answers this the same way (SPEC §4)."""

    def __init__(self, cause: str = "") -> None:
        super().__init__("platform datastore unavailable — retry shortly", retry_after=5, code="platform_unavailable")
        self.cause = cause
