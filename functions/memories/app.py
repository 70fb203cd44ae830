"""Memories (SPEC §5.11): agent memories (commit, search, delete), key-value memory (set, get,
list, delete) and the admin export/import."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
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
from molecule_core.platform.http import APIGatewayHttpResolver
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()


@app.post("/workspaces/<workspace_id>/memories")
def commit_memory(workspace_id: UUID, body: CommitMemoryRequest, caller: WorkspaceCaller) -> Response[CommittedMemory]:
    return Response(201, content_types.APPLICATION_JSON, service.commit_memory(workspace_id, body))


@app.get("/workspaces/<workspace_id>/memories")
def search_memories(
    workspace_id: UUID, query: Annotated[SearchMemoriesRequest, Query()], caller: WorkspaceCaller
) -> list[Memory]:
    return service.search_memories(workspace_id, query)


@app.post("/workspaces/<workspace_id>/memories/search")
def search_memories_by_body(workspace_id: UUID, body: SearchMemoriesRequest, caller: WorkspaceCaller) -> list[Memory]:
    return service.search_memories(workspace_id, body)


@app.delete("/workspaces/<workspace_id>/memories/<memory_id>")
def delete_memory(workspace_id: UUID, memory_id: UUID, caller: WorkspaceCaller) -> dict[str, str]:
    service.delete_memory(workspace_id, memory_id)
    return {"status": "deleted"}


@app.get("/workspaces/<workspace_id>/memory")
def list_memory_values(workspace_id: UUID, caller: WorkspaceCaller) -> list[MemoryValue]:
    return service.list_memory_values(workspace_id)


@app.post("/workspaces/<workspace_id>/memory")
def set_memory_value(workspace_id: UUID, body: SetMemoryRequest, caller: WorkspaceCaller) -> SetMemoryResult:
    return service.set_memory_value(workspace_id, body)


@app.get("/workspaces/<workspace_id>/memory/<key>")
def get_memory_value(workspace_id: UUID, key: str, caller: WorkspaceCaller) -> MemoryValue:
    return service.get_memory_value(workspace_id, key)


@app.delete("/workspaces/<workspace_id>/memory/<key>")
def delete_memory_value(workspace_id: UUID, key: str, caller: WorkspaceCaller) -> dict[str, str]:
    service.delete_memory_value(workspace_id, key)
    return {"status": "deleted"}


@app.get("/admin/memories/export")
def export_memories(
    caller: AdminCaller,
    after: Annotated[UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = MAX_EXPORT_PAGE,
) -> list[ExportedMemory]:
    return service.export_memories(after=after, limit=limit)


@app.post("/admin/memories/import")
def import_memories(body: Annotated[list[Any], Body()], caller: AdminCaller) -> ImportResult:
    return service.import_memories(body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
