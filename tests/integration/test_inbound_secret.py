"""read_or_heal_inbound_secret: one direct test per branch of its (secret, healed, error)
contract, against real PostgreSQL (the history's #2376 follow-up: caller tests alone let a helper
drift while still passing)."""

from __future__ import annotations

import psycopg
import pytest
from molecule_core.platform import db
from molecule_core.platform.errors import DatastoreUnavailable
from molecule_core.registry.inbound_secret import read_or_heal_inbound_secret

from tests.conftest import ApiClient, create_workspace


def _secret(database: str, workspace_id: str) -> str | None:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT platform_inbound_secret FROM workspaces WHERE id = %s", (workspace_id,)).fetchone()
    return row[0] if row else None


@pytest.fixture
def workspace_id(api: ApiClient, admin: str) -> str:
    return str(create_workspace(api, admin, name="w", external=True)["id"])


def test_secret_present_is_returned_unhealed(workspace_id: str, database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET platform_inbound_secret = 'already-there' WHERE id = %s", (workspace_id,))
    assert read_or_heal_inbound_secret(workspace_id) == ("already-there", False, None)  # type: ignore[arg-type]


def test_secret_missing_is_minted_and_stored(workspace_id: str, database: str) -> None:
    assert _secret(database, workspace_id) is None
    secret, healed, error = read_or_heal_inbound_secret(workspace_id)  # type: ignore[arg-type]
    assert (healed, error) == (True, None)
    assert secret is not None and len(secret) == 43
    assert _secret(database, workspace_id) == secret
    # a second call finds it: no second mint
    assert read_or_heal_inbound_secret(workspace_id) == (secret, False, None)  # type: ignore[arg-type]


def test_secret_missing_and_mint_fails(workspace_id: str, database: str, refuse_secret_writes: None) -> None:
    secret, healed, error = read_or_heal_inbound_secret(workspace_id)  # type: ignore[arg-type]
    assert (secret, healed) == (None, False)
    assert isinstance(error, psycopg.Error)
    assert "secret writes refused by test" in str(error)
    assert _secret(database, workspace_id) is None


def test_read_fails(workspace_id: str, database: str) -> None:
    db.configure(dsn="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        secret, healed, error = read_or_heal_inbound_secret(workspace_id)  # type: ignore[arg-type]
    finally:
        db.configure(dsn=database)
    assert (secret, healed) == (None, False)
    assert isinstance(error, DatastoreUnavailable)
    assert _secret(database, workspace_id) is None


def test_concurrent_heals_converge_on_one_secret(workspace_id: str, database: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with db.pooled(database, max_size=4), ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: read_or_heal_inbound_secret(workspace_id), range(8)))  # type: ignore[arg-type]
    assert {r.secret for r in results} == {_secret(database, workspace_id)}
