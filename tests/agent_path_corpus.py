"""Paths for the reference agent's GET /internal/file/read?path=: hostile ones it must refuse with
400 before touching the disk (each with words its refusal names), and legitimate ones it must accept
(they name regular files the tests create under the agent's files root). Shared by the unit tests of
validate_path, the endpoint tests and the uvicorn integration test."""

from __future__ import annotations

HOSTILE: list[tuple[str, str]] = [
    # not absolute
    ("", "required"),
    ("workspace/notes.txt", "absolute"),
    ("./workspace/notes.txt", "absolute"),
    ("../workspace/notes.txt", "absolute"),
    ("~/notes.txt", "absolute"),
    ("file:///etc/passwd", "absolute"),
    ("\\workspace\\notes.txt", "absolute"),
    # outside the four roots
    ("/", "under one of"),
    ("/etc/passwd", "under one of"),
    ("/proc/self/environ", "under one of"),
    ("/root/.ssh/id_rsa", "under one of"),
    ("/configsX", "under one of"),
    ("/configsX/secret", "under one of"),
    ("/workspaces/notes.txt", "under one of"),
    ("/home-evil/x", "under one of"),
    ("/plugins.bak/x", "under one of"),
    ("/.platform_inbound_secret", "under one of"),
    # traversal, in several positions
    ("/workspace/..", "canonical"),
    ("/workspace/../etc/passwd", "canonical"),
    ("/configs/../../etc/shadow", "canonical"),
    ("/home/user/../../root/.ssh/id_rsa", "canonical"),
    ("/workspace/a/b/../../../etc/passwd", "canonical"),
    ("/plugins/x/..", "canonical"),
    ("/workspace/./notes.txt", "canonical"),
    ("/workspace/.", "canonical"),
    ("/workspace/", "canonical"),
    # double slash
    ("//workspace/notes.txt", "double slash"),
    ("/workspace//etc/passwd", "double slash"),
    ("/workspace/a//b", "double slash"),
    # NUL, control characters, backslash
    ("/workspace/notes.txt\x00.png", "NUL"),
    ("/workspace/\x00", "NUL"),
    ("/workspace/notes\n.txt", "control character"),
    ("/workspace/notes\r\nX-Injected: 1", "control character"),
    ("/workspace/\x1b[31m", "control character"),
    ("/workspace\\..\\etc\\passwd", "backslash"),
    ("/workspace/..\\..\\etc\\passwd", "backslash"),
    # encoded forms that a lower layer might decode (the agent never decodes twice)
    ("/workspace/%2e%2e/etc/passwd", "percent-encoded"),
    ("/workspace/%2E%2E%2Fetc%2Fpasswd", "percent-encoded"),
    ("/workspace/..%2fetc", "percent-encoded"),
    ("/workspace/x%00.png", "percent-encoded"),
    ("/workspace/%5c..%5cetc", "percent-encoded"),
    # too long
    ("/workspace/" + "a" * 4100, "too long"),
    ("/workspace/" + "a" * 256, "too long"),
]

# Raw query strings (as sent on the wire) that decode — once, by the server — to a hostile path.
HOSTILE_RAW_QUERIES: list[str] = [
    "path=%2Fworkspace%2F..%2Fetc%2Fpasswd",
    "path=/workspace/%2e%2e/etc/passwd",
    "path=/workspace/x%00.png",
    "path=%2F%2Fworkspace%2Fnotes.txt",
    "path=%5Cworkspace%5Cnotes.txt",
    "path=/workspace/%252e%252e/etc/passwd",  # double-encoded: decodes once to %2e%2e, still refused
    "path=",
    "",
]

LEGITIMATE: list[str] = [
    "/workspace/notes.txt",
    "/workspace/.molecule/chat-uploads/screenshot.png",
    "/configs/config.yaml",
    "/home/agent/report final (v2).pdf",
    "/plugins/tool/README.md",
    "/workspace/..hidden",  # a name that starts with dots is not a traversal
    "/workspace/a...b",
    "/workspace/résumé – 2026.docx",
    "/workspace/100% done.txt",
    "/workspace/" + "a" * 255,
]
