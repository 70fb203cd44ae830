"""Lambda in miniature: load a function's handler from its CodeUri the way the runtime does (the
module by file path, once per "execution environment" = this process) and give it a context."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from molecule_local.template import FunctionSpec, Template, default_template

Handler = Callable[[dict[str, Any], Any], Any]


class LocalContext:
    """The attributes of a Lambda context object that Powertools and our handlers read."""

    def __init__(self, function_name: str, timeout_seconds: int = 30, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def module_name_for(spec: FunctionSpec) -> str:
    return f"molecule_fn_{spec.logical_id}"


def load_handler(spec: FunctionSpec, handler_name: str | None = None) -> Handler:
    """The function's handler (or another entry point of its module, such as the streaming one)."""
    name = module_name_for(spec)
    module = sys.modules.get(name)
    if module is None:
        file_spec = importlib.util.spec_from_file_location(name, spec.module_path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load {spec.module_path}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[name] = module
        try:
            file_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    handler: Handler = getattr(module, handler_name or spec.handler_name)
    return handler


class FunctionRegistry:
    def __init__(self, template: Template | None = None) -> None:
        self.template = template or default_template()
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def spec(self, logical_id: str) -> FunctionSpec:
        return self.template.functions[logical_id]

    def handler(self, logical_id: str) -> Handler:
        with self._lock:
            if logical_id not in self._handlers:
                self._handlers[logical_id] = load_handler(self.spec(logical_id))
            return self._handlers[logical_id]

    def stream_handler(self, logical_id: str) -> Handler:
        """The entry point AWS's streaming runtime calls for function-URL requests
        (molecule_core/platform/stream_runtime.py): it answers a StreamedResponse."""
        from molecule_core.platform.stream_runtime import STREAM_HANDLER_NAME

        key = f"{logical_id}#stream"
        with self._lock:
            if key not in self._handlers:
                self._handlers[key] = load_handler(self.spec(logical_id), STREAM_HANDLER_NAME)
            return self._handlers[key]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        spec = self.spec(logical_id)
        return self.handler(logical_id)(event, LocalContext(logical_id, spec.timeout))
