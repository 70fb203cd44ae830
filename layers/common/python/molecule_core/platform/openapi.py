"""The API reference (SPEC §4.2: GET /openapi.json and GET /docs): the vocabulary every route
documents itself with, and the one document both routes serve.

A route says what it is in its own decorator — `tags=[<tag>]`, `summary=`, `description=`,
`security=<one of the requirements below>` and `responses=answers({<status>: "…"}, <refusals>)` —
so the route table stays the one list of routes (template.yaml → functions/<name>/app.py). The
refusals are shared values (`Refusal`), not dicts copied from route to route: a route names the
ones it can answer and `answers` turns them into responses with their real bodies and headers.

`api_reference` makes the merged document say what the API answers. Powertools documents a failed
request validation as 422 with its own body; `http.install_error_handlers` answers 400
`{"error","field"}` (SPEC §4). tests/unit/test_api_reference.py holds every templated route to
this vocabulary; tests/integration/test_schemathesis.py checks generated cases and a sample of real
answers against the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from molecule_core.platform.errors import DatastoreUnavailable, TooManyRequests
from molecule_core.platform.validation import MAX_JSON_BODY_BYTES

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import Example, SecurityScheme, Tag

# --- tags: one per domain, in the order /docs shows them ----------------------------------------

WORKSPACES = "workspaces"
REGISTRY = "registry"
A2A = "a2a"
ACTIVITY = "activity"
EVENTS = "events"
LIFECYCLE = "lifecycle"
TOKENS = "tokens"
FILES = "files"
DELEGATIONS = "delegations"
MEMORIES = "memories"
SECRETS = "secrets"
ADMIN = "admin"
PLATFORM = "platform"

# What each tag groups, in the reference's order. Plain data: Powertools' OpenAPI models cost every
# function ~55 ms of cold start, and only the reference itself needs them (`tags()`).
TAG_DESCRIPTIONS: dict[str, str] = {
    WORKSPACES: "Create, read, change and delete workspaces.",
    REGISTRY: "What agents call: register, heartbeat, agent card, discovery, peers.",
    A2A: "The A2A proxy to a workspace's agent, its agent card and its queue.",
    ACTIVITY: "A workspace's activity feed and inbox, agent self-reports, notes to users.",
    EVENTS: "Structural events: workspaces created, online, offline, removed.",
    LIFECYCLE: "Restart, pause, resume, hibernate, team expand.",
    TOKENS: "Workspace tokens and org tokens.",
    FILES: "Chat uploads and downloads, and large files through presigned URLs.",
    DELEGATIONS: "Work one workspace hands to another.",
    MEMORIES: "Agent memories and key-value memory.",
    SECRETS: "Workspace secrets, its model, global secrets; names only, never values.",
    ADMIN: "The /admin routes: the fleet's queue, global secrets, memory export, test tokens.",
    PLATFORM: "Health, this reference and the operator console; no token needed.",
}
TAG_NAMES = frozenset(TAG_DESCRIPTIONS)


def tags() -> list[Tag | str]:
    """The reference's tags, as the OpenAPI merge takes them."""
    from aws_lambda_powertools.event_handler.openapi.models import Tag

    return [Tag(name=name, description=description) for name, description in TAG_DESCRIPTIONS.items()]


# --- security: who may call a route (SPEC §4.1) ---------------------------------------------------

# The schemes' names (not credentials).
WORKSPACE_TOKEN = "workspaceToken"  # noqa: S105
ORG_TOKEN = "orgToken"  # noqa: S105
ADMIN_TOKEN = "adminToken"  # noqa: S105

_SCHEME_DESCRIPTIONS: dict[str, str] = {
    WORKSPACE_TOKEN: "A workspace's own token (the `connection` block of `POST /workspaces`, the first "
    "`POST /registry/register`, or `POST /workspaces/{workspace_id}/tokens`). It acts for that "
    "workspace only: on another workspace's routes it is a 401.",
    ORG_TOKEN: "An org token (`POST /org/tokens`): acts for users, on every workspace.",
    ADMIN_TOKEN: "The platform's `ADMIN_TOKEN`: acts for the operator, on every workspace.",
}
SECURITY_SCHEME_NAMES = frozenset(_SCHEME_DESCRIPTIONS)


