"""The reference agent's private files (SPEC §6): atomic, 0600 at every moment, missing → None."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

from reference_agent.credentials import (
    AUTH_TOKEN_FILE,
    INBOUND_SECRET_FILE,
    CredentialStore,
    read_private_file,
    write_private_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_file_reads_as_none(tmp_path: Path) -> None:
    assert read_private_file(tmp_path / ".auth_token") is None


def test_an_empty_file_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / ".auth_token").write_text("\n")
    assert read_private_file(tmp_path / ".auth_token") is None


def test_a_written_value_reads_back_and_the_file_is_0600(tmp_path: Path) -> None:
    # Given a permissive umask, which must not leak into the file's mode
    previous = os.umask(0)
    try:
        write_private_file(tmp_path / ".auth_token", "tok-1")
    finally:
        os.umask(previous)
    assert read_private_file(tmp_path / ".auth_token") == "tok-1"
    assert _mode(tmp_path / ".auth_token") == 0o600


def test_overwriting_replaces_the_value_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_private_file(tmp_path / ".platform_inbound_secret", "old")
    write_private_file(tmp_path / ".platform_inbound_secret", "new")
    assert read_private_file(tmp_path / ".platform_inbound_secret") == "new"
    assert [p.name for p in tmp_path.iterdir()] == [".platform_inbound_secret"]


def test_a_concurrent_reader_never_sees_a_partial_or_readable_by_others_file(tmp_path: Path) -> None:
    # Given a writer that keeps replacing a large value with another one
    path = tmp_path / ".auth_token"
    values = {"a" * 200_000, "b" * 200_000}
    write_private_file(path, "a" * 200_000)
    done = threading.Event()

    def keep_writing() -> None:
        try:
            for i in range(200):
                write_private_file(path, ("a" if i % 2 else "b") * 200_000)
        finally:
            done.set()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    # When a reader opens the file over and over while the writer runs
    reads = 0
    deadline = time.monotonic() + 30
    try:
        while not done.is_set() and time.monotonic() < deadline:
            fd = os.open(path, os.O_RDONLY)
            try:
                # Then the file it opened is 0600 and holds one whole value
                assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
                with os.fdopen(os.dup(fd)) as handle:
                    assert handle.read() in values
            finally:
                os.close(fd)
            reads += 1
    finally:
        writer.join(timeout=30)
    assert done.is_set(), "writer did not finish before the deadline"
    assert reads > 0


def test_the_store_keeps_both_secrets_in_its_private_config_dir(tmp_path: Path) -> None:
    config_dir = tmp_path / "agent" / "config"
    store = CredentialStore(config_dir)
    assert store.auth_token is None and store.inbound_secret is None

    store.save_auth_token("workspace-token")
    store.save_inbound_secret("inbound-secret")

    assert store.auth_token == "workspace-token"
    assert store.inbound_secret == "inbound-secret"
    assert (config_dir / AUTH_TOKEN_FILE).read_text() == "workspace-token"
    assert (config_dir / INBOUND_SECRET_FILE).read_text() == "inbound-secret"
    assert _mode(config_dir / AUTH_TOKEN_FILE) == 0o600
    assert _mode(config_dir / INBOUND_SECRET_FILE) == 0o600
    assert _mode(config_dir) == 0o700


def test_clearing_the_inbox_cursor_removes_it(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save_inbox_cursor("row-1")
    assert store.inbox_cursor == "row-1"
    store.save_inbox_cursor(None)
    assert store.inbox_cursor is None
