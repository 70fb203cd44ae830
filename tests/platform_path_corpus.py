"""Paths for GET /workspaces/{id}/chat/download?path=: hostile ones the platform must refuse before
anything reaches the agent (each with the words its refusal names), and legitimate ones it must
let through. Shared by the unit tests of check_chat_path and the download integration tests."""

from __future__ import annotations

HOSTILE: list[tuple[str, str]] = [
    ("", "required"),
    ("workspace/notes.txt", "absolute"),
    ("./workspace/notes.txt", "absolute"),
    ("~/notes.txt", "absolute"),
    ("/etc/passwd", "under one of"),
    ("/", "under one of"),
    ("/root/.ssh/id_rsa", "under one of"),
    ("/proc/self/environ", "under one of"),
    ("/workspaces/notes.txt", "under one of"),  # a root's name as a prefix is not the root
    ("/configsX/secret", "under one of"),
    ("/home-evil/x", "under one of"),
    ("/plugins.bak/x", "under one of"),
    ("/workspace/../etc/passwd", "'..'"),
    ("/workspace/..", "'..'"),
    ("/configs/../../etc/shadow", "'..'"),
    ("/home/user/../../root", "'..'"),
    ("/workspace/./notes.txt", "'.'"),
    ("/workspace//etc/passwd", "double slash"),
    ("//workspace/notes.txt", "double slash"),
    ("/workspace/notes.txt\x00.png", "NUL"),
    ("/workspace/\x00", "NUL"),
    ("/workspace\\..\\etc\\passwd", "backslash"),
    ("\\workspace\\notes.txt", "backslash"),
    ("/workspace/notes\n.txt", "control characters"),
    ("/workspace/notes\r\nX-Injected: 1", "control characters"),
    ("/workspace/\x1b[31m", "control characters"),
    ("/workspace/%2e%2e/etc/passwd", "percent-encoded"),
    ("/workspace/%2E%2E%2Fetc%2Fpasswd", "percent-encoded"),
    ("/workspace/..%2fetc", "percent-encoded"),
    ("/workspace/x%00.png", "percent-encoded"),
    ("/workspace/" + "a" * 4100, "too long"),
    ("C:\\Windows\\system.ini", "backslash"),
    ("file:///etc/passwd", "absolute"),
]

LEGITIMATE: list[str] = [
    "/workspace",
    "/configs",
    "/home",
    "/plugins",
    "/workspace/",
    "/workspace/notes.txt",
    "/workspace/.chat_uploads/3f2a-screenshot.png",
    "/configs/config.yaml",
    "/home/agent/report final (v2).pdf",
    "/plugins/tool/README.md",
    "/workspace/..hidden",  # a name that starts with dots is not a traversal
    "/workspace/a...b",
    "/workspace/résumé – 2026.docx",
    "/workspace/100% done.txt",
    "/workspace/" + "a" * 4000,
]
