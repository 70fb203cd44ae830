"""The HTTP client under `agents.service`: httpx on a connection pool whose every connection goes to
an address the URL-safety rule checked for it (module docstring of `agents.service`), and httpx's
failures read as what they mean for the message.

Its own module because httpx is ~90 ms of a cold start: `agents.service` loads it on the first call
to an agent, so a function that never calls one (the queue routes, delegations, the sweeps) never
pays for it, and the functions that call an agent on every invocation load it at init
(`agents.service.load_client`), inside the SnapStart snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore
import httpx

from molecule_core.agents.keepalive import CONNECT_TIMEOUT_SECONDS, checked_addresses
from molecule_core.agents.service import AgentBusy, AgentTimeout, AgentUnreachable


class _PinnedBackend(httpcore.SyncBackend):
    """Opens each connection to an address the URL-safety rule checked for this connection."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in checked_addresses(host):  # in the resolver's order, as the C library would try them
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend; its connection pool does (httpcore's public API).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One client per execution environment, so warm invocations reuse connections."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    transport=_PinnedTransport(httpx.Limits(max_connections=100, max_keepalive_connections=20)),
                    follow_redirects=False,  # a redirect could point anywhere: URL safety was checked on this URL
                    trust_env=False,
                    # The client serves every caller of this environment: a cookie an agent sets must
                    # not ride along on the next caller's message, nor reach other agents on its host.
                    cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
                )
    return _client


def timeout(budget_seconds: float, *, write_seconds: float | None = None) -> httpx.Timeout:
    """Connect within 10 s, read within the budget (never unbounded); writes within the connect
    bound unless the request body needs longer (`write_seconds`)."""
    return httpx.Timeout(
        connect=min(CONNECT_TIMEOUT_SECONDS, budget_seconds),
        read=budget_seconds,
        write=write_seconds if write_seconds is not None else min(CONNECT_TIMEOUT_SECONDS, budget_seconds),
        pool=min(5.0, budget_seconds),
    )


@contextmanager
def classified_failures() -> Iterator[None]:
    """httpx's failures as what they mean for the message (see `agents.service`)."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise AgentUnreachable(str(exc) or type(exc).__name__) from exc
    except httpx.TimeoutException as exc:
        raise AgentTimeout(str(exc) or type(exc).__name__) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise AgentBusy(str(exc) or type(exc).__name__) from exc
