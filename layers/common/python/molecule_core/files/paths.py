"""Which paths the platform may ask an agent for (SPEC §5.7): checked here as well as on the agent —
defence in depth, not trust in the agent. Pure."""

from __future__ import annotations

from molecule_core.platform.errors import InvalidInput

ALLOWED_ROOTS = ("/configs", "/workspace", "/home", "/plugins")
MAX_PATH_LENGTH = 4096
# Percent-encoded dots and separators: harmless after one decoding, traversal after two.
_ENCODED_SEPARATORS = ("%2e", "%2f", "%5c", "%00")


def check_chat_path(path: str | None) -> str:
    """The path unchanged when the agent may be asked for it; InvalidInput naming the reason
    otherwise. Absolute, under one of ALLOWED_ROOTS (the root itself or below it), no `.`/`..`
    segment, no `//`, no backslash, NUL, control character or percent-encoded separator."""
    if not path:
        raise InvalidInput("path is required", field="path")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidInput(f"path is too long (at most {MAX_PATH_LENGTH} characters)", field="path")
    if "\x00" in path:
        raise InvalidInput("path must not contain NUL", field="path")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise InvalidInput("path must not contain control characters", field="path")
    if "\\" in path:
        raise InvalidInput("path must not contain a backslash", field="path")
    if not path.startswith("/"):
        raise InvalidInput("path must be absolute", field="path")
    if "//" in path:
        raise InvalidInput("path must not contain a double slash", field="path")
    segments = path.split("/")
    if ".." in segments:
        raise InvalidInput("path must not contain '..'", field="path")
    if "." in segments:
        raise InvalidInput("path must not contain '.' segments", field="path")
    lowered = path.lower()
    if any(encoded in lowered for encoded in _ENCODED_SEPARATORS):
        raise InvalidInput("path must not contain percent-encoded dots or separators", field="path")
    if not any(path == root or path.startswith(root + "/") for root in ALLOWED_ROOTS):
        raise InvalidInput(f"path must be under one of {', '.join(ALLOWED_ROOTS)}", field="path")
    return path
