"""The chat-file endpoints the platform forwards to (SPEC §5.7, §6; RFC #2312 PR-B / PR-D):

- `POST /internal/chat/uploads/ingest` stores multipart `files` under the agent's chat-uploads dir
  (`/workspace/.molecule/chat-uploads`) and answers `{"files": [{uri, name, mimeType, size}]}`;
- `GET /internal/file/read?path=<absolute path>` streams one file from under `/configs`,
  `/workspace`, `/home` or `/plugins`.

Both require `Authorization: Bearer <platform_inbound_secret>` (checked by the caller-supplied
`authorised`, which fails closed while no secret is stored).

The agent's `/` is a directory it owns (`FileSettings.root`, default `<config dir>/files`): the
agent-side path `/workspace/a` is `<root>/workspace/a`. Every path component under the root is
opened with `O_NOFOLLOW` relative to its parent's descriptor after an `lstat`, so a symlink anywhere
— the file or any parent directory — can neither redirect a read nor an upload, and there is no
window between the check and the open for one to be swapped in."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from molecule_core.files.models import content_disposition, guess_mime_type, sanitize_filename, upload_mime_type
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference_agent.config import FileSettings

ALLOWED_ROOTS = ("/configs", "/workspace", "/home", "/plugins")
CHAT_UPLOADS_DIR = "/workspace/.molecule/chat-uploads"
MAX_PATH_CHARS = 4096  # PATH_MAX
MAX_SEGMENT_BYTES = 255  # NAME_MAX
MAX_FILES_PER_UPLOAD = 100
CHUNK_BYTES = 1024 * 1024
_MAX_COLLISION_SUFFIX = 10_000
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_ENCODED_SEPARATOR = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRejected(ValueError):
    """The requested path is not acceptable (400); the message says why."""


def _error(message: str, status_code: int, **extra: str) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status_code)


def _unauthorised() -> JSONResponse:
    return _error("invalid or missing inbound secret", 401)


# --- path safety -----------------------------------------------------------------------------------


def validate_path(path: str) -> list[str]:
    """The components of an agent-side absolute path below `/`, or PathRejected.

    Accepted: absolute, exactly one of ALLOWED_ROOTS or below one (`root + "/"`), no empty, `.` or
    `..` segment (so no `//` and no trailing slash), no NUL, control character or backslash, no
    percent-encoded dot/slash/backslash/NUL. The value is used as given — never percent-decoded
    again."""
    if not path:
        raise PathRejected("path is required")
    if len(path) > MAX_PATH_CHARS:
        raise PathRejected("path too long")
    if not path.startswith("/"):
        raise PathRejected("path must be absolute")
    if "\x00" in path:
        raise PathRejected("NUL in path")
    if "\\" in path:
        raise PathRejected("backslash in path")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in path):
        raise PathRejected("control character in path")
    if "//" in path:
        raise PathRejected("double slash in path")
    if _ENCODED_SEPARATOR.search(path):  # the value is never decoded again; refuse what a lower layer might
        raise PathRejected("percent-encoded dot, slash, backslash or NUL in path")
    if not any(path == root or path.startswith(root + "/") for root in ALLOWED_ROOTS):
        raise PathRejected(f"path must be under one of {', '.join(ALLOWED_ROOTS)}")
    segments = path[1:].split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise PathRejected("path must be canonical (no empty, '.' or '..' segment)")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise PathRejected("path segment too long")
    return segments


def _open_dir_at(parent_fd: int, name: str) -> int:
    """Open directory `name` in `parent_fd`, refusing a symlink (lstat first, then O_NOFOLLOW)."""
    info = os.lstat(name, dir_fd=parent_fd)
    if stat.S_ISLNK(info.st_mode):
        raise FileNotFoundError(errno.ENOENT, "symlink refused", name)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
    return os.open(name, _OPEN_DIR, dir_fd=parent_fd)


class _FileTarget:
    """What `GET /internal/file/read` found at a path: an open regular file, or a directory."""

    def __init__(self, fd: int | None, size: int, is_dir: bool) -> None:
        self.fd, self.size, self.is_dir = fd, size, is_dir


def _open_for_read(root: Path, segments: list[str]) -> _FileTarget:
    """Walk `segments` from `root` with lstat + O_NOFOLLOW at every level. FileNotFoundError for a
    missing component, a symlink anywhere, or a non-directory parent; PathRejected for anything
    that is neither a directory nor a regular file."""
    try:
        current = os.open(root, _OPEN_DIR)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise FileNotFoundError(errno.ENOENT, "files root missing") from exc
    try:
        for name in segments[:-1]:
            try:
                child = _open_dir_at(current, name)
            except NotADirectoryError as exc:
                raise FileNotFoundError(errno.ENOENT, "parent is not a directory", name) from exc
            os.close(current)
            current = child
        name = segments[-1]
        info = os.lstat(name, dir_fd=current)
        if stat.S_ISLNK(info.st_mode):
            raise FileNotFoundError(errno.ENOENT, "symlink refused", name)
        if stat.S_ISDIR(info.st_mode):
            return _FileTarget(None, 0, is_dir=True)
        if not stat.S_ISREG(info.st_mode):
            raise PathRejected("not a regular file")
        try:
            # O_NONBLOCK: should a FIFO be swapped in after the lstat, opening it must not hang.
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=current)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FileNotFoundError(errno.ENOENT, "symlink refused", name) from exc
            raise
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "file changed while opening", name)
        return _FileTarget(fd, opened.st_size, is_dir=False)
    finally:
        os.close(current)


def _read_chunks(file: BinaryIO, size: int) -> Iterator[bytes]:
    # Never more than the Content-Length announced, even if the file grows meanwhile.
    with file:
        remaining = size
        while remaining > 0:
            chunk = file.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


# --- storing uploads (names: molecule_core.files.models.sanitize_filename) -----------------------


def _candidate_names(name: str) -> Iterator[str]:
    yield name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    for number in range(1, _MAX_COLLISION_SUFFIX):
        yield f"{stem}-{number}{suffix}"


def _open_uploads_dir(root: Path) -> int:
    """The chat-uploads dir under `root`, created 0700 where missing, never through a symlink."""
    root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    current = os.open(root, _OPEN_DIR)
    try:
        for name in CHAT_UPLOADS_DIR.strip("/").split("/"):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, _DIR_MODE, dir_fd=current)
            child = _open_dir_at(current, name)
            os.close(current)
            current = child
    except BaseException:
        os.close(current)
        raise
    return current


def _store(dir_fd: int, name: str, source: BinaryIO, limit: int) -> tuple[str, int]:
    """Copy `source` in chunks to a new file in `dir_fd`, under `name` or the first free suffixed
    variant (O_EXCL: never overwrite, never follow a planted symlink). Returns (stored name, size)."""
    for candidate in _candidate_names(name):
        try:
            fd = os.open(
                candidate,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                _FILE_MODE,
                dir_fd=dir_fd,
            )
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, "no free name", name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as target:
            source.seek(0)
            while chunk := source.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise ValueError("upload grew past the limit")
                target.write(chunk)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(candidate, dir_fd=dir_fd)
        raise
    return candidate, size


def _store_all(root: Path, uploads: list[tuple[str, UploadFile]], limit: int) -> list[tuple[str, int]]:
    dir_fd = _open_uploads_dir(root)
    stored: list[tuple[str, int]] = []
    try:
        for name, upload in uploads:
            stored.append(_store(dir_fd, name, upload.file, limit))
    except BaseException:
        for stored_name, _ in stored:  # all or nothing
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stored_name, dir_fd=dir_fd)
        raise
    finally:
        os.close(dir_fd)
    return stored


def store_received_file(root: Path, raw_name: str | None, source: BinaryIO, limit: int) -> tuple[str, int]:
    """Keep a file the agent fetched from the platform where uploads go, by the same rules (a
    sanitised name, never overwriting, never through a symlink): (agent-side path, size)."""
    dir_fd = _open_uploads_dir(root)
    try:
        stored_name, size = _store(dir_fd, sanitize_filename(raw_name), source, limit)
    finally:
        os.close(dir_fd)
    return f"{CHAT_UPLOADS_DIR}/{stored_name}", size


def _upload_size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    upload.file.seek(0, os.SEEK_END)
    return upload.file.tell()


# --- routes ----------------------------------------------------------------------------------------


def routes(settings: FileSettings, default_root: Path, authorised: Callable[[Request], bool]) -> list[Route]:
    """The two endpoints. `authorised` decides the bearer (read per request, so a missing secret
    file fails closed and a rotated one applies at once)."""
    root = settings.root or default_root
    limit = settings.max_upload_bytes

    async def ingest(request: Request) -> Response:
        if not authorised(request):  # before the body is read: strangers cannot make us spool
            return _unauthorised()
        try:
            form = await request.form(max_files=MAX_FILES_PER_UPLOAD, max_fields=MAX_FILES_PER_UPLOAD)
        except MultiPartException as exc:
            return _error(f"invalid multipart body: {exc.message}", 400)
        except HTTPException as exc:  # Starlette's wrapping of MultiPartException inside an app
            return _error(f"invalid multipart body: {exc.detail}", 400)
        try:
            uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
            if not uploads:
                return _error("no files", 400)
            named = [(sanitize_filename(upload.filename), upload) for upload in uploads]
            for name, upload in named:  # every size first: a refused request stores nothing
                if _upload_size(upload) > limit:
                    return _error("file too large", 413, file=name)
            try:
                stored = await anyio.to_thread.run_sync(_store_all, root, named, limit)
            except OSError:  # e.g. the uploads dir is a symlink, or the disk is full: nothing kept
                return _error("could not store the upload", 500)
        finally:
            await form.close()
        return JSONResponse(
            {
                "files": [
                    {
                        "uri": f"{CHAT_UPLOADS_DIR}/{stored_name}",
                        "name": stored_name,
                        "mimeType": upload_mime_type(stored_name, upload.content_type),
                        "size": size,
                    }
                    for (stored_name, size), (_, upload) in zip(stored, named, strict=True)
                ]
            }
        )

    async def read(request: Request) -> Response:
        if not authorised(request):
            return _unauthorised()
        path = request.query_params.get("path", "")
        try:
            segments = validate_path(path)
            target = await anyio.to_thread.run_sync(_open_for_read, root, segments)
        except PathRejected as exc:
            return _error(f"invalid path: {exc}", 400)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return _error("not found", 404)
        if target.is_dir or target.fd is None:
            return _error("invalid path: is a directory", 400)
        name = segments[-1]
        file = os.fdopen(target.fd, "rb")
        return StreamingResponse(
            _read_chunks(file, target.size),
            media_type=guess_mime_type(name),
            headers={"Content-Length": str(target.size), "Content-Disposition": content_disposition(name)},
            background=BackgroundTask(file.close),
        )

    return [
        Route("/internal/chat/uploads/ingest", ingest, methods=["POST"]),
        Route("/internal/file/read", read, methods=["GET"]),
    ]
