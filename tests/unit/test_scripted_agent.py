"""The tests' scripted agent (tests/agents.py) reports its own failures, not a caller that left."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from tests.agents import AgentServer


def test_a_caller_gone_before_the_answer_is_not_reported_but_a_failure_is(capsys: pytest.CaptureFixture[str]) -> None:
    server = AgentServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"), ValueError("a bug")):
            try:
                raise error
            except Exception:
                server.handle_error(None, ("127.0.0.1", 1))
    finally:
        server.server_close()
    reported = capsys.readouterr().err
    assert "ValueError: a bug" in reported
    assert "BrokenPipeError" not in reported and "ConnectionResetError" not in reported
