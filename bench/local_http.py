"""The local stack's HTTP layer (issue 19, target 4): `GET /health` over HTTP, as `make run`
serves it, against the original Go server's 0.27 ms on this kind of machine.

The server is `molecule_local.stack.HttpService` — the socket loop `make run` listens with — in
this process, in front of the real gateway and the Health function (no database: a shallow check
touches none). Beside it, the same server loop in front of a stub gateway that answers a constant
body without building an event or invoking a function: the floor of the loop itself. A client in
its own process (as a real one is) sends `GET /health` on one kept-alive connection, alternating
between the two servers, and reads each answer whole (status line, headers, Content-Length
bytes); it parses no more than it must, so what it measures is the server.

Target: p50 ≤ 1.5 × 0.27 ms (the original's figure, measured side by side with this platform on a
2-core machine in the issue's run; there is no Go toolchain here to measure it again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from molecule_local.gateway import Gateway, HttpResult
from molecule_local.lambdas import FunctionRegistry
from molecule_local.stack import HttpService, route_table

from bench import print_table
from bench.statements import platform_env
from bench.support import p50, p99, run_client, verdict

ORIGINAL_P50_MS = 0.27
TARGET_P50_MS = 1.5 * ORIGINAL_P50_MS
WARMUP = 500
CALLS = 5000


class StubGateway:
    """Answers every request with a constant body: the server loop with nothing behind it."""

    def handle(self, method: str, target: str, headers: Any = None, body: Any = None, *, stream: bool = False) -> Any:
        return HttpResult(200, {"content-type": "application/json"}, b'{"status":"ok"}')


# The client, run as `python -c CLIENT port port warmup calls`: alternates GET /health between the
# two ports on one kept-alive connection each; prints each side's milliseconds as JSON.
CLIENT = r"""
import json, socket, sys, time
ports, warmup, calls = [int(p) for p in sys.argv[1:3]], int(sys.argv[3]), int(sys.argv[4])
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"

class Connection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def get(self):
        self.sock.sendall(REQUEST)
        while b"\r\n\r\n" not in self.pending:
            self.pending += self.sock.recv(65536)
        head, _, rest = self.pending.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.pending = rest[length:]
        return int(head.split(b" ", 2)[1]), rest[:length]

connections = [Connection(port) for port in ports]
samples = [[], []]
answers = [set(), set()]
for index in range(warmup + calls):
    order = (0, 1) if index % 2 else (1, 0)
    for side in order:
        start = time.perf_counter()
        status, body = connections[side].get()
        elapsed = (time.perf_counter() - start) * 1000
        answers[side].add((status, body.decode()))
        if index >= warmup:
            samples[side].append(elapsed)
print(json.dumps({"samples": samples, "answers": [sorted(a) for a in answers]}))
"""


@dataclass(frozen=True)
class Figures:
    stub: list[float]
    health: list[float]
    answers: list[list[list[Any]]]


def measure(warmup: int = WARMUP, calls: int = CALLS) -> Figures:
    functions = FunctionRegistry()
    real = HttpService(Gateway(route_table(functions.template), functions), "127.0.0.1", 0)
    stub = HttpService(StubGateway(), "127.0.0.1", 0)  # type: ignore[arg-type]
    for service in (real, stub):
        service.start()
    try:
        ports = [str(service.server.server_address[1]) for service in (stub, real)]
        result = run_client(CLIENT, *ports, str(warmup), str(calls), timeout=600)
    finally:
        for service in (real, stub):
            service.stop()
    return Figures(result["samples"][0], result["samples"][1], result["answers"])


def main(warmup: int = WARMUP, calls: int = CALLS) -> int:
    print("Local HTTP layer (issue 19): GET /health over HTTP, one kept-alive connection, client in its own process")
    print(f"({calls} calls to each server after {warmup} warm-ups, alternating)\n")
    with platform_env(MOLECULE_ENV="development"):
        started = time.perf_counter()
        figures = measure(warmup, calls)
    print_table(
        ["server", "p50 ms", "p99 ms"],
        [
            ["the HTTP loop, stub gateway (a constant answer)", f"{p50(figures.stub):.3f}", f"{p99(figures.stub):.3f}"],
            [
                "GET /health: HTTP loop, gateway, Health function",
                f"{p50(figures.health):.3f}",
                f"{p99(figures.health):.3f}",
            ],
        ],
        right=(1, 2),
    )
    health = p50(figures.health)
    print(
        f"GET /health p50 {health:.3f} ms — target ≤ {TARGET_P50_MS:.3f} ms "
        f"(1.5 × the original's {ORIGINAL_P50_MS} ms) "
        f"— {verdict(health <= TARGET_P50_MS)}  ({time.perf_counter() - started:.0f} s)"
    )
    problems = [
        f"the {name} server answered {answers}, not only 200 {{'status': 'ok'}}"
        for name, answers in zip(("stub", "health"), figures.answers, strict=True)
        if answers != [[200, '{"status":"ok"}']]
    ]
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    return 1 if problems else 0
