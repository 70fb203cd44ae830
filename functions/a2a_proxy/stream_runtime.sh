#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER of the A2A proxy function (README "Deploying"). The managed Python runtime
# cannot answer a function URL in response-streaming mode, so this starts molecule_core's runtime
# loop (molecule_core/platform/stream_runtime.py) in its place, on the runtime's own Python: SSE
# answers reach function-URL callers as they come; API Gateway invocations are answered as before.
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT:-/var/task}${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m molecule_core.platform.stream_runtime