def security_schemes() -> dict[str, SecurityScheme]:
    """The bearer schemes the reference's Authorize dialog offers (built when a reference is)."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {name: HTTPBearer(description=description) for name, description in _SCHEME_DESCRIPTIONS.items()}


# `security=` of a route: any one of the listed requirements lets a request through. `{}` is "no
# token": Swagger's Authorize then sends none.
WORKSPACE_AUTH: list[dict[str, list[str]]] = [{WORKSPACE_TOKEN: []}, {ORG_TOKEN: []}, {ADMIN_TOKEN: []}]
"""WorkspaceAuth: the workspace's own token (the one in the path), an org token or the admin token."""
ANY_TOKEN_AUTH: list[dict[str, list[str]]] = [{WORKSPACE_TOKEN: []}, {ORG_TOKEN: []}, {ADMIN_TOKEN: []}]
"""Any live credential: any workspace's token, an org token or the admin token."""
ADMIN_AUTH: list[dict[str, list[str]]] = [{ORG_TOKEN: []}, {ADMIN_TOKEN: []}]
"""AdminAuth: an org token or the admin token."""
OWN_WORKSPACE_AUTH: list[dict[str, list[str]]] = [{WORKSPACE_TOKEN: []}]
"""Only the workspace's own token."""
ADMIN_TOKEN_AUTH: list[dict[str, list[str]]] = [{ADMIN_TOKEN: []}]
"""Only the admin token itself."""
AGENT_AUTH: list[dict[str, list[str]]] = [{WORKSPACE_TOKEN: []}, {}]
"""The registry's rule: the workspace's own token once it has one; none before its first register."""
PUBLIC: list[dict[str, list[str]]] = [{}]
"""No token."""
# The sentence a description ends with, saying the same as its security in words.
WORKSPACE_CALLER = "**Caller:** the workspace's own token, an org token or the admin token."
ADMIN_CALLER = "**Caller:** an org token or the admin token."

# --- bodies -------------------------------------------------------------------------------------

ERROR_REF = "#/components/schemas/Error"
# The body of every refusal (`DomainError.body`). Extra members say more where a client can act on
# them (`hint`, `code`, `children`, `retry_after_seconds`, …); each route's examples show them.
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, written for the caller"},
        "field": {"type": "string", "description": "the offending field, for invalid input (`children[0].role`)"},
        "code": {"type": "string", "description": "a stable code where one exists (`platform_unavailable`, …)"},
        "hint": {"type": "string", "description": "what to do about it"},
    },
    "additionalProperties": True,
}
EVENT_STREAM = "text/event-stream"
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}

RetryAfter = Literal["always", "sometimes"]


@dataclass(frozen=True)
class Refusal:
    """One way a route refuses: the status, what it means for the caller, a real body (`example`)
    and whether `Retry-After` comes with it. `schema`: the body's JSON schema (default `Error`)."""

    status: int
    description: str
    example: Any = None
    retry_after: RetryAfter | None = None
    schema: Mapping[str, Any] = field(default_factory=lambda: {"$ref": ERROR_REF})


