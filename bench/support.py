"""Small helpers the benchmarks share: percentiles, free ports, a plain connection for set-up SQL, and
a measuring client run in its own process."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def p50(values: Sequence[float]) -> float:
    return percentile(values, 50)


def p99(values: Sequence[float]) -> float:
    return percentile(values, 99)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed_ms(work: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    start = time.perf_counter()
    result = work()
    return (time.perf_counter() - start) * 1000, result


@contextmanager
def admin_connection(url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for set-up and bookkeeping SQL, outside the platform's counted
    connection (nothing it sends shows up in a request's figures)."""
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def thousands(n: int) -> str:
    """1 000 000, the way the benchmarks print counts."""
    return f"{n:,}".replace(",", " ")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run_client(code: str, *args: str, timeout: float) -> Any:
    """Run `code` (`python -c`) in its own process, as a real caller is, and parse the JSON it prints;
    a client that fails is a RuntimeError carrying the end of its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark client failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)
