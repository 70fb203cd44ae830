"""A Lambda runtime client for a function that answers its function URL in response-streaming mode
(README "Deploying": the A2A proxy relays SSE as the agent sends it).

AWS's managed Python runtime posts a handler's result whole; only a runtime that speaks the Runtime
API's streaming mode can send a body as it is produced. So the function's `AWS_LAMBDA_EXEC_WRAPPER`
(functions/a2a_proxy/stream_runtime.sh) starts this loop in place of the managed runtime client, on
the managed runtime's own Python. Per invocation:

- a function URL event (its `requestContext.domainName` is `….lambda-url.<region>.on.aws`) goes to
  the module's `lambda_stream_handler(event, context)`, whose `StreamedResponse` is posted with
  `Lambda-Runtime-Function-Response-Mode: streaming` in chunked encoding, as the HTTP integration
  response the function URL expects: a JSON prelude (status code, headers, cookies), eight NUL
  bytes, then the body chunk by chunk as it comes;
- any other event (API Gateway) goes to `lambda_handler(event, context)` and is posted whole, as
  the managed runtime would.

A failure before anything was sent is reported on the invocation's error endpoint; a failure in the
middle of a stream ends it with the error trailers the Runtime API defines.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

API_VERSION = "2018-06-01"
STREAM_HANDLER_NAME = "lambda_stream_handler"
HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\x00" * 8
ERROR_TYPE_TRAILER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"


class Context:
    """The Lambda context attributes Powertools and the handlers read."""

    def __init__(self, headers: http.client.HTTPMessage) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0)
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def is_function_url_event(event: Any) -> bool:
    context = event.get("requestContext") if isinstance(event, dict) else None
    domain = context.get("domainName") if isinstance(context, dict) else None
    return isinstance(domain, str) and ".lambda-url." in domain


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__),
    }


class RuntimeApi:
    """The Runtime API at `host` (AWS_LAMBDA_RUNTIME_API): one connection, reused."""

    def __init__(self, host: str) -> None:
        self.host = host

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, timeout=None)  # `next` waits for the next event

    def next_invocation(self) -> tuple[http.client.HTTPMessage, Any]:
        connection = self._connection()
        connection.request("GET", f"/{API_VERSION}/runtime/invocation/next")
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.headers, json.loads(body)

    def post_result(self, request_id: str, result: Any) -> None:
        self._post(f"/{API_VERSION}/runtime/invocation/{request_id}/response", json.dumps(result).encode())

    def post_error(self, request_id: str, exc: BaseException) -> None:
        self._post(
            f"/{API_VERSION}/runtime/invocation/{request_id}/error",
            json.dumps(_error_payload(exc)).encode(),
            {ERROR_TYPE_TRAILER: f"Runtime.{type(exc).__name__}"},
        )

    def post_init_error(self, exc: BaseException) -> None:
        self._post(
            f"/{API_VERSION}/runtime/init/error",
            json.dumps(_error_payload(exc)).encode(),
            {ERROR_TYPE_TRAILER: f"Runtime.{type(exc).__name__}"},
        )

    def _post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        connection = self._connection()
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        connection.getresponse().read()
        connection.close()

    def stream_result(self, request_id: str, status_code: int, headers: dict[str, str], body: Iterator[bytes]) -> None:
        """Post an HTTP integration response in streaming mode: the prelude, then `body` chunk by
        chunk as it is produced; a failure in `body` ends the stream with the error trailers."""
        connection = self._connection()
        connection.putrequest("POST", f"/{API_VERSION}/runtime/invocation/{request_id}/response")
        connection.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Content-Type", HTTP_INTEGRATION_CONTENT_TYPE)
        connection.putheader("Trailer", f"{ERROR_TYPE_TRAILER}, {ERROR_BODY_TRAILER}")
        connection.endheaders()
        prelude = json.dumps({"statusCode": status_code, "headers": headers, "cookies": []}).encode()
        trailers = b""
        try:
            _send_chunk(connection, prelude + PRELUDE_DELIMITER)
            for chunk in body:
                if chunk:
                    _send_chunk(connection, chunk)
        except Exception as exc:
            error_type = f"Runtime.{type(exc).__name__}"
            error_body = json.dumps(_error_payload(exc)).encode().hex()  # a trailer value is one line
            trailers = f"{ERROR_TYPE_TRAILER}: {error_type}\r\n{ERROR_BODY_TRAILER}: {error_body}\r\n".encode()
        finally:
            close = getattr(body, "close", None)
            if callable(close):
                close()
        connection.send(b"0\r\n" + trailers + b"\r\n")
        connection.getresponse().read()
        connection.close()


def _send_chunk(connection: http.client.HTTPConnection, data: bytes) -> None:
    connection.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def load_handlers(handler: str) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    """`_HANDLER` (module.function) → the buffered handler and the module's streaming handler."""
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, function_name), getattr(module, STREAM_HANDLER_NAME, None)


def serve_one(api: RuntimeApi, handler: Callable[..., Any], stream_handler: Callable[..., Any] | None) -> None:
    headers, event = api.next_invocation()
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    trace_id = headers.get("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    context = Context(headers)
    # Imported here: the loop itself needs only the standard library until a handler is loaded.
    from molecule_core.platform import deferred

    with deferred.after_answer():  # what the answer need not wait for runs once it is posted
        try:
            if stream_handler is not None and is_function_url_event(event):
                streamed = stream_handler(event, context)
            else:
                api.post_result(request_id, handler(event, context))
                return
        except Exception as exc:
            api.post_error(request_id, exc)
            return
        api.stream_result(request_id, streamed.status_code, streamed.headers, streamed.body)


def main() -> None:  # pragma: no cover - the process Lambda runs; serve_one is what tests drive
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
    try:
        handler, stream_handler = load_handlers(os.environ.get("_HANDLER", "app.lambda_handler"))
    except Exception as exc:
        api.post_init_error(exc)
        raise
    while True:
        serve_one(api, handler, stream_handler)


if __name__ == "__main__":  # pragma: no cover
    main()
