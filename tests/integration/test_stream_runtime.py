"""The Lambda runtime client that answers a function URL in response-streaming mode
(molecule_core/platform/stream_runtime.py), against a stand-in for the Lambda Runtime API on
127.0.0.1: the protocol it posts (streaming mode, chunked, the HTTP integration prelude), the body
sent while it is still being produced, buffered answers for API Gateway events, and failures."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from molecule_core.platform import deferred
from molecule_core.platform.http import StreamedResponse
from molecule_core.platform.stream_runtime import PRELUDE_DELIMITER, RuntimeApi, is_function_url_event, serve_one

from tests.conftest import eventually

REPO = Path(__file__).resolve().parents[2]

URL_EVENT = {"version": "2.0", "rawPath": "/x", "requestContext": {"domainName": "abc.lambda-url.eu-west-1.on.aws"}}
API_EVENT = {"version": "2.0", "rawPath": "/x", "requestContext": {"domainName": "api.example.com", "apiId": "a1"}}


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class FakeRuntimeApi:
    event: Any
    posted: list[Posted] = field(default_factory=list)
    second_chunk: threading.Event = field(default_factory=threading.Event)
    served: int = 0  # events handed out; a runtime asking for a second one waits (as Lambda freezes it)


@pytest.fixture
def runtime_api() -> Iterator[tuple[FakeRuntimeApi, RuntimeApi]]:
    fake = FakeRuntimeApi(event=None)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            fake.served += 1
            if fake.served > 1:
                threading.Event().wait(30)  # no next event; the test ends the runtime
                return
            body = json.dumps(fake.event).encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", "99999999999999")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            posted = Posted(self.path, {k.lower(): v for k, v in self.headers.items()})
            fake.posted.append(posted)
            if posted.headers.get("transfer-encoding") == "chunked":
                while size := int(self.rfile.readline().strip(), 16):
                    posted.chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                    if len(posted.chunks) == 2:
                        fake.second_chunk.set()
                while line := self.rfile.readline().decode().strip():
                    name, _, value = line.partition(":")
                    posted.trailers[name.strip()] = value.strip()
            else:
                posted.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fake, RuntimeApi(f"127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def _never(event: Any, context: Any) -> Any:
    raise AssertionError("wrong handler")


def test_a_function_url_event_is_answered_in_streaming_mode_as_it_is_produced(
    runtime_api: tuple[FakeRuntimeApi, RuntimeApi],
) -> None:
    fake, api = runtime_api
    fake.event = URL_EVENT
    waited: list[bool] = []

    def body() -> Iterator[bytes]:
        yield b"data: 1\n\n"
        # the Runtime API has the first event before the second exists
        waited.append(fake.second_chunk.wait(5))
        yield b"data: 2\n\n"

    def stream_handler(event: Any, context: Any) -> StreamedResponse:
        assert context.aws_request_id == "req-1" and context.get_remaining_time_in_millis() > 0
        return StreamedResponse(200, {"content-type": "text/event-stream"}, body())

    serve_one(api, _never, stream_handler)

    (posted,) = fake.posted
    assert posted.path == "/2018-06-01/runtime/invocation/req-1/response"
    assert posted.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert posted.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    prelude, _, first = posted.chunks[0].partition(PRELUDE_DELIMITER)
    assert json.loads(prelude) == {"statusCode": 200, "headers": {"content-type": "text/event-stream"}, "cookies": []}
    assert first == b""
    assert posted.chunks[1:] == [b"data: 1\n\n", b"data: 2\n\n"]
    assert waited == [True]
    assert posted.trailers == {}


def test_an_api_gateway_event_is_answered_whole_by_the_buffered_handler(
    runtime_api: tuple[FakeRuntimeApi, RuntimeApi],
) -> None:
    fake, api = runtime_api
    fake.event = API_EVENT

    serve_one(api, lambda event, context: {"statusCode": 200, "body": "ok"}, _never)

    (posted,) = fake.posted
    assert posted.path == "/2018-06-01/runtime/invocation/req-1/response"
    assert json.loads(posted.body) == {"statusCode": 200, "body": "ok"}


def test_a_handler_failing_before_its_answer_is_an_invocation_error(
    runtime_api: tuple[FakeRuntimeApi, RuntimeApi],
) -> None:
    fake, api = runtime_api
    fake.event = URL_EVENT

    def broken(event: Any, context: Any) -> StreamedResponse:
        raise ValueError("no answer")

    serve_one(api, _never, broken)

    (posted,) = fake.posted
    assert posted.path == "/2018-06-01/runtime/invocation/req-1/error"
    assert json.loads(posted.body)["errorMessage"] == "no answer"


def test_a_stream_failing_midway_ends_with_the_error_trailers(runtime_api: tuple[FakeRuntimeApi, RuntimeApi]) -> None:
    fake, api = runtime_api
    fake.event = URL_EVENT

    def body() -> Iterator[bytes]:
        yield b"data: 1\n\n"
        raise RuntimeError("cut")

    serve_one(api, _never, lambda event, context: StreamedResponse(200, {}, body()))

    (posted,) = fake.posted
    assert posted.chunks[1:] == [b"data: 1\n\n"]
    assert posted.trailers["Lambda-Runtime-Function-Error-Type"] == "Runtime.RuntimeError"
    assert json.loads(bytes.fromhex(posted.trailers["Lambda-Runtime-Function-Error-Body"]))["errorMessage"] == "cut"


@pytest.mark.parametrize("event", [URL_EVENT, API_EVENT], ids=["function URL", "API Gateway"])
def test_work_the_answer_need_not_wait_for_runs_after_it_is_posted(
    runtime_api: tuple[FakeRuntimeApi, RuntimeApi], event: dict[str, Any]
) -> None:
    fake, api = runtime_api
    fake.event = event
    posted_before_the_work: list[int] = []

    def record() -> None:
        posted_before_the_work.append(len(fake.posted))

    def answer(event: Any, context: Any) -> Any:
        deferred.defer(record)
        if is_function_url_event(event):
            return StreamedResponse(200, {}, iter([b"ok"]), whole=True)
        return {"statusCode": 200, "body": "ok"}

    serve_one(api, answer, answer)

    assert posted_before_the_work == [1]
    assert fake.posted[0].path.endswith("/response")


def test_work_deferred_by_a_failed_invocation_runs_after_the_error_is_posted(
    runtime_api: tuple[FakeRuntimeApi, RuntimeApi],
) -> None:
    fake, api = runtime_api
    fake.event = API_EVENT
    posted_before_the_work: list[str] = []

    def broken(event: Any, context: Any) -> Any:
        deferred.defer(lambda: posted_before_the_work.extend(p.path for p in fake.posted))
        raise ValueError("no answer")

    serve_one(api, broken, _never)

    assert posted_before_the_work == ["/2018-06-01/runtime/invocation/req-1/error"]


def test_function_url_events_are_told_from_api_gateway_ones() -> None:
    assert is_function_url_event(URL_EVENT) and not is_function_url_event(API_EVENT)
    assert not is_function_url_event({"requestContext": None}) and not is_function_url_event([])


def test_the_functions_exec_wrapper_runs_the_proxy_function_under_this_runtime(
    runtime_api: tuple[FakeRuntimeApi, RuntimeApi],
) -> None:
    """functions/a2a_proxy/stream_runtime.sh as Lambda starts it: the real app.py, a function-URL
    event, the answer posted in streaming mode."""
    fake, api = runtime_api
    fake.event = {**URL_EVENT, "rawPath": "/workspaces/not-a-uuid/.well-known/agent-card.json",
                  "routeKey": "$default", "headers": {}, "isBase64Encoded": False,
                  "requestContext": {**URL_EVENT["requestContext"], "http": {"method": "GET", "path": "/x"},
                                     "requestId": "r", "stage": "$default"}}  # fmt: skip
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": api.host,
        "LAMBDA_TASK_ROOT": str(REPO / "functions/a2a_proxy"),
        "_HANDLER": "app.lambda_handler",
        "MOLECULE_ENV": "test",
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
    }
    process = subprocess.Popen(
        [str(REPO / "functions/a2a_proxy/stream_runtime.sh")], env=environment, stderr=subprocess.PIPE
    )
    try:
        assert eventually(lambda: bool(fake.posted) or process.poll() is not None, timeout=30)
    finally:
        process.kill()
        _, stderr = process.communicate()
    assert fake.posted, stderr.decode()[-2000:]
    (posted,) = fake.posted
    assert posted.headers["lambda-runtime-function-response-mode"] == "streaming"
    prelude, _, _ = posted.chunks[0].partition(PRELUDE_DELIMITER)
    assert json.loads(prelude)["statusCode"] == 404  # the route answered: a malformed id names nothing
    assert json.loads(b"".join(posted.chunks[1:])) == {"error": "workspace not found"}
