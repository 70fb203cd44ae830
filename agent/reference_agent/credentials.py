"""The agent's private files: the workspace token (agent → platform bearer), the platform's inbound
secret (platform → agent bearer) and the inbox cursor, kept in the config dir with mode 0600.

Writes are atomic: the value goes to a fresh temporary file in the same directory, created 0600
from the start, is fsynced, and then renamed over the old file. A reader (another process, or the
control endpoint checking a bearer) therefore sees either the old value or the new one — never a
half-written file, and never a moment where the secret is readable by anyone else."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

# File names, not secrets.
AUTH_TOKEN_FILE = ".auth_token"  # noqa: S105
INBOUND_SECRET_FILE = ".platform_inbound_secret"  # noqa: S105
INBOX_CURSOR_FILE = ".inbox_cursor"

_PRIVATE_FILE_MODE = 0o600
_PRIVATE_DIR_MODE = 0o700


def write_private_file(path: Path, value: str) -> None:
    """Replace `path` with `value` atomically; the file is 0600 at every moment of its life."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: never reuse (or follow a symlink planted at) an existing name; the mode is given at
    # creation so the secret is never world-readable, not even between create and chmod.
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, _PRIVATE_FILE_MODE)
    try:
        try:
            os.fchmod(fd, _PRIVATE_FILE_MODE)  # a umask can only remove bits; make the mode exact
            data = value.encode()
            while data:
                written = os.write(fd, data)
                data = data[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def read_private_file(path: Path) -> str | None:
    """The stored value, or None when the file is missing or empty."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    return value or None


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (a crash right after
    # register must not lose a token the platform will never show again).
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CredentialStore:
    """The two bearer secrets of one workspace, in its config dir."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        config_dir.mkdir(mode=_PRIVATE_DIR_MODE, parents=True, exist_ok=True)

    @property
    def auth_token(self) -> str | None:
        return read_private_file(self.config_dir / AUTH_TOKEN_FILE)

    def save_auth_token(self, token: str) -> None:
        write_private_file(self.config_dir / AUTH_TOKEN_FILE, token)

    @property
    def inbound_secret(self) -> str | None:
        return read_private_file(self.config_dir / INBOUND_SECRET_FILE)

    def save_inbound_secret(self, secret: str) -> None:
        write_private_file(self.config_dir / INBOUND_SECRET_FILE, secret)

    @property
    def inbox_cursor(self) -> str | None:
        return read_private_file(self.config_dir / INBOX_CURSOR_FILE)

    def save_inbox_cursor(self, activity_id: str | None) -> None:
        if activity_id is None:
            with contextlib.suppress(FileNotFoundError):
                (self.config_dir / INBOX_CURSOR_FILE).unlink()
        else:
            write_private_file(self.config_dir / INBOX_CURSOR_FILE, activity_id)
