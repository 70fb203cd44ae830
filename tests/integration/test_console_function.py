"""The console function (SPEC §5.14) through the template's routes and real API Gateway v2 events:
the page and its assets with their content types, caching and Content-Security-Policy; nothing
outside console/ and no unknown name is ever served."""

from __future__ import annotations

import re

import pytest
from molecule_local.gateway import Gateway, HttpResult
from molecule_local.lambdas import FunctionRegistry
from molecule_local.template import REPO_ROOT

from tests.conftest import ApiClient

CONSOLE = REPO_ROOT / "console"


@pytest.fixture
def console(functions: FunctionRegistry, routes) -> ApiClient:
    # Static files only: no database needed.
    return ApiClient(Gateway(routes, functions))


def _assert_locked_down(result: HttpResult) -> None:
    policy = result.headers["content-security-policy"]
    for directive in (
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
        "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
    ):  # fmt: skip
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert result.headers["x-content-type-options"] == "nosniff"


def test_root_serves_the_page_revalidated_on_every_load(console: ApiClient) -> None:
    result = console.get("/")
    assert result.status == 200
    assert result.headers["content-type"] == "text/html; charset=utf-8"
    assert result.headers["cache-control"] == "no-cache"
    assert result.body == (CONSOLE / "index.html").read_bytes()
    _assert_locked_down(result)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_content_type_and_a_short_cache(console: ApiClient, name: str, content_type: str) -> None:
    result = console.get(f"/console/{name}")
    assert result.status == 200
    assert result.headers["content-type"] == content_type
    assert result.headers["cache-control"] == "public, max-age=60"
    assert result.body == (CONSOLE / name).read_bytes()
    _assert_locked_down(result)


def test_an_unchanged_asset_revalidates_with_its_etag(console: ApiClient) -> None:
    etag = console.get("/console/app.js").headers["etag"]
    again = console.get("/console/app.js", headers={"if-none-match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag


@pytest.mark.parametrize(
    "path",
    [
        "/console/nothing.js",
        "/console/..",
        "/console/%2e%2e%2ftemplate.yaml",
        "/console/..%2fapp.py",
        "/console/app.py",
        "/console/README",
        "/console/.hidden.js",
    ],
)
def test_unknown_or_escaping_asset_is_404_json(console: ApiClient, path: str) -> None:
    result = console.get(path)
    assert result.status == 404
    assert result.json() == {"error": "not found"}
    _assert_locked_down(result)


def test_nested_paths_never_reach_a_file(console: ApiClient) -> None:
    # The console is one flat folder: API Gateway matches {path} within one segment.
    result = console.get("/console/../template.yaml")
    assert result.status == 404
    assert result.json()


def test_every_file_the_page_loads_is_served(console: ApiClient) -> None:
    """Every module, stylesheet and icon referenced by the page or imported by a module exists."""
    page = (CONSOLE / "index.html").read_text()
    referenced = set(re.findall(r'(?:src|href)="/console/([^"]+)"', page))
    for module in CONSOLE.glob("*.js"):
        referenced |= set(re.findall(r'from "\./([^"]+)"', module.read_text()))
    assert {"app.js", "style.css"} <= referenced
    for name in referenced:
        assert console.get(f"/console/{name}").status == 200, name


def test_the_page_has_no_inline_script_style_or_handlers() -> None:
    """What the Content-Security-Policy would block in a browser is not written in the first place."""
    page = (CONSOLE / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline <script>"
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page), "inline event handler"
    for module in CONSOLE.glob("*.js"):
        source = module.read_text()
        assert "innerHTML" not in source, f"{module.name}: API data must reach the page as text"
        assert "eval(" not in source and "new Function" not in source


def test_console_stays_small() -> None:
    total = sum(path.stat().st_size for path in CONSOLE.iterdir() if path.is_file())
    assert total < 150 * 1024, f"console/ is {total} bytes"
