"""GET / and GET /console/{path}: the operator console's static files (SPEC §5.14).

The files live in the repository's console/ folder; `assets` is a link to it inside this
function's CodeUri, which `sam build` follows and copies (as the migrate function ships
migrations/), so the same relative path finds them on a laptop and in the Lambda package.
Only plain file names of known types are served: the console is one flat folder, so a name with a
slash, a dot-dot or an unknown extension is never a file of ours and answers 404.
"""

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.http import DocumentedHttpResolver as APIGatewayHttpResolver
from molecule_core.platform.http import serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import PLATFORM, PUBLIC, Refusal, answers

CONSOLE_DIR = Path(__file__).resolve().parent / "assets"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSET_NAME = re.compile(r"[A-Za-z0-9_-]+\.(?:html|js|css|svg)")
# The page talks to this API only; no inline script or style, no other origin, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page is revalidated on every load (it names the modules); modules may be reused briefly.
INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=60"

# Powertools' own resolver (under the name the docs function's merge looks for): the console serves
# files, so it has none of the API's validation or error mapping. Its routes are documented with
# the same vocabulary as the API's.
app = APIGatewayHttpResolver()


@lru_cache(maxsize=32)
def _read(name: str) -> tuple[bytes, str] | None:
    """A console file and its ETag, read once per execution environment (the package is immutable)."""
    path = CONSOLE_DIR / name
    if not ASSET_NAME.fullmatch(name) or not path.is_file():
        return None
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def console_file(name: str, cache_control: str) -> Response[bytes | str]:
    found = _read(name)
    if found is None:
        return not_found()
    body, etag = found
    path = CONSOLE_DIR / name
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": etag}
    if app.current_event.headers.get("if-none-match") == etag:
        return Response(304, None, "", headers)
    return Response(200, CONTENT_TYPES[path.suffix], body.decode("utf-8"), headers)


@app.not_found
def not_found(exc: Exception | None = None) -> Response[bytes | str]:
    return Response(404, "application/json", '{"error":"not found"}', SECURITY_HEADERS)


# What the API reference documents (schemathesis checks every answer against it).
NOT_MODIFIED = {"description": "Unchanged since the `ETag` sent in `If-None-Match`"}
NO_SUCH_FILE = Refusal(404, "No such console file.", {"error": "not found"})


@app.get(
    "/",
    tags=[PLATFORM],
    summary="The operator console",
    description="A single page that talks to this API; it asks for a token in the browser. No token needed.",
    security=PUBLIC,
    responses=answers(
        {200: {"description": "The console page", "content": {"text/html": {}}}, 304: NOT_MODIFIED}, NO_SUCH_FILE
    ),
)
def index() -> Response[bytes | str]:
    return console_file("index.html", INDEX_CACHE)


@app.get(
    "/console/<path>",
    tags=[PLATFORM],
    summary="The operator console's scripts and styles",
    description="The files the console page loads (one flat folder of `.js`, `.css` and `.svg`). No token needed.",
    security=PUBLIC,
    responses=answers(
        {
            200: {"description": "A script, style sheet or icon", "content": {"text/*": {}, "image/svg+xml": {}}},
            304: NOT_MODIFIED,
        },
        NO_SUCH_FILE,
    ),
)
def asset(path: str) -> Response[bytes | str]:
    return console_file(path, ASSET_CACHE)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