INVALID = Refusal(
    400,
    "Invalid input: `field` names the offending body field, query, path or header parameter.",
    {"error": "name: field required", "field": "name"},
)
UNAUTHORIZED = Refusal(
    401,
    "No bearer token, or one that may not call this route (revoked, or another workspace's).",
    {"error": "missing workspace auth token"},
)
ADMIN_UNAUTHORIZED = Refusal(
    401,
    "No bearer token, or one that is neither an org token nor the admin token.",
    {"error": "invalid admin auth token"},
)
WORKSPACE_NOT_FOUND = Refusal(404, "No workspace has this id (or it was purged).", {"error": "workspace not found"})
WORKSPACE_GONE = Refusal(
    410,
    "The workspace was deleted; it keeps answering 410, never comes back.",
    {"error": "workspace removed", "id": "3f0c1c9e-8a53-4a55-9d1b-6f2a9a3b7c10"},
)
CURSOR_GONE = Refusal(
    410,
    "`since_id` names a row that no longer exists (retention): restart without it.",
    {"error": "cursor not found; restart without since_id", "code": "cursor_gone"},
)
BODY_TOO_LARGE = Refusal(
    413,
    f"The JSON body is larger than {MAX_JSON_BODY_BYTES} bytes.",
    {"error": f"request body is larger than {MAX_JSON_BODY_BYTES} bytes"},
)
RATE_LIMITED = Refusal(
    429,
    "This credential sent more requests than its rate limit allows: wait `Retry-After` seconds.",
    TooManyRequests(
        "rate limit exceeded: at most 50 requests per second per credential (bursts of 200); retry in 1 s"
    ).body(),
    retry_after="always",
)
DATASTORE_DOWN = Refusal(
    503,
    "The platform's database cannot be reached: retry after `Retry-After` seconds.",
    DatastoreUnavailable().body(),
    retry_after="always",
)

# What any route behind a credential check may answer whatever it does: the credential refused,
# its rate limit, and the database the credential is looked up in being down.
CALLER_REFUSALS: tuple[Refusal, ...] = (UNAUTHORIZED, RATE_LIMITED, DATASTORE_DOWN)
ADMIN_REFUSALS: tuple[Refusal, ...] = (ADMIN_UNAUTHORIZED, RATE_LIMITED, DATASTORE_DOWN)
# ... and a route under /workspaces/{workspace_id}: no such workspace (a malformed id too).
WORKSPACE_REFUSALS: tuple[Refusal, ...] = (*CALLER_REFUSALS, WORKSPACE_NOT_FOUND)

RETRY_AFTER_HEADER = "Retry-After"
# An operation extension (`openapi_extensions=relays_agent_answer(...)`): the route answers what the
# workspace's agent answered, whatever its status. Powertools keys responses by int, so the
# `default` response this becomes is added by `api_reference`.
RELAYED_EXTENSION = "x-molecule-relays-agent-answer"
# A request body extension: the route reads this body itself, not the edge's JSON parser.
RAW_BODY_EXTENSION = "x-molecule-read-by-route"
# An operation extension (`openapi_extensions=header_parameters(...)`): parameters the route's
# dependencies read; `api_reference` appends them to the operation's own (which Powertools writes
# after the extensions, so they cannot be given as `parameters` directly).
PARAMETERS_EXTENSION = "x-molecule-parameters"


def answers(success: Mapping[int, str | OpenAPIResponse], *refusals: Refusal) -> dict[int, OpenAPIResponse]:
    """`responses=` of a route: its success answers (a description alone: the body is the route's
    return type) and its refusals, several of one status merged into one response (their bodies as
    named examples). A route that names a 400 of its own also answers the edge's (`INVALID`)."""
    documented: dict[int, OpenAPIResponse] = {
        status: {"description": answer} if isinstance(answer, str) else answer for status, answer in success.items()
    }
    by_status: dict[int, list[Refusal]] = {}
    for refusal in refusals:
        group = by_status.setdefault(refusal.status, [])
        if refusal not in group:
            group.append(refusal)
    if 400 in by_status and INVALID not in by_status[400]:
        by_status[400].insert(0, INVALID)
    for status in sorted(by_status):
        documented[status] = refusal_response(by_status[status])
    return documented


