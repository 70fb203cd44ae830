"""The local stack serves requests on threads of one process; each invocation must see only its
own event. Powertools keeps it in class attributes (one event per Lambda environment), so without
isolate_powertools_invocations() a concurrent request can swap the event under a handler — the
heartbeat storm of bench/registry.py got another request's bearer and a 401."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from molecule_core.platform import db
from molecule_local.concurrency import isolate_powertools_invocations

from tests.conftest import ApiClient, create_workspace


def _interleave(app: APIGatewayHttpResolver) -> dict[str, object]:
    """Thread A stores its event the way resolve() does, thread B stores another, then A reads."""
    stored, swapped = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def first() -> None:
        BaseRouter.current_event = "event-a"  # type: ignore[assignment]
        stored.set()
        swapped.wait(5)
        seen["a"] = app.current_event

    def second() -> None:
        stored.wait(5)
        BaseRouter.current_event = "event-b"  # type: ignore[assignment]
        seen["b"] = app.current_event
        swapped.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return seen


def test_powertools_event_is_per_thread_once_isolated() -> None:
    app = APIGatewayHttpResolver()
    isolate_powertools_invocations()
    isolate_powertools_invocations()  # idempotent
    assert _interleave(app) == {"a": "event-a", "b": "event-b"}


def test_concurrent_heartbeats_through_the_gateway_each_keep_their_bearer(
    api: ApiClient, admin: str, database: str
) -> None:
    isolate_powertools_invocations()
    workspaces = [create_workspace(api, admin, name=f"w{i}", external=True) for i in range(4)]

    def beat(index: int) -> tuple[int, int]:
        workspace = workspaces[index % len(workspaces)]
        result = api.post(
            "/registry/heartbeat",
            json_body={"workspace_id": workspace["id"], "current_task": f"task {index}"},
            token=workspace["connection"]["auth_token"],
        )
        return index, result.status

    with db.pooled(database, max_size=8), ThreadPoolExecutor(max_workers=16) as pool:
        statuses = dict(pool.map(beat, range(400)))
    assert set(statuses.values()) == {200}, {i: s for i, s in statuses.items() if s != 200}
