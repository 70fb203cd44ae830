"""`make run` for real: the local stack process serves the API over HTTP on the embedded
defaults, and the quick start of the README works with a plain HTTP client."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg

from tests.conftest import embedded_pgdata_dir
from tests.e2e.conftest import REPO, LocalStackProcess, stack_env


def test_health_over_http(local_stack: LocalStackProcess) -> None:
    result = httpx.get(f"{local_stack.base_url}/health")
    assert result.status_code == 200
    assert result.text == '{"status":"ok"}'


def test_workspace_crud_over_http(local_stack: LocalStackProcess) -> None:
    base = local_stack.base_url
    # development mode with ADMIN_TOKEN unset: no bearer needed on the laptop
    created = httpx.post(f"{base}/workspaces", json={"name": "laptop agent", "external": True})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "awaiting_agent"
    assert body["connection"]["platform_url"] == base
    listed = httpx.get(f"{base}/workspaces").json()
    assert [w["id"] for w in listed] == [body["id"]]
    fetched = httpx.get(f"{base}/workspaces/{body['id']}")
    assert fetched.json()["name"] == "laptop agent"
    deleted = httpx.delete(f"{base}/workspaces/{body['id']}")
    assert deleted.json() == {"status": "removed", "cascade_deleted": 0, "purged": False}
    assert httpx.get(f"{base}/workspaces/{body['id']}").status_code == 410
    # a presented but invalid bearer is still refused in development
    assert httpx.get(f"{base}/workspaces", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_concurrent_requests_are_served(local_stack: LocalStackProcess) -> None:
    import concurrent.futures

    base = local_stack.base_url
    with httpx.Client() as client, concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(
                lambda i: client.post(f"{base}/workspaces", json={"name": f"w{i}", "external": True}),
                range(40),
            )
        )
    assert [r.status_code for r in results] == [201] * 40
    assert len(httpx.get(f"{base}/workspaces").json()) == 40


def test_unknown_route_and_large_body(local_stack: LocalStackProcess) -> None:
    base = local_stack.base_url
    assert httpx.get(f"{base}/nope").status_code == 404
    too_big = httpx.post(f"{base}/workspaces", content=b"x" * (10 * 1024 * 1024 + 1))
    assert too_big.status_code == 413


def test_embedded_postgres_default_migrates_and_keeps_data(tmp_path: Path) -> None:
    """No DATABASE_URL: the stack starts its own PostgreSQL under MOLECULE_DATA_DIR, migrates,
    and a second start finds the data again."""
    data_dir = embedded_pgdata_dir("stack").parent
    env = stack_env(MOLECULE_DATA_DIR=str(data_dir))
    first = LocalStackProcess(env, tmp_path / "first.log")
    try:
        created = httpx.post(f"{first.base_url}/workspaces", json={"name": "kept", "external": True})
        assert created.status_code == 201
    finally:
        assert first.stop() == 0
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    second = LocalStackProcess(env, tmp_path / "second.log")
    try:
        names = [w["name"] for w in httpx.get(f"{second.base_url}/workspaces").json()]
        assert names == ["kept"]
    finally:
        assert second.stop() == 0
    assert "Database   embedded PostgreSQL" in (tmp_path / "second.log").read_text()


def test_stack_stops_cleanly_on_sigterm(database_url: str, tmp_path: Path) -> None:
    stack = LocalStackProcess(stack_env(DATABASE_URL=database_url), tmp_path / "s.log")
    assert stack.stop() == 0
    assert "stopping" in (tmp_path / "s.log").read_text()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_taken_port_is_one_line_naming_it_before_the_database_starts(tmp_path: Path) -> None:
    """`make run` on a port another program holds: one line naming the port and MOLECULE_PORT, and
    neither the embedded database nor the migrations were started."""
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "molecule_local", "run"],
            cwd=REPO,
            env=stack_env(MOLECULE_PORT=str(port), MOLECULE_DATA_DIR=str(data_dir)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "MOLECULE_PORT" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (data_dir / "pgdata").exists()