def json_answer(
    description: str,
    *,
    example: Any = None,
    model: type[BaseModel] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> OpenAPIResponse:
    """A success answer whose body the route's return type does not describe well: `model` (a
    pydantic model), `schema`, or else an object with exactly the members of `example` (the routes
    that return a small dict)."""
    media: dict[str, Any]
    if model is not None:
        media = {"model": model}
    else:
        media = {"schema": dict(schema) if schema is not None else _object_like(example)}
    if example is not None:
        media["example"] = example
    return cast(OpenAPIResponse, {"description": description, "content": {"application/json": media}})


_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _object_like(example: Any) -> dict[str, Any]:
    """The shallow schema of an example object: its members, required, with their JSON types."""
    if not isinstance(example, dict):
        return {"type": "object"}
    properties = {
        name: next(({"type": kind} for cls, kind in _JSON_TYPES if isinstance(value, cls)), {})
        for name, value in example.items()
    }
    return {"type": "object", "required": list(example), "properties": properties}


def refusal_response(refusals: list[Refusal]) -> OpenAPIResponse:
    """The OpenAPI response of one status that any of `refusals` may be."""
    if len(refusals) == 1:
        description = refusals[0].description
    else:
        description = "\n".join(f"- {refusal.description}" for refusal in refusals)
    schemas: list[dict[str, Any]] = []
    for refusal in refusals:
        if dict(refusal.schema) not in schemas:
            schemas.append(dict(refusal.schema))
    media: dict[str, Any] = {"schema": schemas[0] if len(schemas) == 1 else {"anyOf": schemas}}
    examples = {_example_name(r): {"summary": _first_sentence(r.description), "value": r.example} for r in refusals}
    if any(r.example is not None for r in refusals):
        media["examples"] = {name: value for name, value in examples.items() if value["value"] is not None}
    response: dict[str, Any] = {"description": description, "content": {"application/json": media}}
    retry = [r.retry_after for r in refusals]
    if any(retry):
        always = all(value == "always" for value in retry)
        response["headers"] = {
            RETRY_AFTER_HEADER: {
                "description": "Seconds to wait before retrying" + ("" if always else " (when the wait is known)"),
                "required": always,
                "schema": {"type": "integer"},
            }
        }
    return cast(OpenAPIResponse, response)


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.:;])\s", text, maxsplit=1)[0].rstrip(".:;")


def _example_name(refusal: Refusal) -> str:
    said = refusal.example.get("error") if isinstance(refusal.example, dict) else None
    words = said if isinstance(said, str) else refusal.description
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")[:60] or str(refusal.status)


def event_stream(data: Mapping[str, Any], description: str) -> dict[str, Any]:
    """The `text/event-stream` media type of an answer: the schema of each server-sent event (as
    OpenAPI tools read a stream's schema), its `data` a JSON document shaped like `data`."""
    event = {
        "title": "Server-sent event",
        "description": description,
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "id": {"type": "string"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": dict(data)},
        },
    }
    return {"schema": event}


def example(summary: str, value: Any, description: str | None = None) -> Example:
    """A request body example (`Body(openapi_examples={name: example(…)})`): clients copy these.
    A plain mapping, which the reference validates into Powertools' `Example` when it is built."""
    shown = {"summary": summary, "value": value} | ({"description": description} if description else {})
    return cast("Example", shown)


def raw_request_body(
    content: Mapping[str, Mapping[str, Any]], *, description: str, required: bool = True
) -> dict[str, Any]:
    """`openapi_extensions=` for a route that reads its body itself (the A2A proxy: bytes for the
    normaliser; chat uploads: multipart): Powertools documents a body only from a body parameter,
    and such a route has none. `content`: media type → {"schema": …, "examples": …}. The body is
    marked `RAW_BODY_EXTENSION`: the edge's JSON checks (400 naming the field, 413) do not run on it."""
    body = {"description": description, "required": required, "content": dict(content), RAW_BODY_EXTENSION: True}
    return {"requestBody": body}


