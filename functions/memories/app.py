"""Memories (SPEC §5.11): agent memories (commit, search, delete), key-value memory (set, get,
list, delete) and the admin export/import."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, WorkspaceCaller
from molecule_core.memories import service
from molecule_core.memories.models import (
    MAX_EXPORT_PAGE,
    CommitMemoryRequest,
    CommittedMemory,
    ExportedMemory,
    ImportResult,
    Memory,
    MemoryValue,
    SearchMemoriesRequest,
    SetMemoryRequest,
    SetMemoryResult,
)
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    ADMIN,
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    BODY_TOO_LARGE,
    CALLER_REFUSALS,
    MEMORIES,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_NOT_FOUND,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
    json_answer,
)

app = APIGatewayHttpResolver()

# --- what the reference says about these routes (platform.openapi) ---------------------------------

COMMIT_EXAMPLES = {
    "team": example(
        "A fact the whole team should know",
        {"content": "The customer prefers weekly summaries on Mondays.", "scope": "TEAM", "namespace": "customer"},
    ),
    "local": example(
        "A note to itself", {"content": "Retry the search API with a smaller page size.", "scope": "LOCAL"}
    ),
}
SEARCH_EXAMPLES = {
    "text": example("Full-text search in the team's memories", {"q": "summaries", "scope": "TEAM", "limit": 10})
}
SET_EXAMPLES = {
    "upsert": example("Set a value", {"key": "task_ledger", "value": {"open": 3, "done": 12}}),
    "create_only": example(
        "Create only if absent (compare-and-swap on version 0), expiring in a day",
        {"key": "lock:report", "value": "held", "if_match_version": 0, "ttl_seconds": 86400},
    ),
}
IMPORT_EXAMPLES = {
    "export": example(
        "Entries as `GET /admin/memories/export` answers them",
        [
            {
                "workspace_name": "Research lead",
                "content": "The customer prefers weekly summaries.",
                "scope": "TEAM",
                "namespace": "customer",
            }
        ],
    )
}
BAD_MEMORY = Refusal(
    400,
    "`workspace_id` in the body or query is not the path's, or `embedding` has the wrong number of dimensions.",
    {"error": "workspace_id does not match the workspace in the path", "field": "workspace_id"},
)
CONTENT_TOO_LARGE = Refusal(
    413,
    "`content` is larger than 64 KiB (or the body than the edge's limit).",
    {"error": "content is larger than 64 KiB", "field": "content"},
)
KEY_NOT_FOUND = Refusal(404, "The key has no live value (never set, deleted or expired).", {"error": "key not found"})


@app.post(
    "/workspaces/<workspace_id>/memories",
    tags=[MEMORIES],
    summary="Commit a memory",
    description="`LOCAL` (the workspace's own), `TEAM` (its team's) or `GLOBAL` (everyone's; root "
    "workspaces only). Secrets in the content are redacted before it is stored. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {201: "The memory's id, scope and namespace"},
        *WORKSPACE_REFUSALS,
        BAD_MEMORY,
        Refusal(
            403,
            "A `GLOBAL` memory from a workspace that is not a root.",
            {"error": "only root workspaces can write GLOBAL memories"},
        ),
        CONTENT_TOO_LARGE,
        BODY_TOO_LARGE,
    ),
)
def commit_memory(
    workspace_id: UUID,
    body: Annotated[CommitMemoryRequest, Body(openapi_examples=COMMIT_EXAMPLES)],
    caller: WorkspaceCaller,
) -> Response[CommittedMemory]:
    return Response(201, content_types.APPLICATION_JSON, service.commit_memory(workspace_id, body))


@app.get(
    "/workspaces/<workspace_id>/memories",
    tags=[MEMORIES],
    summary="Search the memories a workspace can read",
    description="Full text (`q`) or by similarity (`embedding`, `0.1,0.2,…` or a JSON array), within "
    "`scope` and `namespace`; at most 50 hits. Long embeddings go in the body of `POST …/memories/search`. "
    + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The hits"}, *WORKSPACE_REFUSALS, BAD_MEMORY),
)
def search_memories(
    workspace_id: UUID, query: Annotated[SearchMemoriesRequest, Query()], caller: WorkspaceCaller
) -> list[Memory]:
    return service.search_memories(workspace_id, query)


@app.post(
    "/workspaces/<workspace_id>/memories/search",
    tags=[MEMORIES],
    summary="Search the memories a workspace can read (query in the body)",
    description="`GET …/memories` with the same fields as a JSON body: an embedding of a real model's size "
    "does not fit a request line. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The hits"}, *WORKSPACE_REFUSALS, BAD_MEMORY, BODY_TOO_LARGE),
)
def search_memories_by_body(
    workspace_id: UUID,
    body: Annotated[SearchMemoriesRequest, Body(openapi_examples=SEARCH_EXAMPLES)],
    caller: WorkspaceCaller,
) -> list[Memory]:
    return service.search_memories(workspace_id, body)


@app.delete(
    "/workspaces/<workspace_id>/memories/<memory_id>",
    tags=[MEMORIES],
    summary="Delete one of a workspace's memories",
    description="Only its own: another workspace's memory is a 404, like one that does not exist. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Deleted", example={"status": "deleted"})},
        *CALLER_REFUSALS,
        WORKSPACE_NOT_FOUND,
        Refusal(
            404,
            "No memory of this workspace has this id.",
            {"error": "memory not found or not owned by this workspace"},
        ),
    ),
)
def delete_memory(workspace_id: UUID, memory_id: UUID, caller: WorkspaceCaller) -> dict[str, str]:
    service.delete_memory(workspace_id, memory_id)
    return {"status": "deleted"}


@app.get(
    "/workspaces/<workspace_id>/memory",
    tags=[MEMORIES],
    summary="List a workspace's key-value memory",
    description="Every live key with its value, version and expiry. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The entries"}, *WORKSPACE_REFUSALS),
)
def list_memory_values(workspace_id: UUID, caller: WorkspaceCaller) -> list[MemoryValue]:
    return service.list_memory_values(workspace_id)


@app.post(
    "/workspaces/<workspace_id>/memory",
    tags=[MEMORIES],
    summary="Set a key-value memory entry",
    description="An upsert; with `if_match_version` a compare-and-swap (0: only if the key has no value). "
    "`ttl_seconds` makes it expire. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: "The key and its new version"},
        *WORKSPACE_REFUSALS,
        Refusal(
            409,
            "`if_match_version` is not the key's version: both versions are in the answer (`current_version` null "
            "when the key has no value).",
            {"error": "if_match_version mismatch", "expected_version": 3, "current_version": 4},
        ),
        Refusal(413, "`value` is larger than 256 KiB.", {"error": "value is larger than 256 KiB", "field": "value"}),
        BODY_TOO_LARGE,
    ),
)
def set_memory_value(
    workspace_id: UUID, body: Annotated[SetMemoryRequest, Body(openapi_examples=SET_EXAMPLES)], caller: WorkspaceCaller
) -> SetMemoryResult:
    return service.set_memory_value(workspace_id, body)


@app.get(
    "/workspaces/<workspace_id>/memory/<key>",
    tags=[MEMORIES],
    summary="Get a key-value memory entry",
    description="Its value, version and expiry (`key` URL-encoded). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The entry"}, *WORKSPACE_REFUSALS, KEY_NOT_FOUND),
)
def get_memory_value(workspace_id: UUID, key: str, caller: WorkspaceCaller) -> MemoryValue:
    return service.get_memory_value(workspace_id, key)


@app.delete(
    "/workspaces/<workspace_id>/memory/<key>",
    tags=[MEMORIES],
    summary="Delete a key-value memory entry",
    description="`key` URL-encoded. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: json_answer("Deleted", example={"status": "deleted"})}, *WORKSPACE_REFUSALS, KEY_NOT_FOUND),
)
def delete_memory_value(workspace_id: UUID, key: str, caller: WorkspaceCaller) -> dict[str, str]:
    service.delete_memory_value(workspace_id, key)
    return {"status": "deleted"}


@app.get(
    "/admin/memories/export",
    tags=[ADMIN],
    summary="Export every memory, page by page",
    description="Oldest first, each with its workspace's name (names survive re-creating workspaces, ids "
    "do not); secrets redacted again. `after` is the last id of the previous page. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers(
        {200: "A page of memories"},
        *ADMIN_REFUSALS,
        Refusal(400, "`after` names no memory.", {"error": "after: no memory has this id", "field": "after"}),
    ),
)
def export_memories(
    caller: AdminCaller,
    after: Annotated[UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = MAX_EXPORT_PAGE,
) -> list[ExportedMemory]:
    return service.export_memories(after=after, limit=limit)


@app.post(
    "/admin/memories/import",
    tags=[ADMIN],
    summary="Import memories in the export's shape",
    description="Matched to workspaces by name; an unknown workspace or a memory it already has is "
    "skipped, an invalid entry counted in `errors`. At most 10,000 per import. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers(
        {200: "What was imported, skipped and refused"},
        *ADMIN_REFUSALS,
        Refusal(
            413,
            "More than 10,000 entries (or a body over the edge's limit).",
            {"error": "at most 10000 memories per import"},
        ),
        BODY_TOO_LARGE,
    ),
)
def import_memories(
    body: Annotated[list[Any], Body(openapi_examples=IMPORT_EXAMPLES)], caller: AdminCaller
) -> ImportResult:
    return service.import_memories(body)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
