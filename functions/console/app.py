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

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.http import serve
from molecule_core.platform.observability import logger

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
PAGE_RESPONSES: dict[int, dict] = {200: {"description": "The console page", "content": {"text/html": {}}}}
ASSET_RESPONSES: dict[int, dict] = {
    200: {
        "description": "A script, style sheet or icon",
        "content": {"text/*": {}, "image/svg+xml": {}},
    },
    404: {"description": "No such file", "content": {"application/json": {}}},
}


@app.get("/", summary="The operator console's page", responses=PAGE_RESPONSES)
def index() -> Response[bytes | str]:
    return console_file("index.html", INDEX_CACHE)


@app.get("/console/<path>", summary="The operator console's scripts and styles", responses=ASSET_RESPONSES)
def asset(path: str) -> Response[bytes | str]:
    return console_file(path, ASSET_CACHE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