def header_parameters(*parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`openapi_extensions=` for headers a route's caller dependency reads (`X-Workspace-ID`, …):
    Powertools documents only the route's own parameters, and Swagger sends only documented ones."""
    return {PARAMETERS_EXTENSION: [{"in": "header", **parameter} for parameter in parameters]}


def relays_agent_answer(description: str) -> dict[str, Any]:
    """`openapi_extensions=` for a route that answers the agent's own answer, any status."""
    return {RELAYED_EXTENSION: description}


# Who a caller workspace says it is (`auth.callers`): a workspace id, proven by its own token.
CALLER_WORKSPACE_HEADER: dict[str, Any] = {
    "name": "X-Workspace-ID",
    "description": "The calling workspace's id; the bearer must be that workspace's own token.",
    "schema": {"type": "string", "format": "uuid"},
}

# --- the document ---------------------------------------------------------------------------------

REFERENCE_DESCRIPTION = """\
The control plane of agent workspaces: registry, A2A proxy, activity, lifecycle, files, delegations,
memories and secrets.

**Authorising.** Every route but health, this reference and the console takes
`Authorization: Bearer <token>`. Press **Authorize** and fill in the token you have: a workspace's
own token, an org token or the admin token; each operation lists which of them it accepts.

**Answers.** JSON, compact. A refusal is `{"error": "<message>", …}`; invalid input is **400** with
`field` naming the offending field; `Retry-After` comes with 429 and with a 503 that can be waited
out. The A2A proxy answers JSON-RPC envelopes (its refusals of a payload are JSON-RPC errors).
"""


def _plain(value: Any) -> Any:
    """`value` as JSON would carry it: str keys, pydantic models (Powertools' security schemes, tags)
    dumped by alias without their unset members."""

    def dump(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(mode="json", by_alias=True, exclude_none=True)
        return to_jsonable_python(item)

    return json.loads(json.dumps(value, default=dump))


def _status_order(code: str) -> tuple[int, str]:
    return (int(code), "") if code.isdigit() else (1000, code)


def api_reference(merged: Mapping[str, Any], *own: Mapping[str, Any]) -> dict[str, Any]:
    """The document /openapi.json and /docs serve: `merged` (every function's routes, Powertools'
    merge) plus the paths of `own` (the docs function's routes), each operation as the API answers
    (`_as_answered`). A new document; the inputs are not changed."""
    document = _plain(merged)
    paths: dict[str, Any] = document.setdefault("paths", {})
    for schema in own:
        for path, item in _plain(schema).get("paths", {}).items():
            paths.setdefault(path, {}).update(item)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    invalid = _plain(refusal_response([INVALID]))
    for item in paths.values():
        for operation in item.values():
            _as_answered(operation, invalid)
    return cast(dict[str, Any], document)


def _as_answered(operation: dict[str, Any], invalid: dict[str, Any]) -> None:
    """In place: Powertools' 422 is the 400 the edge answers (unless the route documents its own
    400, `INVALID` included); the headers the caller dependencies read join the parameters; a route
    that relays its agent's answer gets a `default` response; responses in status order."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if responses.pop("422", None) is not None:
        responses.setdefault("400", invalid)
    parameters = operation.get("parameters", []) + operation.pop(PARAMETERS_EXTENSION, [])
    if parameters:
        operation["parameters"] = parameters
    relayed = operation.pop(RELAYED_EXTENSION, None)
    if relayed:
        responses["default"] = {"description": relayed, "content": {"*/*": {"schema": {}}}}
    operation["responses"] = dict(sorted(responses.items(), key=lambda pair: _status_order(pair[0])))


@cache
def _swagger_assets() -> tuple[str, str]:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    folder = Path(swagger_ui.__file__).parent
    return (
        (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (folder / "swagger-ui.min.css").read_text(encoding="utf-8"),
    )


def swagger_page(document_json: str) -> str:
    """Swagger UI (Powertools' bundled copy: it works offline) showing `document_json` — the same
    bytes /openapi.json serves. Authorisations persist across reloads of the page."""
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    script, style = _swagger_assets()
    # `</` would end the <script> the document is embedded in.
    return generate_swagger_html(document_json.replace("</", "<\\/"), script, style, "", None, True)
